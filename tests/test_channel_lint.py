"""`incidentctl lint` checks every configured channel's settings through the channel's own settings
model: one line per problem, ``incidentctl.yaml:LINE: channels.<name>.<field>: message``, at the
channel's line, never the value of a secret-looking field and never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from testing import make_repo, modify_config, no_traceback

CASES = [
    ("webhook", {"page_idx": "x"}, "channels.webhook.page_idx: unknown field (check the spelling)"),
    ("webhook", {"documentation_url": ["not", "text"]}, "channels.webhook.documentation_url: "),
    ("email", {"to": ["oncall@example.com"]}, "channels.email.from: Field required"),
    ("email", {"from": "status@example.com", "to": ["not-an-address"]}, "channels.email.to: not an email address"),
    ("email", {"from": "status@example.com", "batch_size": 0}, "channels.email.batch_size: "),
    ("discord", {"threads": "sideways"}, "channels.discord.threads: 'sideways' is not one of"),
    ("teams", {"colour": "red"}, "channels.teams.colour: unknown field"),
    ("mastodon", {"visibility": "public"}, "channels.mastodon.instance: Field required"),
    ("mastodon", {"instance": "mastodon.example"}, "channels.mastodon.instance: must be the instance's URL"),
    ("mastodon", {"instance": "https://m.example", "visibility": "loud"}, "channels.mastodon.visibility: "),
    ("bluesky", {"service": "https://bsky.social"}, "channels.bluesky.handle: Field required"),
    ("bluesky", {"handle": "status.example.com", "service": "ftp://pds"}, "channels.bluesky.service: must be"),
]


def _line_of(root: Path, channel: str, field: str) -> int:
    """The field's own line when the config has one, else the channel's (a missing field)."""
    lines = (root / "incidentctl.yaml").read_text(encoding="utf-8").splitlines()
    start = next(number for number, line in enumerate(lines, 1) if line.strip().startswith(f"{channel}:"))
    indent = len(lines[start - 1]) - len(lines[start - 1].lstrip())
    for number in range(start + 1, len(lines) + 1):
        line = lines[number - 1]
        if len(line) - len(line.lstrip()) <= indent:
            break
        if line.strip().startswith(f"{field}:"):
            return number
    return start


@pytest.mark.parametrize(("channel", "settings", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_lint_names_the_channel_setting_and_line(
    tmp_path: Path, cli: Callable[..., Any], channel: str, settings: dict[str, Any], expected: str
) -> None:
    repo = make_repo(tmp_path / "status")
    modify_config(repo.root, lambda config: config["channels"].update({channel: settings}))
    result = cli("lint", repo=repo.root)
    assert result.exit_code == 1, result.output
    assert no_traceback(result)
    line = _line_of(repo.root, channel, expected.split(":")[0].split(".")[2])
    assert f"incidentctl.yaml:{line}: {expected}" in result.output, result.output


def test_valid_settings_of_every_new_channel_lint_clean(tmp_path: Path, cli: Callable[..., Any]) -> None:
    valid = {
        "webhook": {},
        "email": {"from": "Example Status <status@example.com>", "to": ["oncall@example.com"]},
        "discord": {"threads": "forum"},
        "teams": {},
        "mastodon": {"instance": "https://mastodon.example", "visibility": "unlisted"},
        "bluesky": {"handle": "status.example.com"},
    }
    repo = make_repo(tmp_path / "status")
    modify_config(repo.root, lambda config: config["channels"].update(valid))
    result = cli("lint", repo=repo.root)
    assert result.exit_code == 0, result.output


def test_an_email_address_in_a_bad_setting_is_never_echoed(tmp_path: Path, cli: Callable[..., Any]) -> None:
    repo = make_repo(tmp_path / "status")
    bad = {"from": "status@example.com", "to": ["oncall@example.com", "private person <vip@example.org"]}
    modify_config(repo.root, lambda config: config["channels"].update(email=bad))
    result = cli("lint", repo=repo.root)
    assert result.exit_code == 1 and "channels.email.to: " in result.output
    assert "vip@example.org" not in result.output

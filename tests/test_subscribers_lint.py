"""`lint` checks the subscriber files of configured webhook and email channels without printing
an address, a URL or a secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testing import invoke_cli, make_repo

SECRET_URL = "https://hooks.example.net/very-secret-path"
ADDRESS = "someone.private@example.org"


def _repo(tmp_path: Path) -> Path:
    def add(config: dict) -> None:  # type: ignore[type-arg]
        config["channels"].update(webhook={}, email={"from": "status@example.com"})

    return make_repo(tmp_path / "status", config=add).root


def test_valid_files_pass_and_bad_ones_are_named_without_their_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _repo(tmp_path)
    hooks = tmp_path / "hooks.json"
    mails = tmp_path / "mails.yaml"
    hooks.write_text(json.dumps([{"id": "acme", "url": SECRET_URL, "secret": "s3cret", "components": ["api"]}]))
    mails.write_text(f"- {{email: {ADDRESS}}}\n")
    monkeypatch.setenv("INCIDENTCTL_WEBHOOK_SUBSCRIBERS", str(hooks))
    monkeypatch.setenv("INCIDENTCTL_EMAIL_SUBSCRIBERS", str(mails))
    clean = invoke_cli("lint", "--json", repo=root)
    assert not [p for p in json.loads(clean.stdout)["problems"] if "SUBSCRIBERS" in p], clean.stdout

    hooks.write_text(
        json.dumps(
            [
                {"id": "acme", "url": SECRET_URL, "secret": "s3cret", "components": ["nope"]},
            ]
        )
    )
    mails.write_text(f"- {{email: {ADDRESS}, colour: blue}}\n")
    bad = invoke_cli("lint", repo=root)
    assert bad.exit_code == 1
    lines = [line for line in bad.stdout.splitlines() if "SUBSCRIBERS" in line]
    assert len(lines) == 2, bad.stdout
    assert all(line.startswith("incidentctl.yaml:") for line in lines)
    assert any("INCIDENTCTL_WEBHOOK_SUBSCRIBERS: acme: components: unknown component 'nope'" in line for line in lines)
    assert any("INCIDENTCTL_EMAIL_SUBSCRIBERS: item 1" in line for line in lines)
    for secret in (SECRET_URL, "s3cret", ADDRESS):
        assert secret not in bad.stdout and secret not in bad.stderr


def test_duplicate_subscriber_ids_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _repo(tmp_path)
    hooks = tmp_path / "hooks.yaml"
    hooks.write_text(
        f"- {{id: acme, url: '{SECRET_URL}', secret: a}}\n- {{id: acme, url: '{SECRET_URL}/2', secret: b}}\n"
    )
    monkeypatch.setenv("INCIDENTCTL_WEBHOOK_SUBSCRIBERS", str(hooks))
    result = invoke_cli("lint", repo=root)
    assert result.exit_code == 1 and "subscriber id 'acme' is used twice" in result.stdout
    assert SECRET_URL not in result.stdout

"""Teams through `incidentctl publish`: real `requests` against a fake Workflows webhook on 127.0.0.1."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from incidentctl.channels import RetryPolicy, use_retry_policy
from incidentctl.channels.teams import escape_markdown
from incidentctl.lifecycle import add_update
from incidentctl.store import Repo
from testing.channel_repos import assert_secret_nowhere, channel_repo, leave_pending, three_entries
from testing.fakes.adaptive_card_schema import card_problems
from testing.fakes.fake_teams import FakeTeams

SNAPSHOT = Path(__file__).parent / "snapshots" / "teams_dry_run.json"


@pytest.fixture(autouse=True)
def _teams_channel(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # No lookup exists for these webhooks: a timeout on a loaded machine would resend (and double) a post.
    monkeypatch.delenv("TEAMS_WEBHOOK_URL", raising=False)
    with use_retry_policy(RetryPolicy(base_delay=0.01, request_timeout=30.0)):
        yield


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return channel_repo(tmp_path / "status", "teams: {}")


@pytest.fixture
def teams(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTeams]:
    with FakeTeams() as fake:
        monkeypatch.setenv("TEAMS_WEBHOOK_URL", fake.url)
        yield fake


def _publish(cli: Callable[..., Any], repo: Repo, *args: str) -> Any:
    return cli("publish", *args, "--channel", "teams", "--json", repo=repo.root)


def _deliveries(cli: Callable[..., Any], repo: Repo, incident_id: str) -> list[dict[str, Any]]:
    shown = json.loads(cli("show", incident_id, "--json", repo=repo.root).stdout)
    return [entry["deliveries"]["teams"] for entry in shown["timeline"] if entry["visibility"] == "public"]


def _texts(card: dict[str, Any]) -> str:
    return json.dumps(card, ensure_ascii=False)


def test_one_valid_card_per_entry_exactly_once(repo: Repo, teams: FakeTeams, cli: Callable[..., Any]) -> None:
    incident_id = three_entries(repo)
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 0, result.output
    assert len(teams.posts) == 3
    assert all(card["version"] == "1.5" and not card_problems(card) for card in teams.posts)
    assert teams.posts[0]["body"][0]["text"].startswith("🔴 Investigating: API unavailable")
    assert teams.posts[2]["body"][0]["text"].startswith("✅ Resolved")
    assert teams.posts[2]["actions"][0]["url"].startswith("https://status.example.com/incidents/")
    assert "bad deploy" not in json.dumps(teams.posts)
    deliveries = _deliveries(cli, repo, incident_id)
    assert [d["state"] for d in deliveries] == ["delivered"] * 3
    assert all(re.fullmatch(r"08584\d{15}", d["ref"]) for d in deliveries), "the flow run id is the ref"

    before = len(teams.requests)
    again = _publish(cli, repo, incident_id)
    assert again.exit_code == 0 and len(teams.requests) == before
    assert_secret_nowhere(repo.root, teams.sig, result.output, again.output)


def test_incident_text_is_escaped_in_markdown_and_exact_in_the_text_run(
    repo: Repo, teams: FakeTeams, cli: Callable[..., Any]
) -> None:
    hostile = "**Click** [here](https://evil.example)\n1. step\n- item\n# big\n<at>everyone</at>"
    change_id = three_entries(repo, message=hostile)
    add_update(repo, change_id, message="ok", status="monitoring")
    assert _publish(cli, repo, change_id).exit_code == 0
    first = teams.posts[0]
    runs = [block for block in first["body"] if block["type"] == "RichTextBlock"]
    assert runs[0]["inlines"][0]["text"] == hostile, "the update is shown exactly, never read as markdown"
    escaped = escape_markdown(hostile)
    for raw in ("**Click**", "[here](", "\n1. ", "\n- ", "\n# ", "<at>"):
        assert raw not in escaped


def test_titles_in_markdown_are_escaped(tmp_path: Path, teams: FakeTeams, cli: Callable[..., Any]) -> None:
    from incidentctl.lifecycle import open_incident

    repo = channel_repo(tmp_path / "other", "teams: {}")
    change = open_incident(repo, "Login [broken](https://evil.example) **now**", severity="sev2", message="x")
    assert _publish(cli, repo, change.incident.id).exit_code == 0
    heading = teams.posts[0]["body"][0]["text"]
    assert "\\[broken\\]\\(https://evil.example\\) \\*\\*now\\*\\*" in heading


def test_long_update_becomes_numbered_cards(repo: Repo, teams: FakeTeams, cli: Callable[..., Any]) -> None:
    words = [f"wörd{number:05d}" for number in range(6000)]  # ~60,000 characters: beyond one message
    incident_id = three_entries(repo, message=" ".join(words))
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 0, result.output
    refs = _deliveries(cli, repo, incident_id)[0]["refs"]
    assert len(refs) >= 3
    cards = teams.posts[: len(refs)]
    assert all(not card_problems(card) for card in cards)
    assert cards[0]["body"][0]["text"].endswith(f"(1/{len(refs)})")
    shown = " ".join(
        block["inlines"][0]["text"] for card in cards for block in card["body"] if block["type"] == "RichTextBlock"
    )
    assert all(word in shown for word in words)


def test_retries_after_503_and_429(repo: Repo, teams: FakeTeams, cli: Callable[..., Any]) -> None:
    incident_id = three_entries(repo)
    teams.fail_next(1, status=503)
    teams.fail_next(1, status=429, headers={"Retry-After": "0"})
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 0, result.output
    assert _deliveries(cli, repo, incident_id)[0]["attempts"] == 3
    assert len(teams.posts) == 3


def test_a_send_cut_off_by_a_crash_is_never_resent_on_its_own(
    repo: Repo, teams: FakeTeams, cli: Callable[..., Any]
) -> None:
    # A run killed after saving `pending` for the first entry: Teams cannot be asked whether the post
    # landed, so publishing again must neither resend it silently (a double post) nor skip it silently.
    incident_id = three_entries(repo)
    leave_pending(repo, incident_id, "teams", position=0)
    for _ in range(2):  # told on every run until the user settles it
        result = _publish(cli, repo, incident_id)
        assert result.exit_code == 3, result.output
        assert "--resend-interrupted" in result.output and len(teams.posts) == 0
        first = _deliveries(cli, repo, incident_id)[0]
        assert (first["state"], first["attempts"]) == ("failed", 1)
    result = cli("publish", incident_id, "--channel", "teams", "--resend-interrupted", repo=repo.root)
    assert result.exit_code == 0, result.output
    assert len(teams.posts) == 3
    assert _deliveries(cli, repo, incident_id)[0]["attempts"] == 2
    assert _publish(cli, repo, incident_id).exit_code == 0 and len(teams.posts) == 3


def test_a_cut_off_send_that_landed_is_marked_sent_by_hand(
    repo: Repo, teams: FakeTeams, cli: Callable[..., Any]
) -> None:
    incident_id = three_entries(repo)
    assert _publish(cli, repo, incident_id).exit_code == 0 and len(teams.posts) == 3
    from incidentctl.lifecycle import add_update

    add_update(repo, incident_id, message="Still monitoring.")
    leave_pending(repo, incident_id, "teams", position=3)
    assert _publish(cli, repo, incident_id).exit_code == 3 and len(teams.posts) == 3
    both = cli("publish", "--resend-interrupted", "--mark-interrupted-sent", repo=repo.root)
    assert both.exit_code == 2
    result = cli("publish", incident_id, "--mark-interrupted-sent", repo=repo.root)
    assert result.exit_code == 0, result.output
    assert "marked sent by hand" in result.output
    assert len(teams.posts) == 3 and _deliveries(cli, repo, incident_id)[3]["state"] == "delivered"


def test_wrong_signature_is_fatal_and_never_printed(
    repo: Repo, teams: FakeTeams, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEAMS_WEBHOOK_URL", teams.url.replace(teams.sig, "forged-signature-999"))
    incident_id = three_entries(repo)
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 3
    assert "TEAMS_WEBHOOK_URL" in result.output and len(teams.requests) == 1
    assert_secret_nowhere(repo.root, "forged-signature-999", result.output)
    missing_env = _publish(cli, repo, incident_id)
    assert missing_env.exit_code == 3


def test_missing_secret_is_named(repo: Repo, cli: Callable[..., Any]) -> None:
    incident_id = three_entries(repo)
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 3 and "TEAMS_WEBHOOK_URL is not set" in result.stderr  # SPEC: named, exit 3


def test_schema_subset_refuses_what_the_official_schema_refuses() -> None:
    good = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "hi"}]}
    assert card_problems(good) == []
    assert card_problems({**good, "msteams": {"width": "Full"}})  # additionalProperties: false
    assert card_problems({**good, "version": "1.6"})
    assert card_problems({"type": "AdaptiveCard", "body": []})  # version is required
    assert card_problems({**good, "body": [{"type": "TextBlock"}]})  # text is required
    assert card_problems({**good, "body": [{"type": "FactSet", "facts": [{"title": "a"}]}]})
    assert card_problems({**good, "body": [{"type": "TextBlock", "text": "x", "color": "red"}]})


def test_dry_run_snapshot(repo: Repo, cli: Callable[..., Any]) -> None:
    incident_id = three_entries(repo)
    result = cli("publish", incident_id, "--channel", "teams", "--dry-run", "--json", repo=repo.root)
    assert result.exit_code == 0, result.output
    previews = json.loads(result.stdout)["previews"]
    for preview in previews:
        for message in preview["payload"]["messages"]:
            assert not card_problems(message["attachments"][0]["content"])
    text = json.dumps(previews, indent=2, ensure_ascii=False, sort_keys=True).replace(incident_id, "<id>") + "\n"
    if not SNAPSHOT.exists():  # first run writes it; review and commit it
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert text == SNAPSHOT.read_text(encoding="utf-8")

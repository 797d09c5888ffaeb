"""``remind --notify`` against the fake Slack server: thread replies, mentions, no re-posting, failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from incidentctl.model import Delivery
from incidentctl.store import Repo
from testing import FakeSlack, git, make_repo


def open_incident(repo: Repo, cli, commander: str | None = None) -> str:  # type: ignore[no-untyped-def]
    args = ["new", "API <down> & out", "--severity", "sev1", "-c", "api=major_outage", "-m", "Looking."]
    args += ["--at", "2024-12-12T15:00:00Z"] + (["--commander", commander] if commander else [])
    result = cli(*args, repo=repo.root)
    assert result.exit_code == 0, result.output
    return str(result.stdout.strip())


def mark_published(repo: Repo, incident_id: str, slack: FakeSlack) -> str:
    """What `publish` leaves behind: the first entry posted to the channel, its ts in the record."""
    from slack_sdk import WebClient

    response = WebClient(token=slack.token, base_url=slack.url).chat_postMessage(channel="#incidents", text="API down")
    ts = str(response["ts"])
    with repo.transaction(f"{incident_id}: published") as tx:
        incident = repo.load(incident_id)
        first = incident.timeline[0].model_copy(
            update={
                "deliveries": {
                    "slack": Delivery(state="delivered", ref=ts, refs=[f"{response['channel']}/{ts}"], attempts=1)
                }
            }
        )
        incident = incident.model_copy(update={"timeline": [first, *incident.timeline[1:]]})
        tx.save(incident)
    return ts


def test_notify_replies_in_thread_mentions_commander_and_records(tmp_path: Path, cli, slack: FakeSlack) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "r")
    incident_id = open_incident(repo, cli, commander="U0COMMANDER")
    root = mark_published(repo, incident_id, slack)

    result = cli("remind", "--now", "2024-12-12T15:42:00Z", "--notify", repo=repo.root)
    assert result.exit_code == 0, result.output
    (reply,) = slack.replies(root)
    assert reply["channel"] == "C0INCIDENTS"
    assert reply["text"].startswith(
        ":alarm_clock: <@U0COMMANDER>: a public update on *API &lt;down&gt; &amp; out* (sev1)"
    )
    assert "10:30 -05:00" in reply["text"] and "overdue by 12m" in reply["text"]
    assert f"incidentctl snooze {incident_id} 30m" in reply["text"]
    assert "posted to Slack" in result.stderr
    assert git(repo.root, "log", "-1", "--format=%s").strip() == f"{incident_id}: reminded (update_due)"
    notified = repo.get(incident_id).reminders.notified  # type: ignore[union-attr]
    assert list(notified) == ["update_due"]

    # Within the cadence (30m): not posted again, nothing committed.
    head = git(repo.root, "rev-parse", "HEAD")
    again = cli("remind", "--now", "2024-12-12T16:11:00Z", "--notify", "--json", repo=repo.root)
    assert again.exit_code == 0
    assert json.loads(again.stdout)["notify"]["recently_posted"][0]["reason"] == "update_due"
    assert len(slack.replies(root)) == 1 and git(repo.root, "rev-parse", "HEAD") == head

    # A full cadence later it is posted again, still overdue.
    assert cli("remind", "--now", "2024-12-12T16:12:00Z", "--notify", repo=repo.root).exit_code == 0
    assert len(slack.replies(root)) == 2

    # A snooze silences the next one.
    assert cli("snooze", incident_id, "2h", repo=repo.root).exit_code == 0
    assert cli("remind", "--notify", repo=repo.root).exit_code == 0
    assert len(slack.replies(root)) == 2


def test_notify_without_thread_posts_to_channel_with_configured_mention(tmp_path: Path, cli, slack: FakeSlack) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(
        tmp_path / "r",
        config=lambda config: config["channels"]["slack"].update(mention="<!subteam^S0ONCALL>"),
    )
    incident_id = open_incident(repo, cli)
    result = cli("remind", "--now", "2024-12-12T15:31:00Z", "--notify", "--fail-if-due", repo=repo.root)
    assert result.exit_code == 5, result.output  # posted, and still due: the scheduler is told
    (message,) = slack.roots()
    assert message["text"].startswith(":alarm_clock: <!subteam^S0ONCALL>: a public update")
    assert incident_id in message["text"]


def test_notify_failure_is_exit_3_and_not_recorded(tmp_path: Path, cli, slack: FakeSlack) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "r")
    first = open_incident(repo, cli)
    second = open_incident(repo, cli)
    slack.error_next("msg_too_long")
    result = cli("remind", "--now", "2024-12-12T15:31:00Z", "--notify", repo=repo.root)
    assert result.exit_code == 3, result.output
    assert "msg_too_long" in result.stderr
    # One failed, the other still went out and only that one is recorded.
    assert len(slack.roots()) == 1
    recorded = [incident_id for incident_id in (first, second) if repo.get(incident_id).reminders]
    assert len(recorded) == 1
    # The next run posts the one that failed, and only that one.
    assert cli("remind", "--now", "2024-12-12T15:32:00Z", "--notify", repo=repo.root).exit_code == 0
    assert len(slack.roots()) == 2
    assert slack.token not in result.output


def test_bad_token_stops_trying(tmp_path: Path, cli, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "r")
    open_incident(repo, cli)
    open_incident(repo, cli)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-wrong-token-value")
    result = cli("remind", "--now", "2024-12-12T15:31:00Z", "--notify", repo=repo.root)
    assert result.exit_code == 3
    assert result.stderr.count("invalid_auth") == 2
    assert len(slack.calls("chat.postMessage")) == 1  # the second was not even tried
    assert "xoxb-wrong-token-value" not in result.output


def test_notify_replies_in_the_thread_publish_made(tmp_path: Path, cli, slack: FakeSlack) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "r")
    incident_id = open_incident(repo, cli)
    published = cli("publish", incident_id, "--channel", "slack", repo=repo.root)
    assert published.exit_code == 0, published.output
    (root,) = slack.roots()
    assert cli("remind", "--now", "2024-12-12T15:31:00Z", "--notify", repo=repo.root).exit_code == 0
    (reply,) = slack.replies(root["ts"])
    assert reply["text"].startswith(":alarm_clock: a public update on")

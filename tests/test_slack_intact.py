"""Every public word reaches Slack intact, once, or the user is told (real slack-sdk against the fake Slack)."""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

import pytest

from incidentctl.channels import RetryPolicy, use_retry_policy
from incidentctl.channels.slack import reminder_sender, split_mrkdwn
from incidentctl.delivery import publish
from incidentctl.lifecycle import add_update, open_incident
from incidentctl.store import Repo
from testing import FakeSlack

FAST = RetryPolicy(base_delay=0.01, request_timeout=1.0)
LONG = ("Errors & timeouts <on> the API > 5% of calls, retries & <backoff> apply. " * 70)[:5000].strip()


@pytest.fixture(autouse=True)
def _fast_retries() -> Iterator[None]:
    with use_retry_policy(FAST):
        yield


def check_payload(payload: dict[str, Any]) -> None:
    from slack_sdk.models.blocks import Block

    assert isinstance(payload.get("text"), str) and payload["text"].strip()
    assert 1 <= len(payload["blocks"]) <= 50
    for block in payload["blocks"]:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()


def _open(repo: Repo, message: str = "We are investigating.") -> str:
    return open_incident(repo, "API errors", severity="sev1", message=message).incident.id


def test_a_long_escaped_update_arrives_whole_in_valid_sections(repo: Repo, slack: FakeSlack) -> None:
    """Item 4: 5,000 characters full of & < >: split across sections, no entity cut, nothing lost."""
    incident_id = _open(repo)
    add_update(repo, incident_id, message=LONG)
    assert publish(repo, channels=["slack"]).failed == 0
    reply = slack.messages[1]
    check_payload({"text": reply["text"], "blocks": reply["blocks"]})
    sections = [block["text"]["text"] for block in reply["blocks"] if block["type"] == "section" and "text" in block]
    assert len(sections) >= 3
    for text in sections:
        assert html.unescape(text).count("&") == text.count("&amp;"), "an entity was cut"
    assert "".join(html.unescape("".join(sections)).split()) == "".join(LONG.split())


def test_split_never_cuts_an_entity() -> None:
    text = "&amp;" * 1000
    for limit in range(2990, 3001):
        pieces = split_mrkdwn(text, limit)
        assert all(len(piece) <= limit and piece == "&amp;" * (len(piece) // 5) for piece in pieces)
        assert "".join(pieces) == text


def test_slack_slower_than_the_timeout_never_posts_twice(repo: Repo, slack: FakeSlack) -> None:
    """Item 5: the post and the lookup both time out: no resend; the next run finds the message."""
    incident_id = _open(repo)
    slack.method_latency = {"chat.postMessage": 2.5, "conversations.history": 2.5}
    report = publish(repo, channels=["slack"])
    assert len(slack.messages) == 1, "posted again while the first attempt could not be checked"
    (result,) = report.deliveries
    assert result.state == "failed" and "asks again" in (result.error or "")
    slack.method_latency = {}
    report = publish(repo, channels=["slack"])
    assert [(d.state, d.reconciled) for d in report.deliveries] == [("delivered", True)]
    assert len(slack.messages) == 1
    assert Repo.open(repo.root).load(incident_id).timeline[0].deliveries["slack"].ref == slack.messages[0]["ts"]


def test_a_fast_local_clock_does_not_hide_the_first_attempt(repo: Repo, slack: FakeSlack) -> None:
    """Item 5: our clock runs 10 minutes ahead of Slack's: the lookup window still holds the message."""
    _open(repo)
    slack.clock_offset = -600
    slack.drop_next(1, after=True, method="chat.postMessage")
    report = publish(repo, channels=["slack"])
    assert report.failed == 0, [d.error for d in report.deliveries]
    assert len(slack.messages) == 1


def test_many_newer_messages_do_not_hide_the_first_attempt(repo: Repo, slack: FakeSlack) -> None:
    """Item 5: 300 messages came after the lost answer: the lookup pages through history."""
    _open(repo)
    slack.drop_next(1, after=True, method="chat.postMessage")
    slack.fail_next(2, status=503, method="conversations.history")
    slack.fail_next(3, status=503, method="chat.postMessage")
    assert publish(repo, channels=["slack"]).failed == 1
    ours = len(slack.messages)
    slack.faults.clear()
    slack.flood(300)
    report = publish(repo, channels=["slack"])
    assert report.failed == 0, [d.error for d in report.deliveries]
    assert len(slack.messages) == ours + 300 and ours == 1


def test_a_reminder_is_not_resent_blindly(repo: Repo, slack: FakeSlack) -> None:
    """Item 5: reminders retry with a lookup, not with the SDK's blind resend."""
    incident_id = _open(repo)
    assert publish(repo, channels=["slack"]).failed == 0
    sender = reminder_sender(repo)
    assert sender is not None
    slack.drop_next(1, after=True, method="chat.postMessage")
    ts = sender.post_in_thread(Repo.open(repo.root).load(incident_id), "Reminder: an update is due.")
    assert len(slack.messages) == 2 and slack.messages[1]["ts"] == ts

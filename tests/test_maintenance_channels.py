"""Scheduled maintenance on every channel: each notice (scheduled, moved, reminder, started, verifying,
completed/cancelled) rendered from the ``maintenance_*`` templates and delivered by the real engine to
the fakes on 127.0.0.1, checked by the receivers' own libraries (slack-sdk blocks, twitter-text,
standardwebhooks), in the configured zone across a DST change, with hostile text and a repo override.

Records are written through the model and ``repo.transaction()`` (the commands are built elsewhere),
the way ``tick`` and ``maintenance ...`` write them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest

from incidentctl.channels import RetryPolicy, use_retry_policy
from incidentctl.delivery import publish
from incidentctl.delivery.progress import ProgressJournal
from incidentctl.model import Entry, Incident
from incidentctl.store import Repo
from incidentctl.templating import forget_templates
from testing import FakeSlack, FakeX, make_repo

# A window across the DST change in America/New_York (clocks go 02:00 EST -> 03:00 EDT on Mar 8 2026):
# 23:00 EST to 04:00 EDT is four hours, not five.
START = datetime(2026, 3, 8, 4, 0, tzinfo=UTC)
END = datetime(2026, 3, 8, 8, 0, tzinfo=UTC)
MOVED_START = datetime(2026, 3, 15, 3, 0, tzinfo=UTC)  # Sat Mar 14 23:00 EDT
MOVED_END = datetime(2026, 3, 15, 5, 30, tzinfo=UTC)  # Sun Mar 15 01:30 EDT
T0 = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
NOTICE = "The API is read-only for up to four hours; the website stays up. Writes get HTTP 503 with Retry-After."
HOSTILE = "<!channel> <@U123|boss> *bold* & <https://evil.example|click> @everyone ]]> </script>"
WHSEC = "whsec_" + base64.b64encode(b"maintenance-signing-key-0123456789").decode()


@pytest.fixture(autouse=True)
def _fast_retries() -> Iterator[None]:
    forget_templates()
    with use_retry_policy(RetryPolicy(base_delay=0.01, request_timeout=2.0, budget_seconds=3.0)):
        yield
    forget_templates()


# -- building a maintenance's life (as `maintenance schedule/start/complete` and `tick` write it) ----------


def schedule(repo: Repo, title: str = "Database upgrade", message: str = NOTICE, *, mid: str = "2026-03-01-db") -> str:
    incident = Incident(
        id=mid,
        kind="maintenance",
        title=title,
        severity="maintenance",
        scheduled_for=START,
        scheduled_until=END,
        timeline=[
            Entry(
                at=T0,
                status="scheduled",
                message=message,
                components={"api": "operational", "web": "operational"},
                scheduled_for=START,
                scheduled_until=END,
            )
        ],
    )
    with repo.transaction() as tx:
        tx.message = f"{mid}: scheduled"
        tx.save(incident)
    return mid


def add(repo: Repo, mid: str, entry: Entry, **record: Any) -> None:
    incident = repo.load(mid)
    changed = incident.model_copy(update={"timeline": [*incident.timeline, entry], **record})
    with repo.transaction() as tx:
        tx.message = f"{mid}: {entry.status}"
        tx.save(Incident.model_validate(changed.model_dump(by_alias=True)))


def move(repo: Repo, mid: str, at: datetime = T0 + timedelta(days=1)) -> None:
    entry = Entry(
        at=at,
        status="scheduled",
        message="Moved a week later to avoid the release freeze.",
        notice="rescheduled",
        scheduled_for=MOVED_START,
        scheduled_until=MOVED_END,
    )
    add(repo, mid, entry, scheduled_for=MOVED_START, scheduled_until=MOVED_END)


def remind(repo: Repo, mid: str, start: datetime = MOVED_START, lead: str = "24h") -> None:
    hours = int(lead.rstrip("h"))
    entry = Entry(
        at=start - timedelta(hours=hours) + timedelta(minutes=7),  # a late tick: still "starts at <time>"
        status="scheduled",
        message="",
        notice="reminder",
        reminder_before=lead,
        automatic=True,
    )
    add(repo, mid, entry)


def start(repo: Repo, mid: str, at: datetime = MOVED_START) -> None:
    entry = Entry(
        at=at,
        status="in_progress",
        message="Maintenance has started.",
        components={"api": "under_maintenance", "web": "under_maintenance"},
        automatic=True,
    )
    add(repo, mid, entry)


def verify(repo: Repo, mid: str, at: datetime = MOVED_START + timedelta(hours=2)) -> None:
    add(repo, mid, Entry(at=at, status="verifying", message="The upgrade is done; we are checking replication."))


def complete(repo: Repo, mid: str, at: datetime = MOVED_END - timedelta(minutes=10)) -> None:
    entry = Entry(
        at=at,
        status="completed",
        message="Maintenance is complete; writes are accepted again.",
        components={"api": "operational", "web": "operational"},
    )
    add(repo, mid, entry)


def cancel(repo: Repo, mid: str, at: datetime = T0 + timedelta(days=2)) -> None:
    add(repo, mid, Entry(at=at, status="cancelled", message="Cancelled: the vendor shipped a hotfix instead."))


def whole_life(repo: Repo, after_each: Any = None) -> str:
    mid = schedule(repo)
    steps = [lambda: None, lambda: move(repo, mid), lambda: remind(repo, mid), lambda: start(repo, mid),
             lambda: verify(repo, mid), lambda: complete(repo, mid)]  # fmt: skip
    for step in steps:
        step()
        if after_each is not None:
            after_each(mid)
    return mid


def only(*channels: str, **settings: Any) -> Any:
    def edit(config: Any) -> None:
        config["channels"].clear()
        for name in channels:
            config["channels"][name] = settings.get(name, {})
        config["channels"]["statuspage"] = {"output": "site", "url": "https://status.example.com"}

    return edit


def run(repo: Repo, mid: str, channel: str) -> list[Any]:
    report = publish(repo, [mid], [channel])
    assert report.failed == 0, [(d.channel, d.error) for d in report.deliveries]
    assert not report.unusable, report.unusable
    return report.deliveries


def previews(repo: Repo, mid: str, channel: str) -> list[dict[str, Any]]:
    report = publish(repo, [mid], [channel], dry_run=True)
    return [preview.to_json() for preview in report.previews]


def check_blocks(payload: dict[str, Any]) -> None:
    from slack_sdk.models.blocks import Block

    assert payload["text"].strip()
    assert len(payload["blocks"]) <= 50
    for block in payload["blocks"]:
        parsed = Block.parse(block)
        assert parsed is not None, block
        parsed.validate_json()


# -- Slack -------------------------------------------------------------------------------------------------


def test_slack_one_thread_root_edited_reminder_absolute_completion_broadcast(tmp_path: Path, slack: FakeSlack) -> None:
    repo = make_repo(tmp_path / "status", config=only("slack"))
    mid = whole_life(repo, after_each=lambda mid: run(repo, mid, "slack"))

    roots = slack.roots()
    assert len(roots) == 1, "one thread per maintenance"
    root = roots[0]
    replies = slack.replies(root["ts"])
    texts = [reply["text"] for reply in replies]
    assert len(replies) == 5, texts
    # The first post: window in the local zone with the date, DST-correct duration, what users will notice.
    posted = root["edits"][0] if root["edits"] else root
    first = json.dumps(posted["blocks"], ensure_ascii=False)
    assert "Sat Mar 7 2026, 23:00 EST – Sun Mar 8 2026, 04:00 EDT" in first
    assert "(4h)" in first and "What you will notice" in first and "read-only" in first
    assert posted["text"].startswith("Scheduled maintenance: Database upgrade — Sat Mar 7 2026, 23:00 EST")
    # Moved, reminder (absolute time, never "in 24h"), started, verifying, completed.
    assert (
        texts[0]
        == "Maintenance moved: Database upgrade — moved to Sat Mar 14 2026, 23:00 EDT – Sun Mar 15 2026, 01:30 EDT"
    )
    assert texts[1] == "Maintenance reminder: Database upgrade — starts Sat Mar 14 2026, 23:00 EDT"
    assert "in 24h" not in json.dumps(replies)
    assert texts[2].startswith("Maintenance started: Database upgrade")
    assert texts[3].startswith("Maintenance: verifying: Database upgrade")
    assert texts[4].startswith("Maintenance completed: Database upgrade")
    moved = json.dumps(replies[0]["blocks"], ensure_ascii=False)
    assert "~Sat Mar 7 2026, 23:00 EST – Sun Mar 8 2026, 04:00 EDT~" in moved
    # Broadcast in the channel: the moved window, the reminder, the start and the completion; not verifying.
    assert [reply["reply_broadcast"] for reply in replies] == [True, True, True, False, True]
    # The root shows the maintenance's current state, edited after every run.
    assert len(root["edits"]) == 5
    assert root["text"].startswith("Maintenance completed: Database upgrade")
    assert "Latest update" in json.dumps(root["blocks"])
    assert [edit["text"].split(":")[0] for edit in root["edits"][1:]] == [
        "Scheduled maintenance",
        "Scheduled maintenance",
        "Maintenance in progress",
        "Maintenance",
    ]
    for message in [root, *root["edits"], *replies]:
        check_blocks(message)
    # Every entry delivered once: a second run posts nothing.
    before = len(slack.messages)
    report = publish(repo, [mid], ["slack"])
    assert report.deliveries == [] and len(slack.messages) == before


# -- X -----------------------------------------------------------------------------------------------------


def test_x_one_thread_each_part_valid(tmp_path: Path, x: FakeX) -> None:
    from twitter_text import parse_tweet

    repo = make_repo(tmp_path / "status", config=only("x"))
    long_notice = NOTICE + " " + " ".join(f"Step {n}: drain, upgrade and re-enable replica {n}." for n in range(12))
    mid = schedule(repo, message=long_notice)
    for step in (lambda: None, lambda: move(repo, mid), lambda: remind(repo, mid), lambda: remind(repo, mid, lead="1h"),
                 lambda: start(repo, mid), lambda: complete(repo, mid)):  # fmt: skip
        step()
        run(repo, mid, "x")
    chains = x.thread()
    assert len(chains) == 1, "one thread per maintenance"
    texts = [post["text"] for post in chains[0]]
    assert len(texts) == len(x.posts) >= 7  # the long first notice is a thread of its own
    for text in texts:
        assert parse_tweet(text).valid, text
    assert texts[0].startswith("Scheduled maintenance: Database upgrade\n")
    assert "When: Sat Mar 7 2026, 23:00 EST – Sun Mar 8 2026, 04:00 EDT (4h)." in "\n".join(texts)
    reminders = [text for text in texts if text.startswith("Reminder: scheduled maintenance")]
    assert len(reminders) == 2 and len(set(reminders)) == 2, "the 24h and 1h reminders differ (X refuses duplicates)"
    assert all("Starts Sat Mar 14 2026, 23:00 EDT" in text for text in reminders)
    assert any(
        text.startswith("Maintenance moved: Database upgrade") and "was Sat Mar 7 2026" in text for text in texts
    )
    assert texts[-1].startswith("Maintenance completed: Database upgrade (01:20 EDT)")


# -- webhook -----------------------------------------------------------------------------------------------


def test_webhook_statuspage_maintenance_shape_signed_and_filtered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from standardwebhooks.webhooks import Webhook

    from incidentctl.channels import webhook
    from testing.fakes.webhook_receiver import WebhookReceiver

    repo = make_repo(tmp_path / "status", config=only("webhook"))
    with WebhookReceiver() as receiver:
        path = tmp_path / "secrets.yaml"
        path.write_text(
            f"- {{id: all, url: '{receiver.url('/all')}', secret: '{WHSEC}'}}\n"
            f"- {{id: api, url: '{receiver.url('/api')}', secret: '{WHSEC}', components: [api]}}\n"
            f"- {{id: sora, url: '{receiver.url('/sora')}', secret: '{WHSEC}', components: [sora]}}\n",
            encoding="utf-8",
        )
        monkeypatch.setenv(webhook.SUBSCRIBERS_ENV, str(path))
        whole_life(repo, after_each=lambda mid: run(repo, mid, "webhook"))
        everything = receiver.received("/all")
        assert len(everything) == 6 and len(receiver.received("/api")) == 6
        assert receiver.received("/sora") == [], "a subscriber of another component hears nothing"
        for item in everything:
            assert Webhook(WHSEC).verify(item["raw"], item["headers"]) == item["body"]
        bodies = [item["body"] for item in everything]

    statuses = [body["incident"]["status"] for body in bodies]
    assert statuses == ["scheduled", "scheduled", "scheduled", "in_progress", "verifying", "completed"]
    for body in bodies:
        incident = body["incident"]
        assert incident["impact"] == "maintenance"
        assert {"scheduled_for", "scheduled_until", "incident_updates", "scheduled_auto_in_progress"} <= set(incident)
    assert bodies[0]["incident"]["scheduled_for"] == "2026-03-08T04:00:00Z"
    assert bodies[1]["incident"]["scheduled_for"] == "2026-03-15T03:00:00Z", "the moved window"
    assert bodies[1]["incident"]["scheduled_until"] == "2026-03-15T05:30:00Z"
    assert bodies[2]["incident"]["scheduled_reminded_at"] is not None
    assert bodies[-1]["incident"]["resolved_at"] == "2026-03-15T05:20:00Z"
    assert len(bodies[-1]["incident"]["incident_updates"]) == 6
    # component_update only where a component changed to or from under_maintenance.
    changes = [(body.get("component_update") or {}) for body in bodies]
    assert [bool(change) for change in changes] == [False, False, False, True, False, True]
    assert (changes[3]["old_status"], changes[3]["new_status"]) == ("operational", "under_maintenance")
    assert (changes[5]["old_status"], changes[5]["new_status"]) == ("under_maintenance", "operational")
    assert bodies[3]["page"]["status_indicator"] == "maintenance"
    assert bodies[5]["page"]["status_indicator"] == "none"


# -- email -------------------------------------------------------------------------------------------------


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.slow: set[str] = set()
        """Recipients whose message is taken, then answered only after a long wait."""
        self.waiting: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import asyncio
        from email import policy

        if self.slow & set(envelope.rcpt_tos):
            self.waiting.extend(envelope.rcpt_tos)
            await asyncio.sleep(20)
            return "451 4.3.0 too late"

        parsed = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.messages.append({"rcpt": list(envelope.rcpt_tos), "message": parsed})
        return "250 Message accepted"


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Mailbox]:
    import socket

    from aiosmtpd.controller import Controller

    from incidentctl.channels import email as email_channel

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    handler = _Mailbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv(email_channel.SMTP_URL_ENV, f"smtp+insecure://127.0.0.1:{port}")
    try:
        yield handler
    finally:
        controller.stop()


def test_email_one_thread_per_maintenance_with_its_own_subject(tmp_path: Path, mailbox: _Mailbox) -> None:
    settings = {"email": {"from": "Example Status <status@example.com>", "to": ["oncall@example.com"]}}
    repo = make_repo(tmp_path / "status", config=only("email", **settings))
    mid = whole_life(repo, after_each=lambda mid: run(repo, mid, "email"))
    other = schedule(repo, title="Network switch swap", mid="2026-03-01-net")
    cancel(repo, other)
    run(repo, other, "email")

    mails = [item["message"] for item in mailbox.messages]
    assert len(mails) == 8
    ours, theirs = mails[:6], mails[6:]
    assert {mail["Subject"] for mail in ours} == {"[Example Corp] Maintenance: Database upgrade"}
    root = ours[0]["Message-ID"]
    assert root == f"<{mid}.{root.split('.', 1)[1]}" and root.endswith("@example.com>")
    assert all(mail["In-Reply-To"] == root and root in mail["References"] for mail in ours[1:])
    assert theirs[1]["In-Reply-To"] == theirs[0]["Message-ID"] != root, "each maintenance its own thread"
    first = ours[0].get_body(("plain",)).get_content()
    assert "Starts:   Sat Mar 7 2026, 23:00 EST" in first and "Ends:     Sun Mar 8 2026, 04:00 EDT" in first
    assert "Duration: 4h" in first and "What you will notice:" in first
    reminder = ours[2].get_body(("plain",)).get_content()
    assert reminder.startswith("Reminder: scheduled maintenance: Database upgrade")
    assert "Starts:   Sat Mar 14 2026, 23:00 EDT" in reminder
    moved_html = ours[1].get_body(("html",)).get_content()
    assert "<s>Sat Mar 7 2026, 23:00 EST until Sun Mar 8 2026, 04:00 EDT</s>" in moved_html
    assert theirs[1].get_body(("plain",)).get_content().startswith("Maintenance cancelled: Network switch swap")


# -- Atlassian Statuspage (an existing hosted page) -----------------------------------------------------------


def test_atlassian_scheduled_maintenance_created_moved_and_completed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from testing.fakes.fake_atlassian import DEFAULT_PAGE, FakeAtlassian

    mapping = {"api": "cmpapi000001", "web": "cmpweb000002"}
    settings = {"atlassian": {"page_id": DEFAULT_PAGE, "components": mapping}}
    repo = make_repo(tmp_path / "status", config=only("atlassian", **settings))
    with (
        FakeAtlassian(min_interval=0.0) as api,
        use_retry_policy(RetryPolicy(base_delay=0.01, budget_seconds=30)),
    ):
        monkeypatch.setenv("INCIDENTCTL_ATLASSIAN_API_URL", api.url)
        monkeypatch.setenv("STATUSPAGE_API_KEY", api.key)
        mid = whole_life(repo, after_each=lambda mid: run(repo, mid, "atlassian"))
        other = schedule(repo, title="Network switch swap", mid="2026-03-01-net")
        cancel(repo, other)
        run(repo, other, "atlassian")
        writes = [write["params"]["incident"] for write in api.writes()]
        remote = api.incidents

    assert len(remote) == 2, "one scheduled maintenance per maintenance"
    created = writes[0]
    assert created["status"] == "scheduled" and created["name"] == "Database upgrade"
    assert (created["scheduled_for"], created["scheduled_until"]) == ("2026-03-08T04:00:00Z", "2026-03-08T08:00:00Z")
    # Our tick starts, completes and reminds: Statuspage must not do it again (double notifications).
    assert created["scheduled_remind_prior"] is False and created["scheduled_auto_in_progress"] is False
    assert created["scheduled_auto_completed"] is False
    assert created["metadata"] == {"incidentctl": {"id": mid}}
    moved = writes[1]
    assert (moved["scheduled_for"], moved["scheduled_until"]) == ("2026-03-15T03:00:00Z", "2026-03-15T05:30:00Z")
    assert "scheduled_for" not in writes[2], "a reminder does not move the window"
    assert [write["status"] for write in writes[:6]] == [
        "scheduled", "scheduled", "scheduled", "in_progress", "verifying", "completed"
    ]  # fmt: skip
    assert writes[3]["components"] == {"cmpapi000001": "under_maintenance", "cmpweb000002": "under_maintenance"}
    assert writes[5]["components"] == {"cmpapi000001": "operational", "cmpweb000002": "operational"}
    assert remote[0]["status"] == "completed" and remote[0]["scheduled_for"] == "2026-03-15T03:00:00Z"
    # Statuspage has no "cancelled": the maintenance ends as completed with the cancellation as its update.
    assert remote[1]["status"] == "completed"
    assert remote[1]["incident_updates"][0]["body"].startswith("Cancelled: the vendor")


# -- Discord, Teams, Mastodon, Bluesky ---------------------------------------------------------------------


def _life_short(repo: Repo, channel: str) -> str:
    mid = schedule(repo)
    run(repo, mid, channel)
    move(repo, mid)
    remind(repo, mid)
    start(repo, mid)
    complete(repo, mid)
    run(repo, mid, channel)
    return mid


def test_discord_forum_thread_root_edited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from testing.fakes.fake_discord import FakeDiscord

    repo = make_repo(tmp_path / "status", config=only("discord"))
    with FakeDiscord(forum=True) as forum:
        monkeypatch.setenv("DISCORD_WEBHOOK_URL", forum.url)
        _life_short(repo, "discord")
        assert list(forum.threads.values()) == ["Database upgrade"]
        posts = forum.in_thread(next(iter(forum.threads)))
    titles = [post["embeds"][0]["title"] for post in posts]
    assert titles[1:] == [
        "🗓️ Maintenance moved: Database upgrade", "⏰ Maintenance reminder: Database upgrade",
        "🔧 Maintenance started: Database upgrade", "✅ Maintenance completed: Database upgrade",
    ]  # fmt: skip
    first = posts[0]["edits"][0]["embeds"][0]
    assert first["title"] == "🗓️ Scheduled maintenance: Database upgrade"
    fields = {field["name"]: field["value"] for field in first["fields"]}
    assert fields["Starts"] == "Sat Mar 7 2026, 23:00 EST" and fields["Ends"] == "Sun Mar 8 2026, 04:00 EDT"
    assert fields["Duration"] == "4h" and fields["API"] == "Planned maintenance"
    assert posts[0]["embeds"][0]["title"] == "✅ Maintenance completed: Database upgrade", "the root shows the state"
    assert "was ~~Sat Mar 7 2026" in posts[1]["embeds"][0]["description"]


def test_teams_cards_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from testing.fakes.adaptive_card_schema import card_problems
    from testing.fakes.fake_teams import FakeTeams

    repo = make_repo(tmp_path / "status", config=only("teams"))
    with FakeTeams() as teams:
        monkeypatch.setenv("TEAMS_WEBHOOK_URL", teams.url)
        _life_short(repo, "teams")
        cards = list(teams.posts)
    assert len(cards) == 5 and all(not card_problems(card) for card in cards)
    headings = [card["body"][0]["text"] for card in cards]
    assert headings[0] == "🗓️ Scheduled maintenance: Database upgrade"
    assert headings[2] == "⏰ Maintenance reminder: Database upgrade"
    facts = {fact["title"]: fact["value"] for fact in cards[1]["body"][1]["facts"]}
    assert facts["Moved to"].startswith("Sat Mar 14 2026, 23:00 EDT") and facts["Was"].startswith("Sat Mar 7 2026")
    assert cards[3]["body"][1]["facts"][-1] == {"title": "Website", "value": "Under maintenance"}


def test_mastodon_and_bluesky_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from testing.fakes.fake_bluesky import FakeBluesky
    from testing.fakes.fake_mastodon import FakeMastodon

    with FakeMastodon() as instance, FakeBluesky() as pds:
        monkeypatch.setenv("MASTODON_ACCESS_TOKEN", instance.token)
        monkeypatch.setenv("BLUESKY_APP_PASSWORD", pds.password)
        settings = {
            "mastodon": {"instance": instance.url, "visibility": "unlisted"},
            "bluesky": {"handle": pds.account, "service": pds.url},
        }
        repo = make_repo(tmp_path / "status", config=only("mastodon", "bluesky", **settings))
        mid = schedule(repo, message=NOTICE + " Contact @ops@example.social for help.")
        for channel in ("mastodon", "bluesky"):
            run(repo, mid, channel)
        remind(repo, mid, start=START)
        cancel(repo, mid, at=START - timedelta(hours=2))
        for channel in ("mastodon", "bluesky"):
            run(repo, mid, channel)
        toots = [status["text"] for status in instance.thread(instance.statuses[0]["id"])]
        skeets = [post["value"]["text"] for post in pds.posts()]
    for texts in (toots, skeets):
        joined = "\n".join(texts)
        assert texts[0].startswith("Scheduled maintenance: Database upgrade")
        assert "When: Sat Mar 7 2026, 23:00 EST – Sun Mar 8 2026, 04:00 EDT (4h)." in joined
        assert "Starts Sat Mar 7 2026, 23:00 EST, ends Sun Mar 8 2026, 04:00 EDT (4h)." in joined
        assert texts[-1].startswith("Maintenance cancelled: Database upgrade (21:00 EST)")
    assert "@ops@example.social" not in "\n".join(toots), "mentions in notices never notify"


# -- hostile text, validators, overrides, lint -------------------------------------------------------------


def _mrkdwn_texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        own = [value["text"]] if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str) else []
        return own + [text for item in value.values() for text in _mrkdwn_texts(item)]
    if isinstance(value, list):
        return [text for item in value for text in _mrkdwn_texts(item)]
    return []


def test_hostile_title_and_notice_are_escaped_and_valid_everywhere(tmp_path: Path) -> None:
    from twitter_text import parse_tweet

    settings = {"email": {"from": "status@example.com"}}
    repo = make_repo(tmp_path / "status", config=only("slack", "x", "email", "discord", "teams", **settings))
    mid = schedule(repo, title="DB <b>&</b> <!here> upgrade", message=HOSTILE + "\n\n" + ("Long & <noisy> " * 150))
    move(repo, mid)
    remind(repo, mid)
    start(repo, mid)
    complete(repo, mid)
    report = publish(repo, [mid], ["slack", "x", "email", "discord", "teams"], dry_run=True)
    shown = [preview.to_json() for preview in report.previews]
    by_channel: dict[str, list[dict[str, Any]]] = {}
    for preview in shown:
        by_channel.setdefault(preview["channel"], []).append(preview)
    assert {name: len(items) for name, items in by_channel.items()} == {
        "slack": 6,
        "x": 5,
        "email": 5,
        "discord": 6,
        "teams": 5,
    }  # fmt: skip  (Slack and Discord: the five notices and the root edit)
    for preview in by_channel["slack"]:
        check_blocks(preview["payload"])
        mrkdwn = [preview["payload"]["text"], *_mrkdwn_texts(preview["payload"]["blocks"])]
        raw = "\n".join(mrkdwn)  # plain_text (the header) is never parsed for mentions or links
        assert "<!channel>" not in raw and "<!here>" not in raw and "<@U123" not in raw and "<https://evil" not in raw
        assert "&lt;!here&gt;" in raw
    for preview in by_channel["x"]:
        for part in preview["payload"]["parts"]:
            assert parse_tweet(part).valid, part
    for preview in by_channel["email"]:
        html = preview["payload"]["html"]
        assert "<b>&</b>" not in html and "</script>" not in html and "&lt;b&gt;&amp;&lt;/b&gt;" in html
    for preview in by_channel["discord"]:
        text = json.dumps(preview["payload"], ensure_ascii=False)
        assert "*bold*" not in text and "[click](" not in text
    for preview in by_channel["teams"][:1]:
        card = preview["payload"]["messages"][0]["attachments"][0]["content"]
        blocks = card["body"]
        assert all("*bold*" not in block.get("text", "") for block in blocks if block["type"] == "TextBlock")
        runs = [block["inlines"][0]["text"] for block in blocks if block["type"] == "RichTextBlock"]
        assert runs[0].startswith(HOSTILE), "the notice itself is a TextRun: shown exactly, never as markdown"


def test_a_repo_override_is_used_sandboxed_and_linted(tmp_path: Path) -> None:
    from incidentctl.render import lint_templates

    repo = make_repo(tmp_path / "status", config=only("x", "slack"))
    mid = schedule(repo)
    remind(repo, mid, start=START)
    templates = repo.root / "templates"
    templates.mkdir(exist_ok=True)
    (templates / "maintenance_x.txt.j2").write_text(
        "{{ organization }} {{ notice }}: {{ incident.title }} from {{ window.start_text }} for {{ window.duration_text }}\n",
        encoding="utf-8",
    )
    (templates / "slack.json.j2").write_text('{"text": "incident override only"}\n', encoding="utf-8")
    forget_templates()
    texts = [preview["text"] for preview in previews(repo, mid, "x")]
    assert texts == [
        "Example Corp scheduled: Database upgrade from Sat Mar 7 2026, 23:00 EST for 4h",
        "Example Corp reminder: Database upgrade from Sat Mar 7 2026, 23:00 EST for 4h",
    ]
    slack_texts = [preview["text"] for preview in previews(repo, mid, "slack")]
    assert "incident override only" not in slack_texts, "an incident override does not replace the maintenance one"
    assert lint_templates(repo.root, repo.config, [repo.load(mid)]) == []

    (templates / "maintenance_x.txt.j2").write_text("{{ incident.__class__.__mro__ }}\n", encoding="utf-8")
    (templates / "maintenance_slack.json.j2").write_text('{"text": {{ notice }}\n', encoding="utf-8")
    forget_templates()
    problems = lint_templates(repo.root, repo.config, [repo.load(mid)])
    assert any(problem.startswith("templates/maintenance_x.txt.j2:1:") for problem in problems), problems
    assert any("SecurityError" in problem for problem in problems), problems
    assert any(problem.startswith("templates/maintenance_slack.json.j2:") for problem in problems), problems
    from incidentctl.errors import TemplateError

    with pytest.raises(TemplateError, match=r"maintenance_x\.txt\.j2:1: SecurityError"):
        publish(repo, [mid], ["x"], dry_run=True)


def test_notice_of_each_entry_and_windows_in_the_render_context(tmp_path: Path) -> None:
    from incidentctl.render import message_context

    repo = make_repo(tmp_path / "status")
    mid = whole_life(repo)
    view = repo.load(mid).public_view()
    contexts = [message_context(view, entry, repo.config) for entry in view.timeline]
    assert [context["notice"] for context in contexts] == [
        "scheduled", "rescheduled", "reminder", "started", "verifying", "completed"
    ]  # fmt: skip
    assert contexts[0]["window"]["duration_text"] == "4h" and contexts[0]["previous_window"] is None
    assert contexts[1]["previous_window"]["start_text"] == "Sat Mar 7 2026, 23:00 EST"
    assert contexts[1]["window"]["text"] == "Sat Mar 14 2026, 23:00 EDT – Sun Mar 15 2026, 01:30 EDT"
    assert contexts[2]["window"]["start"] == MOVED_START and contexts[2]["reminder_before"] == "24h"
    assert contexts[5]["is_resolution"] and contexts[0]["severity"]["name"] == "Maintenance"
    assert [c["name"] for c in contexts[0]["planned_components"]] == ["API", "Website"]


# -- issue 13: a run killed half-way through one entry's subscribers ---------------------------------------


def test_a_run_killed_after_some_subscribers_never_sends_to_them_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from incidentctl.channels import webhook
    from testing import kill_when, start_incidentctl
    from testing.fakes.webhook_receiver import WebhookReceiver

    repo = make_repo(tmp_path / "status", config=only("webhook"))
    mid = schedule(repo)
    with WebhookReceiver() as receiver:
        path = tmp_path / "secrets.yaml"
        path.write_text(
            "".join(f"- {{id: {name}, url: '{receiver.url('/' + name)}', secret: '{WHSEC}'}}\n" for name in "abc"),
            encoding="utf-8",
        )
        monkeypatch.setenv(webhook.SUBSCRIBERS_ENV, str(path))
        receiver.method_latency["/c"] = 20.0  # c takes the body, then hangs: the run is killed meanwhile
        process = start_incidentctl("publish", mid, "--channel", "webhook", cwd=repo.root)
        kill_when(process, lambda: bool(receiver.received("/c")))
        # The two served subscribers were journaled before c was tried.
        assert repo.load(mid).timeline[0].deliveries["webhook"].state == "pending"
        assert list(ProgressJournal(repo.root).reached().values()) == [["a", "b"]]

        receiver.method_latency.clear()
        run(repo, mid, "webhook")
        assert len(receiver.received("/a")) == 1 and len(receiver.received("/b")) == 1, "never sent twice"
        assert len(receiver.unique_ids("/c")) == 1, "c got it again, with the same webhook-id (receivers dedupe)"
    delivery = repo.load(mid).timeline[0].deliveries["webhook"]
    assert delivery.state == "delivered" and sorted(delivery.refs) == ["a", "b", "c"]
    assert ProgressJournal(repo.root).reached() == {}, "the journal is emptied once the records hold it all"


def test_email_run_killed_after_some_recipients_never_mails_them_again(
    tmp_path: Path, mailbox: _Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from incidentctl.channels.subscribers import recipient_hash
    from testing import kill_when, start_incidentctl

    to = ["a@example.com", "b@example.com", "slow@example.com"]
    repo = make_repo(tmp_path / "status", config=only("email", email={"from": "status@example.com", "to": to}))
    mid = schedule(repo)
    mailbox.slow.add("slow@example.com")
    process = start_incidentctl("publish", mid, "--channel", "email", cwd=repo.root)
    kill_when(process, lambda: bool(mailbox.waiting))
    reached = list(ProgressJournal(repo.root).reached().values())
    assert reached == [[recipient_hash("a@example.com"), recipient_hash("b@example.com")]]
    assert "a@example.com" not in ProgressJournal(repo.root).path.read_text(encoding="utf-8"), "hashes only"

    mailbox.slow.clear()
    run(repo, mid, "email")
    received = [item["rcpt"] for item in mailbox.messages]
    assert received == [["a@example.com"], ["b@example.com"], ["slow@example.com"]], "nobody mailed twice"


def test_lint_checks_the_maintenance_templates_in_a_repo_without_maintenance(tmp_path: Path) -> None:
    from incidentctl.render import lint_templates

    repo = make_repo(tmp_path / "status")
    assert lint_templates(repo.root, repo.config, []) == []
    (repo.root / "templates").mkdir(exist_ok=True)
    (repo.root / "templates" / "maintenance_x.txt.j2").write_text("{{ window.nope }}\n", encoding="utf-8")
    forget_templates()
    problems = lint_templates(repo.root, repo.config, [])
    assert len(problems) == 1 and problems[0].startswith("templates/maintenance_x.txt.j2:1:"), problems
    assert "sample-maintenance" in problems[0]


def test_slack_cancellation_is_broadcast_and_shown_on_the_root(tmp_path: Path, slack: FakeSlack) -> None:
    repo = make_repo(tmp_path / "status", config=only("slack"))
    mid = schedule(repo, title="Switch <swap> & reboot")
    run(repo, mid, "slack")
    cancel(repo, mid)
    run(repo, mid, "slack")
    root = slack.roots()[0]
    (reply,) = slack.replies(root["ts"])
    assert reply["reply_broadcast"] and reply["text"].startswith(
        "Maintenance cancelled: Switch &lt;swap&gt; &amp; reboot"
    )
    assert root["text"].startswith("Maintenance cancelled: Switch &lt;swap&gt; &amp; reboot — Cancelled: the vendor")
    check_blocks(root)
    check_blocks(reply)


def test_status_page_preview_of_a_notice_is_escaped(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "status")
    mid = schedule(repo, message=HOSTILE)
    move(repo, mid)
    (first, moved) = [preview["text"] for preview in previews(repo, mid, "statuspage")]
    assert "</script>" not in first and "&lt;/script&gt;" in first
    assert "Sat Mar 7 2026, 23:00 EST</time> – <time" in first and "(4h)" in first
    assert "was <s>Sat Mar 7 2026, 23:00 EST – Sun Mar 8 2026, 04:00 EDT</s>" in moved

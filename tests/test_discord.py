"""Discord through `incidentctl publish`: real `requests` against a fake webhook on 127.0.0.1."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from incidentctl.channels import RetryPolicy, use_retry_policy
from incidentctl.channels.discord import escape_markdown, fit_messages
from incidentctl.delivery import publish
from incidentctl.store import Repo
from testing import modify_config
from testing.channel_repos import assert_secret_nowhere, channel_repo, leave_pending, three_entries
from testing.fakes.fake_discord import FakeDiscord

SNAPSHOT = Path(__file__).parent / "snapshots" / "discord_dry_run.json"


@pytest.fixture(autouse=True)
def _discord_channel(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # No lookup exists for these webhooks: a timeout on a loaded machine would resend (and double) a post.
    monkeypatch.delenv("DISCORD_WEBHOOK_URL", raising=False)
    with use_retry_policy(RetryPolicy(base_delay=0.01, request_timeout=30.0)):
        yield


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return channel_repo(tmp_path / "status", "discord: {}")


def _fake(monkeypatch: pytest.MonkeyPatch, forum: bool) -> Iterator[FakeDiscord]:
    with FakeDiscord(forum=forum) as fake:
        monkeypatch.setenv("DISCORD_WEBHOOK_URL", fake.url)
        yield fake


@pytest.fixture
def forum(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDiscord]:
    yield from _fake(monkeypatch, forum=True)


@pytest.fixture
def text_channel(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDiscord]:
    yield from _fake(monkeypatch, forum=False)


def _publish(cli: Callable[..., Any], repo: Repo, *args: str) -> Any:
    return cli("publish", *args, "--channel", "discord", "--json", repo=repo.root)


def _deliveries(cli: Callable[..., Any], repo: Repo, incident_id: str) -> list[dict[str, Any]]:
    shown = json.loads(cli("show", incident_id, "--json", repo=repo.root).stdout)
    return [entry["deliveries"]["discord"] for entry in shown["timeline"] if entry["visibility"] == "public"]


def test_forum_thread_root_edit_and_exactly_once(repo: Repo, forum: FakeDiscord, cli: Callable[..., Any]) -> None:
    incident_id = three_entries(repo)
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["failed"] == 0

    # One forum thread named after the incident, holding the three public entries in order.
    assert list(forum.threads.values()) == ["API unavailable"]
    thread_id = next(iter(forum.threads))
    posts = forum.in_thread(thread_id)
    assert len(posts) == 3 and forum.in_channel() == []
    assert "Investigating" in posts[0]["edits"][0]["embeds"][0]["title"]
    assert "Fix identified" in posts[1]["embeds"][0]["description"]
    assert "Error rates are back to normal" in posts[2]["embeds"][0]["description"]
    # The first message was edited to the current state (resolved), inside its thread.
    assert posts[0]["edits"], "the root message is edited"
    assert posts[0]["embeds"][0]["title"].startswith("✅ Resolved")
    assert "Investigating" in posts[0]["edits"][0]["embeds"][0]["title"]
    # Every request asked for Discord's answer and forbade mentions; the internal note never left.
    executes = [r for r in forum.requests if r["method"] == "execute"]
    assert all(r["params"]["wait"] == "true" for r in executes)
    assert all(r["params"]["allowed_mentions"] == {"parse": []} for r in forum.requests)
    assert "bad deploy" not in json.dumps([r["params"] for r in forum.requests])

    deliveries = _deliveries(cli, repo, incident_id)
    assert [d["state"] for d in deliveries] == ["delivered"] * 3
    assert [d["ref"] for d in deliveries] == [post["id"] for post in posts]

    before = len(forum.requests)
    again = _publish(cli, repo, incident_id)
    assert again.exit_code == 0, again.output
    assert len(forum.requests) == before
    assert_secret_nowhere(repo.root, forum.token, result.output, again.output)


def test_text_channel_posts_in_the_channel_and_asks_for_a_thread_once(
    repo: Repo, text_channel: FakeDiscord, cli: Callable[..., Any]
) -> None:
    first = three_entries(repo)
    second = three_entries(repo, message="Logins fail for some users.")
    report = publish(repo, [first, second], channels=["discord"])  # one run, two incidents
    assert report.failed == 0, report.to_json()
    assert len(text_channel.in_channel()) == 6 and not text_channel.threads
    refused = [r for r in text_channel.requests if r["params"].get("thread_name") is not None]
    assert len(refused) == 1, "a text channel is asked for a thread once per run, then remembered"
    roots = [m for m in text_channel.messages if m["edits"]]
    assert len(roots) == 2 and all(m["embeds"][0]["title"].startswith("✅ Resolved") for m in roots)


def test_incident_text_cannot_format_link_or_mention(repo: Repo, forum: FakeDiscord, cli: Callable[..., Any]) -> None:
    hostile = "@everyone see [free nitro](https://evil.example) **now** ||spoiler|| <@123> # heading\n> quote"
    incident_id = three_entries(repo, message=hostile)
    assert _publish(cli, repo, incident_id).exit_code == 0
    description = forum.messages[0]["edits"][0]["embeds"][0]["description"]
    assert description == escape_markdown(hostile)
    for raw in ("[", "*", "|", "<", "@", "#", ">"):  # every one is escaped with a backslash
        assert not re.search(r"(?<!\\)" + re.escape(raw), description), raw
    assert all(r["params"]["allowed_mentions"] == {"parse": []} for r in forum.requests)


def test_long_update_is_split_never_cut(repo: Repo, forum: FakeDiscord, cli: Callable[..., Any]) -> None:
    words = [f"word{number:05d}" for number in range(1500)]  # ~15,000 characters
    incident_id = three_entries(repo, message=" ".join(words))
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 0, result.output
    thread_id = next(iter(forum.threads))
    refs = _deliveries(cli, repo, incident_id)[0]["refs"]
    assert len(refs) >= 3, "15,000 characters need at least three messages of at most 6,000"
    assert all(ref.startswith(f"{thread_id}/") for ref in refs), "every part is in the incident's thread"
    texts = []
    for ref in refs:
        message = next(m for m in forum.messages if m["id"] == ref.rpartition("/")[2])
        embeds = message["edits"][0]["embeds"] if message["edits"] else message["embeds"]
        texts.extend(embed.get("description", "") for embed in embeds)
    joined = " ".join(texts)
    assert all(word in joined for word in words)


def test_a_long_title_is_kept_whole() -> None:
    title = "T" * 300
    messages = fit_messages({"embeds": [{"title": title, "description": "body"}]})
    embed = messages[0]["embeds"][0]
    assert len(embed["title"]) <= 256 and title in embed["description"]


def test_retries_after_503_and_429(repo: Repo, forum: FakeDiscord, cli: Callable[..., Any]) -> None:
    incident_id = three_entries(repo)
    forum.fail_next(2, status=503)
    forum.rate_limit_next(retry_after=0.05)
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 0, result.output
    deliveries = _deliveries(cli, repo, incident_id)
    assert deliveries[0]["attempts"] == 4 and [d["state"] for d in deliveries] == ["delivered"] * 3
    assert len(forum.messages) == 3


def test_failure_is_recorded_then_finished_next_run(repo: Repo, forum: FakeDiscord, cli: Callable[..., Any]) -> None:
    incident_id = three_entries(repo)
    forum.fail_next(4, status=503)  # MAX_ATTEMPTS: every attempt of this run fails
    failed = _publish(cli, repo, incident_id)
    assert failed.exit_code == 3
    assert "discord: server error 503" in failed.output
    assert forum.messages == []
    done = _publish(cli, repo, incident_id)
    assert done.exit_code == 0, done.output
    assert len(forum.messages) == 3


def test_split_entry_resumes_after_the_parts_that_went_out(
    repo: Repo, forum: FakeDiscord, cli: Callable[..., Any]
) -> None:
    incident_id = three_entries(repo, message=" ".join(f"word{n:05d}" for n in range(1500)))
    # The first part of the first entry goes out; every later request fails for this run.
    original = forum.handle
    calls = {"n": 0}

    def flaky(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > 1:
            return 503, {"message": "unavailable"}, {}
        return original(*args)

    forum.handle = flaky  # type: ignore[method-assign]
    assert _publish(cli, repo, incident_id).exit_code == 3
    assert len(forum.messages) == 1
    assert len(_deliveries(cli, repo, incident_id)[0]["refs"]) == 1
    forum.handle = original  # type: ignore[method-assign]
    assert _publish(cli, repo, incident_id).exit_code == 0
    thread = forum.in_thread(next(iter(forum.threads)))
    texts = [
        embed.get("description", "")
        for m in thread
        for embed in (m["edits"][0]["embeds"] if m["edits"] else m["embeds"])
    ]
    assert sum("word00000" in text for text in texts) == 1, "the part that went out was not sent again"
    assert len(forum.threads) == 1


def test_a_send_cut_off_by_a_crash_is_reported_then_resent_once_on_request(
    repo: Repo, forum: FakeDiscord, cli: Callable[..., Any]
) -> None:
    incident_id = three_entries(repo)
    assert _publish(cli, repo, incident_id).exit_code == 0
    # A later update whose run was killed after recording `pending` (attempt 1): Discord's webhook
    # cannot say whether the post landed, so it is neither resent silently nor skipped silently.
    from incidentctl.lifecycle import add_update

    add_update(repo, incident_id, message="Post-incident: monitoring continues.", status="resolved")
    leave_pending(repo, incident_id, "discord", position=3)
    before = len(forum.messages)
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 3 and "--resend-interrupted" in result.output, result.output
    assert len(forum.messages) == before
    result = cli("publish", incident_id, "--channel", "discord", "--resend-interrupted", repo=repo.root)
    assert result.exit_code == 0, result.output
    posted = [
        m
        for m in forum.messages
        if "monitoring continues" in json.dumps(m["edits"][0]["embeds"] if m["edits"] else m["embeds"])
    ]
    assert len(posted) == 1, "posted once (the root message only shows it through its edit)"
    delivery = _deliveries(cli, repo, incident_id)[3]
    assert (delivery["state"], delivery["ref"], delivery["attempts"]) == ("delivered", posted[0]["id"], 2)


def test_wrong_token_is_fatal_and_never_printed(
    repo: Repo, forum: FakeDiscord, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = forum.url.replace(forum.token, "not-the-right-token-zzz")
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", wrong)
    incident_id = three_entries(repo)
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 3
    assert "DISCORD_WEBHOOK_URL" in result.output and "webhook is unknown or its token is wrong" in result.output
    assert len(forum.requests) == 1, "a fatal error stops the channel for this run"
    assert_secret_nowhere(repo.root, "not-the-right-token-zzz", result.output)


def test_missing_or_malformed_secret_is_named(
    repo: Repo, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    incident_id = three_entries(repo)
    missing = _publish(cli, repo, incident_id)
    assert missing.exit_code == 3 and "DISCORD_WEBHOOK_URL is not set" in missing.stderr  # SPEC: named, exit 3
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", "https://example.com/hooks/secretpart123")
    bad = _publish(cli, repo, incident_id)
    assert bad.exit_code == 3 and "does not look like a webhook URL" in bad.output
    assert "secretpart123" not in bad.output
    assert "Traceback" not in missing.output + bad.output


def test_invalid_settings_are_named(repo: Repo, cli: Callable[..., Any], forum: FakeDiscord) -> None:
    incident_id = three_entries(repo)
    modify_config(repo.root, lambda config: config["channels"]["discord"].update(threads="sideways"))
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 1, "a config error: the settings are checked when the config is loaded"
    assert re.search(r"incidentctl\.yaml:\d+: channels\.discord\.threads: ", result.output), result.output
    assert "Traceback" not in result.output


def test_dry_run_snapshot(repo: Repo, cli: Callable[..., Any]) -> None:
    incident_id = three_entries(repo)
    result = cli("publish", incident_id, "--channel", "discord", "--dry-run", "--json", repo=repo.root)
    assert result.exit_code == 0, result.output
    previews = json.loads(result.stdout)["previews"]
    text = json.dumps(previews, indent=2, ensure_ascii=False, sort_keys=True).replace(incident_id, "<id>") + "\n"
    if not SNAPSHOT.exists():  # first run writes it; review and commit it
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert text == SNAPSHOT.read_text(encoding="utf-8")


def test_a_first_message_marked_sent_by_hand_does_not_block_the_incident(
    repo: Repo, forum: FakeDiscord, cli: Callable[..., Any]
) -> None:
    # The first message's send was cut off; the user saw it in Discord and marked it sent: its id is
    # unknown, so the later entries cannot join its thread: they open the incident's thread anew.
    incident_id = three_entries(repo)
    leave_pending(repo, incident_id, "discord", position=0)
    assert _publish(cli, repo, incident_id).exit_code == 3
    result = cli("publish", incident_id, "--channel", "discord", "--mark-interrupted-sent", repo=repo.root)
    assert result.exit_code == 0, result.output
    deliveries = _deliveries(cli, repo, incident_id)
    assert [d["state"] for d in deliveries] == ["delivered"] * 3 and deliveries[0]["ref"] is None
    assert len(forum.threads) == 1 and len(forum.messages) == 2
    thread_id = next(iter(forum.threads))
    assert [m["id"] for m in forum.in_thread(thread_id)] == [deliveries[1]["ref"], deliveries[2]["ref"]]
    assert forum.messages[0]["edits"], "the thread's first message is edited to the current status"
    assert _publish(cli, repo, incident_id).exit_code == 0 and len(forum.messages) == 2


def test_a_lost_answer_is_never_retried_blindly(repo: Repo, forum: FakeDiscord, cli: Callable[..., Any]) -> None:
    # Discord stores the message, then the connection drops before the answer: a retry could double it
    # and Discord cannot be asked, so the run stops there and says so; the user settles it.
    incident_id = three_entries(repo)
    forum.drop_next(1, after=True, method="execute")
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 3 and "--resend-interrupted" in result.output, result.output
    assert len(forum.messages) == 1, "stored once, not retried"
    assert _publish(cli, repo, incident_id).exit_code == 3 and len(forum.messages) == 1, "reported again, not resent"
    settled = cli("publish", incident_id, "--channel", "discord", "--mark-interrupted-sent", repo=repo.root)
    assert settled.exit_code == 0, settled.output
    # Marked sent by hand: its id is unknown, so the rest of the incident opens a thread of its own (never lost).
    assert all(delivery["state"] == "delivered" for delivery in _deliveries(cli, repo, incident_id))
    assert _publish(cli, repo, incident_id).exit_code == 0


def test_a_refused_connection_is_retried_by_the_next_run(
    repo: Repo, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on: the request never left
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", f"http://127.0.0.1:{port}/api/webhooks/1/token-abc123")
    incident_id = three_entries(repo)
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 3 and "--resend-interrupted" not in result.output, result.output
    first = _deliveries(cli, repo, incident_id)[0]
    assert first["state"] == "failed" and first["attempts"] >= 3

"""Publishing to Slack and X through the real WebClient and tweepy.Client against fake servers."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from incidentctl.channels import RetryPolicy, use_retry_policy
from incidentctl.config import secret_values
from incidentctl.delivery import preview, publish
from incidentctl.lifecycle import add_update, open_incident, resolve_incident
from incidentctl.store import Repo
from testing import FakeSlack, FakeX, git, make_repo, modify_config, no_traceback

STATUS_URL_CONFIG = {
    "output": "site",
    "title": "Example Corp Status",
    "url": "https://status.example.com",
    "deploy": {"command": "true"},  # deployed, so `delivered` (without deploy: `built`)
}


FAST = RetryPolicy(base_delay=0.01, request_timeout=2.0)


@pytest.fixture(autouse=True)
def _fast_retries() -> Iterator[None]:
    with use_retry_policy(FAST):
        yield


@pytest.fixture
def status_repo(tmp_path: Path) -> Repo:
    return make_repo(tmp_path / "status", config={"channels.statuspage": STATUS_URL_CONFIG})


def _incident(repo: Repo, hours_ago: int = 0) -> str:
    from datetime import timedelta

    from incidentctl.durations import utcnow

    change = open_incident(
        repo,
        "API unavailable",
        severity="sev1",
        components={"api": "major_outage"},
        message="We are investigating elevated error rates on the API.",
        next_update="30m",
        at=utcnow() - timedelta(hours=hours_ago) if hours_ago else None,
    )
    return change.incident.id


def _all_request_text(*fakes: Any) -> str:
    return json.dumps([request["params"] for fake in fakes for request in fake.requests], ensure_ascii=False)


def test_threads_root_edit_and_exactly_once(
    status_repo: Repo, slack: FakeSlack, x: FakeX, cli: Callable[..., Any]
) -> None:
    incident_id = _incident(status_repo)
    add_update(status_repo, incident_id, message="Root cause: a bad deploy of the router.", internal=True)
    add_update(status_repo, incident_id, message="Fix identified; rolling back.", status="identified")
    resolve_incident(status_repo, incident_id, message="Error rates are back to normal.")

    result = cli("publish", "--json", repo=status_repo.root)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["failed"] == 0
    assert {(d["channel"], d["state"]) for d in report["deliveries"]} == {
        ("slack", "delivered"),
        ("x", "delivered"),
        ("statuspage", "delivered"),
    }
    assert len(report["deliveries"]) == 9  # 3 public entries x 3 channels

    # Slack: one root message, two replies in its thread, the resolution broadcast, the root edited.
    roots = slack.roots()
    assert len(roots) == 1
    replies = slack.replies(roots[0]["ts"])
    assert [reply["reply_broadcast"] for reply in replies] == [False, True]
    assert roots[0]["edits"], "the root message is edited to show the current state"
    assert roots[0]["text"].startswith("Resolved: API unavailable")
    assert all(message["text"] and message["blocks"] for message in slack.messages)
    assert all(m["metadata"]["event_type"] == "incidentctl_entry" for m in slack.messages)

    # X: one thread of three posts, each replying to the previous.
    chains = x.thread()
    assert len(chains) == 1 and len(chains[0]) == 3
    assert chains[0][0]["text"].startswith("Investigating: API unavailable")
    assert "https://status.example.com/incidents/" in chains[0][0]["text"]

    # The internal note never left the repo.
    assert "bad deploy" not in _all_request_text(slack, x)

    # Deliveries recorded and committed.
    shown = json.loads(cli("show", incident_id, "--json", repo=status_repo.root).stdout)
    public = [entry for entry in shown["timeline"] if entry["visibility"] == "public"]
    assert all(entry["deliveries"]["slack"]["state"] == "delivered" for entry in public)
    assert public[0]["deliveries"]["slack"]["ref"] == roots[0]["ts"]
    assert [entry["deliveries"]["x"]["ref"] for entry in public] == [post["id"] for post in chains[0]]
    internal = [entry for entry in shown["timeline"] if entry["visibility"] == "internal"]
    assert internal[0]["deliveries"] == {}
    log = git(status_repo.root, "log", "-1", "--format=%s")
    assert log.strip() == f"{incident_id}: published (slack: 3 delivered; x: 3 delivered; statuspage: 3 delivered)"
    assert git(status_repo.root, "status", "--porcelain").strip() == ""

    # Second run: nothing is sent again.
    before = (len(slack.requests), len(x.requests))
    again = cli("publish", repo=status_repo.root)
    assert again.exit_code == 0, again.output
    assert (len(slack.requests), len(x.requests)) == before
    assert "nothing to publish" in again.stderr


def test_partial_failure_then_recovery(status_repo: Repo, slack: FakeSlack, x: FakeX, cli: Callable[..., Any]) -> None:
    incident_id = _incident(status_repo)
    x.fail_next(20, status=503)
    result = cli("publish", repo=status_repo.root)
    assert result.exit_code == 3, result.output
    assert no_traceback(result)
    assert "x: server error 503" in result.stderr
    assert len(slack.messages) == 1, "Slack went out although X failed"
    record = status_repo.load(incident_id)
    delivery = record.timeline[0].deliveries["x"]
    assert delivery.state == "failed"
    assert delivery.attempts >= 3
    assert record.timeline[0].deliveries["slack"].state == "delivered"
    assert "x: 1 failed" in git(status_repo.root, "log", "-1", "--format=%s")

    x.faults.clear()
    slack_before = len(slack.requests)
    again = cli("publish", "--json", repo=status_repo.root)
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert [(d["channel"], d["state"]) for d in report["deliveries"]] == [("x", "delivered")]
    assert len(slack.requests) == slack_before, "only what failed is retried"
    assert len(x.posts) == 1


def test_retry_after_on_429(status_repo: Repo, slack: FakeSlack, x: FakeX) -> None:
    _incident(status_repo)
    slack.rate_limit_next(1, retry_after=1, method="chat.postMessage")
    x.rate_limit_next(1, reset_in=1)
    started = time.monotonic()
    report = publish(status_repo)
    elapsed = time.monotonic() - started
    assert report.failed == 0
    assert elapsed >= 0.9, "Retry-After was honoured"
    assert len(slack.messages) == 1 and len(x.posts) == 1
    assert {d.channel: d.attempts for d in report.deliveries}["slack"] == 2


def test_rate_limit_longer_than_budget_fails_fast(status_repo: Repo, slack: FakeSlack) -> None:
    _incident(status_repo)
    slack.rate_limit_next(1, retry_after=120, method="chat.postMessage")
    started = time.monotonic()
    report = publish(status_repo, channels=["slack"])
    assert time.monotonic() - started < 5
    assert report.failed == 1
    assert "rate limited" in (report.deliveries[0].error or "")


def test_connection_dropped_after_post_is_not_posted_twice(status_repo: Repo, slack: FakeSlack, x: FakeX) -> None:
    incident_id = _incident(status_repo)
    add_update(status_repo, incident_id, message="Still investigating.")
    # The request is handled (the message exists) but the response never arrives.
    slack.drop_next(1, after=True, method="chat.postMessage")
    x.drop_next(1, after=True)
    report = publish(status_repo)
    assert report.failed == 0, [d.error for d in report.deliveries]
    assert len(slack.messages) == 2
    assert len(x.posts) == 2
    assert not x.rejected, "the post was found on the account before any resend"
    record = status_repo.load(incident_id)
    assert record.timeline[0].deliveries["slack"].ref == slack.messages[0]["ts"]


def test_timeout_then_found_in_thread(status_repo: Repo, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    incident_id = _incident(status_repo)
    # Every post times out on the client, but the server still posts it.
    slack.method_latency = {"chat.postMessage": 0.6}
    report = publish(status_repo, channels=["slack"], retry=RetryPolicy(base_delay=0.01, request_timeout=0.3))
    slack.method_latency = {}
    assert len(slack.messages) == 1
    # Either the check found it within the run, or it is left for the next run to reconcile.
    if report.failed:
        again = publish(status_repo, channels=["slack"])
        assert again.failed == 0 and again.deliveries[0].reconciled
    assert len(slack.messages) == 1
    assert status_repo.load(incident_id).timeline[0].deliveries["slack"].ref == slack.messages[0]["ts"]


@pytest.mark.parametrize("state", ["pending", "failed"])
def test_interrupted_run_is_reconciled(
    status_repo: Repo, slack: FakeSlack, x: FakeX, monkeypatch: pytest.MonkeyPatch, state: str
) -> None:
    """A run that died between sending and recording: the next run adopts the message instead of resending."""
    incident_id = _incident(status_repo)
    add_update(status_repo, incident_id, message="We are rolling back the deploy.")
    assert publish(status_repo, [incident_id], channels=["slack", "x"]).failed == 0
    resolve_incident(status_repo, incident_id, message="Resolved after the rollback.")
    # No retry inside this run: the send lands, the answer is lost, the delivery stays unrecorded.
    slack.drop_next(1, after=True, method="chat.postMessage")
    x.drop_next(1, after=True)
    one_try = RetryPolicy(max_attempts=1, base_delay=0.01, request_timeout=2.0)
    first = publish(status_repo, [incident_id], channels=["slack", "x"], retry=one_try)
    assert first.failed == 2
    # Simulate the crash: the record says pending (attempts 1), as written before the send.
    record = status_repo.load(incident_id)
    timeline = list(record.timeline)
    last = timeline[-1]
    deliveries = {name: d.model_copy(update={"state": state, "error": None}) for name, d in last.deliveries.items()}
    timeline[-1] = last.model_copy(update={"deliveries": deliveries})
    with status_repo.transaction() as tx:
        tx.save(record.model_copy(update={"timeline": timeline}))
    assert len(slack.messages) == 3 and len(x.posts) == 3

    second = publish(status_repo, [incident_id], channels=["slack", "x"])
    assert second.failed == 0, [d.error for d in second.deliveries]
    assert len(slack.messages) == 3, "Slack: adopted from the thread, not posted again"
    assert len(x.posts) == 3, "X: the resend was refused as a duplicate"
    slack_result = next(d for d in second.deliveries if d.channel == "slack")
    assert slack_result.reconciled
    assert slack_result.ref == slack.messages[-1]["ts"]
    # The root was edited to the resolved state after reconciling.
    assert slack.roots()[0]["text"].startswith("Resolved")


def test_long_and_cjk_text_becomes_a_numbered_thread(status_repo: Repo, slack: FakeSlack, x: FakeX) -> None:
    incident_id = _incident(status_repo)
    long_text = " ".join(f"word{n}" for n in range(120)) + " https://example.com/" + "a" * 200
    add_update(status_repo, incident_id, message=long_text)
    add_update(status_repo, incident_id, message="東京リージョンで障害が発生しています。" * 12 + " 🔥🔥🔥 👩‍👩‍👧")
    report = publish(status_repo, channels=["x", "slack"])
    assert report.failed == 0, [d.error for d in report.deliveries]
    assert not x.rejected
    chain = x.thread()[0]
    assert len(chain) >= 5
    assert any(post["text"].endswith("(1/3)") or post["text"].endswith("(1/2)") for post in chain)
    record = status_repo.load(incident_id)
    long_delivery = record.timeline[1].deliveries["x"]
    assert len(long_delivery.refs) >= 2 and long_delivery.ref == long_delivery.refs[-1]
    # The CJK thread's first part replies to the last part of the long update.
    cjk_first = x.post(record.timeline[2].deliveries["x"].refs[0])
    assert cjk_first["reply_to"] == long_delivery.ref
    assert "東京" in "".join(m["text"] for m in slack.messages)


def test_repeated_identical_updates_are_distinct_on_x(status_repo: Repo, x: FakeX) -> None:
    incident_id = _incident(status_repo, hours_ago=2)  # the updates below are backfilled: --at is never future
    from datetime import timedelta

    start = status_repo.load(incident_id).started_at
    add_update(status_repo, incident_id, message="Still investigating.", at=start + timedelta(minutes=20))
    add_update(status_repo, incident_id, message="Still investigating.", at=start + timedelta(minutes=50))
    add_update(status_repo, incident_id, message="Still investigating.", at=start + timedelta(minutes=50, seconds=5))
    report = publish(status_repo, channels=["x"])
    assert report.failed == 0, [d.error for d in report.deliveries]
    assert len({post["text"] for post in x.posts}) == 4


def test_long_updates_ending_alike_are_not_refused_as_duplicates(status_repo: Repo, x: FakeX) -> None:
    """Two long updates whose last post would be the same (e.g. only the status page link)."""
    from datetime import timedelta

    incident_id = _incident(status_repo, hours_ago=2)
    start = status_repo.load(incident_id).started_at
    for minutes, opening in ((20, "First long update."), (50, "Second long update.")):
        body = opening + " " + " ".join(["Recovery is progressing in every region."] * 7)
        add_update(status_repo, incident_id, message=body, at=start + timedelta(minutes=minutes))
    report = publish(status_repo, channels=["x"])
    assert report.failed == 0, [d.error for d in report.deliveries]
    assert not x.rejected
    texts = [post["text"] for post in x.posts]
    assert len(texts) == len(set(texts)) and len(texts) >= 5


def test_dry_run_needs_no_credentials_and_sends_nothing(status_repo: Repo, cli: Callable[..., Any]) -> None:
    incident_id = _incident(status_repo)
    add_update(status_repo, incident_id, message="internal: customer X escalated", internal=True)
    head = git(status_repo.root, "rev-parse", "HEAD")
    result = cli("publish", "--dry-run", repo=status_repo.root)
    assert result.exit_code == 0, result.output
    assert "--- slack" in result.stdout and "--- x" in result.stdout and "--- statuspage" in result.stdout
    assert '"blocks"' in result.stdout
    assert "Investigating: API unavailable" in result.stdout
    assert "customer X escalated" not in result.stdout
    assert git(status_repo.root, "rev-parse", "HEAD") == head
    assert git(status_repo.root, "status", "--porcelain").strip() == ""

    as_json = json.loads(cli("publish", "--dry-run", "--json", "--channel", "x", repo=status_repo.root).stdout)
    assert as_json["dry_run"] is True
    assert [p["channel"] for p in as_json["previews"]] == ["x"]
    assert as_json["previews"][0]["payload"]["parts"][0].startswith("Investigating")


def test_preview_renders_every_channel_for_each_public_entry(status_repo: Repo) -> None:
    from incidentctl.render import sample_incidents

    samples = sample_incidents()
    assert samples, "the packaged samples exist"
    incident = samples[0]
    previews = preview(status_repo, incident)
    public = len(incident.public_entries)
    channels = status_repo.config.configured_channels()
    assert len([p for p in previews if p.kind != "edit"]) == public * len(channels)
    assert {p.channel for p in previews} == set(channels)
    for item in previews:
        if item.channel == "x":
            from incidentctl.channels.x import weighted_length

            assert all(weighted_length(part) <= 280 for part in item.payload["parts"])


def test_secrets_never_in_output_yaml_or_commits(
    status_repo: Repo, slack: FakeSlack, x: FakeX, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    incident_id = _incident(status_repo)
    slack.token = "xoxb-the-real-one"  # ours no longer matches: invalid_auth
    x.credentials["X_API_SECRET"] = "rotated"  # signature no longer verifies: 401
    result = cli("publish", "--json", repo=status_repo.root)
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    errors = {d["channel"]: d["error"] for d in report["deliveries"] if d["error"]}
    assert errors["slack"].startswith("slack: invalid_auth: SLACK_BOT_TOKEN is not a valid token")
    assert errors["x"].startswith("x: 401 Unauthorized: check X_API_KEY")
    assert all("\n" not in error for error in errors.values())
    secrets = secret_values()
    assert len(secrets) == 5
    record_text = status_repo.record_path(incident_id).read_text(encoding="utf-8")
    history = git(status_repo.root, "log", "-p", "--all")
    for secret in secrets:
        assert secret not in result.output
        assert secret not in record_text
        assert secret not in history
    text = cli("publish", repo=status_repo.root)
    for secret in secrets:
        assert secret not in text.output


def test_slack_channel_not_found_is_one_clear_line_and_x_still_goes(
    tmp_path: Path, slack: FakeSlack, x: FakeX, cli: Callable[..., Any]
) -> None:
    repo = make_repo(tmp_path / "status", config={"channels.slack.channel": "#nowhere"})
    _incident(repo)
    result = cli("publish", repo=repo.root)
    assert result.exit_code == 3
    assert (
        "slack: channel_not_found: invite the bot to #nowhere or fix channels.slack.channel in incidentctl.yaml"
        in result.stderr
    )
    assert len(x.posts) == 1
    assert no_traceback(result)


def test_not_in_channel_stops_the_channel_not_the_run(status_repo: Repo, slack: FakeSlack, x: FakeX) -> None:
    first = _incident(status_repo)
    second = open_incident(status_repo, "Website slow", severity="sev3", message="Pages load slowly.").incident.id
    slack.members.clear()
    report = publish(status_repo)
    slack_results = [d for d in report.deliveries if d.channel == "slack"]
    assert {d.incident_id for d in slack_results} == {first, second}
    assert all(d.state == "failed" and "not_in_channel" in (d.error or "") for d in slack_results)
    assert len([r for r in slack.requests if r["method"] == "chat.postMessage"]) == 1, "a fatal error stops the channel"
    assert len(x.posts) == 2


def test_publish_flag_on_new_update_resolve(
    status_repo: Repo, slack: FakeSlack, x: FakeX, cli: Callable[..., Any]
) -> None:
    opened = cli(
        "new",
        "Login failing",
        "--severity",
        "sev2",
        "-m",
        "Logins fail for some users.",
        "--publish",
        repo=status_repo.root,
    )
    assert opened.exit_code == 0, opened.output
    incident_id = opened.stdout.strip().splitlines()[0]
    assert len(slack.messages) == 1 and len(x.posts) == 1
    updated = cli(
        "update", incident_id, "-m", "Fix deployed.", "--status", "monitoring", "--publish", repo=status_repo.root
    )
    assert updated.exit_code == 0, updated.output
    resolved = cli("resolve", incident_id, "-m", "All good.", "--publish", repo=status_repo.root)
    assert resolved.exit_code == 0, resolved.output
    assert len(slack.messages) == 3 and len(x.posts) == 3
    assert slack.messages[-1]["reply_broadcast"] is True
    x.fail_next(20, status=500)
    failing = cli(
        "update", incident_id, "-m", "Reopened.", "--status", "investigating", "--publish", repo=status_repo.root
    )
    assert failing.exit_code == 3


def test_resolved_history_is_not_backfilled_to_a_new_channel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An incident resolved before Slack was configured is not posted there, unless named."""
    repo = make_repo(tmp_path / "status", config=lambda config: config["channels"].pop("slack"))
    incident_id = _incident(repo)
    resolve_incident(repo, incident_id)
    modify_config(repo.root, lambda config: config["channels"].update(slack={"channel": "#incidents"}))
    repo = Repo.open(repo.root)
    with FakeSlack() as slack:
        monkeypatch.setenv("INCIDENTCTL_SLACK_API_URL", slack.url)
        monkeypatch.setenv("SLACK_BOT_TOKEN", slack.token)
        report = publish(repo, channels=["slack"])
        assert report.deliveries == [] and slack.messages == []
        named = publish(repo, [incident_id], channels=["slack"])
        assert named.failed == 0 and len(slack.messages) == 2


def test_entries_written_without_secrets_are_still_meant_for_configured_channels(
    status_repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pending marks come from the config, not from whoever wrote the entry had secrets set."""
    incident_id = _incident(status_repo)  # no secrets set in this process
    resolve_incident(status_repo, incident_id)
    with FakeSlack() as slack:
        monkeypatch.setenv("INCIDENTCTL_SLACK_API_URL", slack.url)
        monkeypatch.setenv("SLACK_BOT_TOKEN", slack.token)
        report = publish(status_repo, channels=["slack"])
        assert report.failed == 0 and len(slack.messages) == 2


def test_open_incident_gets_missing_deliveries_when_channel_enabled(
    status_repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    _incident(status_repo)
    with FakeSlack() as slack:
        monkeypatch.setenv("INCIDENTCTL_SLACK_API_URL", slack.url)
        monkeypatch.setenv("SLACK_BOT_TOKEN", slack.token)
        report = publish(status_repo)
        assert [d.channel for d in report.deliveries] == ["slack", "statuspage"]
        assert len(slack.messages) == 1


def test_channels_run_in_parallel(tmp_path: Path, slack: FakeSlack, x: FakeX) -> None:
    """Slack's and X's sends are in flight at the same time (timing goals live in benchmarks/)."""
    from twitter_text import parse_tweet

    parse_tweet("warm up")  # twitter-text compiles its patterns on first use (about a second)
    slack.latency = x.latency = 0.5
    repo = make_repo(tmp_path / "status")
    open_incident(repo, "API unavailable", severity="sev1", message="Investigating.")
    report = publish(repo, channels=["slack", "x"])
    assert report.failed == 0, [d.error for d in report.deliveries]
    (post,) = [r for r in slack.requests if r["method"] == "chat.postMessage"]
    (tweet,) = [r for r in x.requests if r["method"].endswith("/tweets")]
    assert max(post["received"], tweet["received"]) < min(post["answered"], tweet["answered"]), (post, tweet)


def test_unknown_channel_option_is_a_usage_error(status_repo: Repo, cli: Callable[..., Any]) -> None:
    result = cli("publish", "--channel", "mastodon", repo=status_repo.root)
    assert result.exit_code == 2
    assert "not configured" in result.stderr
    missing = cli("publish", "--channel", "slack", repo=status_repo.root)
    assert missing.exit_code == 3  # SPEC "What a user is always told": named, exit 3
    assert "SLACK_BOT_TOKEN is not set" in missing.stderr


def test_a_plugin_publisher_through_the_registry(tmp_path: Path) -> None:
    """A third-party channel (say Mastodon) needs no change to the core: register it and configure it."""
    from incidentctl.channels import BaseChannel, ConnectContext, Message, RenderContext, Sent, register, unregister

    received: list[str] = []

    class EchoSender:
        def send(self, incident: Any, timeline_index: int, message: Message) -> Sent:
            received.append(message.text)
            return Sent(ref=f"echo-{len(received)}")

        def find_sent(self, incident: Any, timeline_index: int, message: Message) -> Sent | None:
            return None

        def finish(self, incident: Any, latest: Message | None) -> None:
            return None

    class EchoPublisher(BaseChannel):
        name = "echo"

        def render(self, context: RenderContext) -> Message:
            return Message(channel="echo", text=f"{context.incident.title}: {context.entry.message}")

        def connect(self, context: ConnectContext) -> EchoSender:
            return EchoSender()

    register(EchoPublisher())
    try:
        repo = make_repo(tmp_path / "status", config=lambda config: config["channels"].update(echo={}))
        _incident(repo)
        report = publish(repo, channels=["echo"])
        assert report.failed == 0
        assert received == ["API unavailable: We are investigating elevated error rates on the API."]
        assert repo.load(repo.ids()[0]).timeline[0].deliveries["echo"].ref == "echo-1"
    finally:
        unregister("echo")


def test_cli_subprocess_selects_the_fakes_from_the_environment(status_repo: Repo, slack: FakeSlack, x: FakeX) -> None:
    """The real console entry point, the documented env vars, exit codes as a shell sees them."""
    import os

    from testing import run_subprocess

    incident_id = _incident(status_repo)
    env = {name: os.environ[name] for name in ("INCIDENTCTL_SLACK_API_URL", "INCIDENTCTL_X_API_URL", "SLACK_BOT_TOKEN")}
    env.update(x.credentials)
    result = run_subprocess("--repo", str(status_repo.root), "publish", incident_id[:10], "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["failed"] == 0
    assert len(slack.messages) == 1 and len(x.posts) == 1
    x.fail_next(50, status=502)
    add_update(status_repo, incident_id, message="Still working on it.")
    failed = run_subprocess("--repo", str(status_repo.root), "publish", env=env)
    assert failed.returncode == 3
    assert "x: server error 502" in failed.stderr
    assert "Traceback" not in failed.stderr
    for secret in secret_values():
        assert secret not in failed.stdout + failed.stderr


def test_the_request_timeout_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import contextvars

    from incidentctl.channels.base import current_retry_policy
    from testing import run_subprocess

    monkeypatch.setenv("INCIDENTCTL_REQUEST_TIMEOUT", "12.5")
    fresh = contextvars.Context()  # outside this module's fast test policy
    assert fresh.run(current_retry_policy).request_timeout == 12.5
    repo = make_repo(tmp_path / "status")
    result = run_subprocess("publish", cwd=repo.root, env={"INCIDENTCTL_REQUEST_TIMEOUT": "soon"})
    assert result.returncode == 1 and "INCIDENTCTL_REQUEST_TIMEOUT='soon'" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr

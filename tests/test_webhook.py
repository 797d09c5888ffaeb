"""Webhook subscribers end to end: `incidentctl publish` on a real repo, a fake receiver on 127.0.0.1,
signatures checked with the `standardwebhooks` library."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from incidentctl.channels import RetryPolicy, use_retry_policy, webhook
from incidentctl.lifecycle import add_update, open_incident, resolve_incident
from incidentctl.model import Delivery
from incidentctl.store import Repo
from testing import git, make_repo, no_traceback
from testing.fakes.webhook_receiver import WebhookReceiver

WHSEC = "whsec_" + base64.b64encode(b"a-very-secret-signing-key-123456").decode()
PLAIN = "plain-shared-secret-xyz"


@pytest.fixture(autouse=True)
def _fast_retries() -> Iterator[None]:
    with use_retry_policy(RetryPolicy(base_delay=0.01, request_timeout=2.0)):
        yield


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as fake:
        yield fake


def _config(config: Any) -> None:
    """Webhook subscribers only: `channels` is just `webhook: {}` (a configured channel without its secrets
    would exit 3, SPEC)."""
    config["channels"].clear()
    config["channels"]["webhook"] = {}


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return make_repo(tmp_path / "status", config=_config)


@pytest.fixture
def subscribers(tmp_path: Path, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three subscribers: everything, only `web`, only `api` (kept outside the repo, as in production)."""
    path = tmp_path / "secrets" / "webhooks.yaml"
    path.parent.mkdir()
    path.write_text(
        f"- {{id: all, url: '{receiver.url('/hooks/all')}', secret: '{WHSEC}'}}\n"
        f"- {{id: web-team, url: '{receiver.url('/hooks/web')}', secret: '{PLAIN}', components: [web]}}\n"
        f"- {{id: api-team, url: '{receiver.url('/hooks/api')}', secret: '{WHSEC}', components: [api]}}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv(webhook.SUBSCRIBERS_ENV, str(path))
    return path


def _incident(repo: Repo) -> str:
    return open_incident(
        repo,
        "API unavailable",
        severity="sev1",
        components={"api": "major_outage"},
        message="We are investigating elevated error rates on the API.",
        next_update="30m",
    ).incident.id


def _assert_nothing_leaked(repo: Repo, receiver: WebhookReceiver, *outputs: str) -> None:
    history = git(repo.root, "log", "-p", "--all")
    files = "\n".join(
        path.read_text(encoding="utf-8", errors="replace")
        for path in repo.root.rglob("*")
        if path.is_file() and ".git" not in path.parts
    )
    for text in (history, files, *outputs):
        assert receiver.base_url not in text
        assert f"127.0.0.1:{receiver.port}" not in text
        assert WHSEC not in text and WHSEC[6:] not in text
        assert PLAIN not in text


def test_signed_statuspage_shape_filtered_and_exactly_once(
    repo: Repo, receiver: WebhookReceiver, subscribers: Path, cli: Callable[..., Any]
) -> None:
    incident_id = _incident(repo)
    add_update(repo, incident_id, message="Root cause: the router config push.", internal=True)
    add_update(repo, incident_id, message="Fix identified; rolling back.", status="identified")
    resolve_incident(repo, incident_id, message="Error rates are back to normal.")

    result = cli("publish", "--json", repo=repo.root)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(d["channel"], d["state"]) for d in report["deliveries"]] == [("webhook", "delivered")] * 3

    # Component filter: the web team hears nothing of an API incident.
    assert len(receiver.received("/hooks/all")) == 3
    assert len(receiver.received("/hooks/api")) == 3
    assert receiver.received("/hooks/web") == []

    # Standard Webhooks signatures, checked by the reference library (whsec_ and plain secrets).
    for item in receiver.received("/hooks/all") + receiver.received("/hooks/api"):
        assert Webhook(WHSEC).verify(item["raw"], item["headers"]) == item["body"]
        assert item["headers"]["webhook-signature"].startswith("v1,")
        assert item["headers"]["content-type"] == "application/json"
    ids_all = [item["headers"]["webhook-id"] for item in receiver.received("/hooks/all")]
    ids_api = [item["headers"]["webhook-id"] for item in receiver.received("/hooks/api")]
    assert len(set(ids_all)) == 3 and not set(ids_all) & set(ids_api), "one id per entry and subscriber"

    # Statuspage's webhook shape; the internal note never leaves.
    first, second, last = (item["body"] for item in receiver.received("/hooks/all"))
    assert set(first) == {"meta", "page", "incident", "component_update", "component"}
    assert set(first["meta"]) == {"unsubscribe", "documentation"}
    assert first["page"] == {
        "id": "example-corp",
        "status_indicator": "critical",
        "status_description": "Major System Outage",
    }
    assert first["component_update"]["old_status"] == "operational"
    assert first["component_update"]["new_status"] == "major_outage"
    assert first["component_update"]["component_id"] == "api"
    assert set(first["component_update"]) == {"created_at", "new_status", "old_status", "id", "component_id"}
    assert first["component"] == {"id": "api", "name": "API", "status": "major_outage"}
    incident = first["incident"]
    assert (
        incident["id"] == incident_id
        and incident["name"] == "API unavailable"
        and incident["status"] == "investigating"
    )
    assert incident["impact"] == "critical"
    assert [u["body"] for u in incident["incident_updates"]] == [
        "We are investigating elevated error rates on the API."
    ]
    assert "component_update" not in second, "no component changed in the second entry"
    assert [u["status"] for u in second["incident"]["incident_updates"]] == ["identified", "investigating"]
    assert last["incident"]["status"] == "resolved" and last["incident"]["resolved_at"]
    assert last["component_update"]["old_status"] == "major_outage"
    assert last["component_update"]["new_status"] == "operational"
    assert last["page"]["status_indicator"] == "none"
    assert [u["status"] for u in last["incident"]["incident_updates"]] == ["resolved", "identified", "investigating"]
    everything = json.dumps([item["body"] for item in receiver.accepted])
    assert "router config" not in everything

    # Per-subscriber delivery recorded as subscriber ids; committed.
    record = repo.load(incident_id)
    public = [entry for entry in record.timeline if entry.public]
    assert all(entry.deliveries["webhook"].state == "delivered" for entry in public)
    assert all(entry.deliveries["webhook"].refs == ["all", "api-team"] for entry in public)
    assert git(repo.root, "log", "-1", "--format=%s").strip() == f"{incident_id}: published (webhook: 3 delivered)"

    # Second run: nothing is sent again.
    before = len(receiver.requests)
    again = cli("publish", repo=repo.root)
    assert again.exit_code == 0, again.output
    assert len(receiver.requests) == before
    _assert_nothing_leaked(repo, receiver, result.output, again.output)


def test_503_is_retried_and_only_the_failing_subscriber_is_resent(
    repo: Repo, receiver: WebhookReceiver, subscribers: Path, cli: Callable[..., Any]
) -> None:
    _incident(repo)
    receiver.fail_next(2, status=503, method="/hooks/api")
    result = cli("publish", "--json", repo=repo.root)
    assert result.exit_code == 0, result.output
    (delivery,) = json.loads(result.stdout)["deliveries"]
    assert delivery["state"] == "delivered" and delivery["attempts"] == 3
    assert receiver.attempts("/hooks/api") == 3
    assert len(receiver.received("/hooks/api")) == 1
    assert receiver.attempts("/hooks/all") == 1, "a retry never resends to a subscriber that already has it"


def test_a_failing_subscriber_never_stops_the_others_and_is_retried_next_run(
    repo: Repo, receiver: WebhookReceiver, subscribers: Path, cli: Callable[..., Any]
) -> None:
    incident_id = _incident(repo)
    receiver.fail_next(1, status=302, headers={"Location": receiver.url("/hooks/elsewhere")}, method="/hooks/api")
    result = cli("publish", repo=repo.root)
    assert result.exit_code == 3, result.output
    assert no_traceback(result)
    assert (
        "webhook: 1 of 2 subscribers not delivered (api-team: HTTP 302 (redirects are not followed))" in result.stderr
    )
    assert receiver.attempts("/hooks/api") == 1, "a redirect is a failure: neither followed nor retried in the run"
    assert receiver.attempts("/hooks/elsewhere") == 0
    assert len(receiver.received("/hooks/all")) == 1
    delivery = repo.load(incident_id).timeline[0].deliveries["webhook"]
    assert delivery.state == "failed" and delivery.refs == ["all"]
    assert "webhook: 1 failed" in git(repo.root, "log", "-1", "--format=%s")

    again = cli("publish", "--json", repo=repo.root)
    assert again.exit_code == 0, again.output
    assert receiver.attempts("/hooks/all") == 1, "the subscriber that had it is never sent it again"
    assert len(receiver.received("/hooks/api")) == 1
    delivery = repo.load(incident_id).timeline[0].deliveries["webhook"]
    assert delivery.state == "delivered" and delivery.refs == ["all", "api-team"]
    _assert_nothing_leaked(repo, receiver, result.output, again.output)


def _leave_pending(repo: Repo, incident_id: str, refs: list[str]) -> None:
    """What a run killed mid-send leaves: the delivery `pending` with attempts > 0."""
    incident = repo.load(incident_id)
    entry = incident.timeline[0]
    entry = entry.model_copy(update={"deliveries": {"webhook": Delivery(state="pending", attempts=1, refs=refs)}})
    repo.save(incident.model_copy(update={"timeline": [entry, *incident.timeline[1:]]}))


def test_a_crashed_run_is_finished_without_a_double_send(
    repo: Repo, receiver: WebhookReceiver, subscribers: Path, cli: Callable[..., Any]
) -> None:
    incident_id = _incident(repo)
    # Killed after `all` answered and was recorded, before `api-team` was tried.
    _leave_pending(repo, incident_id, ["all"])
    result = cli("publish", repo=repo.root)
    assert result.exit_code == 0, result.output
    assert receiver.attempts("/hooks/all") == 0
    assert len(receiver.received("/hooks/api")) == 1
    delivery = repo.load(incident_id).timeline[0].deliveries["webhook"]
    assert delivery.state == "delivered" and delivery.refs == ["all", "api-team"] and delivery.attempts == 2

    # Killed after every subscriber was recorded, before the delivery was marked: adopted, nothing sent.
    _leave_pending(repo, incident_id, ["all", "api-team"])
    before = len(receiver.requests)
    again = cli("publish", "--json", repo=repo.root)
    assert again.exit_code == 0, again.output
    assert len(receiver.requests) == before
    assert json.loads(again.stdout)["deliveries"][0]["reconciled"] is True

    # Killed after a subscriber answered but before anything was recorded: it gets the same
    # webhook-id again, so the receiver recognises the duplicate.
    _leave_pending(repo, incident_id, [])
    third = cli("publish", repo=repo.root)
    assert third.exit_code == 0, third.output
    assert len(receiver.received("/hooks/all")) == 1
    assert len(receiver.received("/hooks/api")) == 2
    assert len(receiver.unique_ids("/hooks/api")) == 1


def test_a_timeout_is_retried_with_the_same_webhook_id(
    repo: Repo, receiver: WebhookReceiver, subscribers: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.drop_next(1, after=True, method="/hooks/api")
    incident_id = _incident(repo)
    with use_retry_policy(RetryPolicy(base_delay=0.01, request_timeout=0.3)):
        result = cli("publish", "--json", repo=repo.root) if incident_id else None
    assert result is not None and result.exit_code == 0, result.output if result else ""
    assert len(receiver.received("/hooks/api")) == 2
    assert len(receiver.unique_ids("/hooks/api")) == 1


def test_dry_run_shows_the_body_and_needs_no_network_or_subscribers(
    repo: Repo, receiver: WebhookReceiver, cli: Callable[..., Any]
) -> None:
    _incident(repo)
    result = cli("publish", "--dry-run", "--json", repo=repo.root)
    assert result.exit_code == 0, result.output
    (preview,) = [p for p in json.loads(result.stdout)["previews"] if p["channel"] == "webhook"]
    assert preview["channel"] == "webhook"
    assert preview["payload"]["body"]["incident"]["name"] == "API unavailable"
    assert preview["payload"]["body"]["component_update"]["component_id"] == "api"
    text = cli("publish", "--dry-run", repo=repo.root)
    assert text.exit_code == 0 and '"incident_updates"' in text.stdout
    assert receiver.requests == []
    delivery = repo.load(repo.ids()[0]).timeline[0].deliveries.get("webhook")
    assert delivery is None or delivery.state == "pending", "a dry run records nothing"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "- {id: a, url: 'ftp://hooks.example.com/x?token=S3CR3T-TOKEN', secret: s}\n",
            "item 1 (id 'a'): url: must be an http(s) URL",
        ),
        (
            "- {id: a, url: 'https://hooks.example.com/x?token=S3CR3T-TOKEN', secret: 'whsec_!!'}\n",
            "item 1 (id 'a'): secret: a whsec_ secret must not be empty",
        ),
        (
            "- {id: a, url: 'https://hooks.example.com/x?token=S3CR3T-TOKEN'}\n",
            "item 1 (id 'a'): secret: Field required",
        ),
        (
            "- {id: a, url: 'https://hooks.example.com/x?token=S3CR3T-TOKEN', secret: s, components: [nope]}\n",
            "a: components: unknown component 'nope'",
        ),
        (
            "- {id: a, url: 'https://h.example.com/S3CR3T-TOKEN', secret: s}\n- {id: a, url: 'https://h.example.com/S3CR3T-TOKEN', secret: s}\n",
            "subscriber id 'a' is used twice",
        ),
        (
            "- {id: a, url: 'https://hooks.example.com/x?token=S3CR3T-TOKEN', secret: [S3CR3T-TOKEN\n",
            "line 2: not valid YAML or JSON",
        ),
        ("{id: a, url: 'https://hooks.example.com/S3CR3T-TOKEN'}\n", "expected a list of subscribers"),
    ],
)
def test_bad_subscribers_file_is_one_line_without_urls_or_secrets(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Any], content: str, expected: str
) -> None:
    _incident(repo)
    path = tmp_path / "subscribers.yaml"
    path.write_text(content, encoding="utf-8")
    monkeypatch.setenv(webhook.SUBSCRIBERS_ENV, str(path))
    result = cli("publish", repo=repo.root)
    assert result.exit_code == 3, result.output
    assert no_traceback(result)
    assert expected in result.output
    assert "S3CR3T" not in result.output and "example.com" not in result.output
    assert "S3CR3T" not in git(repo.root, "log", "-p")


def test_missing_subscribers_variable_names_it(repo: Repo, cli: Callable[..., Any]) -> None:
    """Like Slack without its token: configured but not usable, so never skipped silently (SPEC "What a
    user is always told"): named on stderr, exit 3, the entry stays pending; the same with --channel."""
    incident_id = _incident(repo)
    for args in ((), ("--channel", "webhook")):
        result = cli("publish", *args, repo=repo.root)
        assert result.exit_code == 3, result.output
        assert no_traceback(result)
        assert f"webhook: {webhook.SUBSCRIBERS_ENV} is not set" in result.stderr
        deliveries = repo.load(incident_id).timeline[0].deliveries
        assert "webhook" not in deliveries or deliveries["webhook"].state == "pending"


def test_plain_secret_matches_the_reference_library() -> None:
    body = b'{"x":1}'
    header = webhook.sign(PLAIN, "msg_1", 1_700_000_000, body)
    expected = Webhook(PLAIN.encode()).sign(
        "msg_1", __import__("datetime").datetime.fromtimestamp(1_700_000_000, __import__("datetime").UTC), body.decode()
    )
    assert header == expected
    assert webhook.sign(WHSEC, "msg_1", 1_700_000_000, body) == Webhook(WHSEC).sign(
        "msg_1", __import__("datetime").datetime.fromtimestamp(1_700_000_000, __import__("datetime").UTC), body.decode()
    )


def test_subprocess_publish_finds_the_channel_by_entry_point(
    repo: Repo, receiver: WebhookReceiver, subscribers: Path, tmp_path: Path
) -> None:
    """`channels: {webhook: {}}` works through a real `incidentctl publish` process."""
    import os
    import sys

    _incident(repo)
    env = {**os.environ, webhook.SUBSCRIBERS_ENV: str(subscribers)}
    result = subprocess.run(
        [sys.executable, "-m", "incidentctl", "publish"],
        cwd=repo.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert len(receiver.received("/hooks/all")) == 1
    _assert_nothing_leaked(repo, receiver, result.stdout, result.stderr)

"""The ``atlassian`` channel end to end: real ``incidentctl publish`` against a fake Statuspage REST API.

One Statuspage incident per incident (created on the first public entry, PATCHed with each later
one), component statuses through the mapping, our id in its metadata, at most one request per
second per key, retries after 503/429, and a crashed run finished without a second incident.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from incidentctl.channels import RetryPolicy, use_retry_policy
from incidentctl.lifecycle import add_update, open_incident, resolve_incident
from incidentctl.store import Repo
from testing import git, make_repo
from testing.fakes.fake_atlassian import DEFAULT_PAGE, FakeAtlassian

MAPPING = {"api": "cmpapi000001", "web": "cmpweb000002"}
INCIDENTS_PATH = f"/v1/pages/{DEFAULT_PAGE}/incidents"
FAST = RetryPolicy(base_delay=0.01, max_delay=0.05, budget_seconds=30)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAtlassian]:
    with FakeAtlassian() as fake:
        monkeypatch.setenv("INCIDENTCTL_ATLASSIAN_API_URL", fake.url)
        monkeypatch.setenv("STATUSPAGE_API_KEY", fake.key)
        yield fake


@pytest.fixture
def mirror_repo(tmp_path: Path) -> Repo:
    def edit(config: Any) -> None:
        config["channels"].update(atlassian={"page_id": DEFAULT_PAGE, "components": dict(MAPPING)})

    return make_repo(tmp_path / "status", config=edit)


def _open(repo: Repo) -> str:
    return open_incident(
        repo,
        "API & website unavailable",
        severity="sev1",
        components={"api": "major_outage", "web": "partial_outage", "chatgpt": "degraded_performance"},
        message="We are investigating failed requests.",
    ).incident.id


def _publish(cli: Callable[..., Any], repo: Repo, policy: RetryPolicy = FAST) -> dict[str, Any]:
    with use_retry_policy(policy):
        result = cli("publish", "--json", "--channel", "atlassian", repo=repo.root)
    assert result.exit_code in (0, 3), result.output
    report: dict[str, Any] = json.loads(result.stdout)
    report["_output"] = result.output
    return report


def _states(report: dict[str, Any]) -> list[tuple[str, int]]:
    return [(d["state"], d["attempts"]) for d in report["deliveries"]]


def _gaps(api: FakeAtlassian) -> list[float]:
    times = [request["received"] for request in api.requests]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def test_create_then_patch_through_publish(
    mirror_repo: Repo, api: FakeAtlassian, cli: Callable[..., Any], tmp_path: Path
) -> None:
    repo = mirror_repo
    incident_id = _open(repo)
    add_update(repo, incident_id, message="We identified a bad deploy & are rolling back.", status="identified")

    report = _publish(cli, repo)
    assert _states(report) == [("delivered", 1), ("delivered", 1)], report["_output"]
    (remote,) = api.incidents
    assert remote["name"] == "API & website unavailable"
    assert remote["metadata"] == {"incidentctl": {"id": incident_id}}
    assert remote["status"] == "identified"
    assert [u["body"] for u in reversed(remote["incident_updates"])] == [
        "We are investigating failed requests.",
        "We identified a bad deploy & are rolling back.",
    ]
    assert api.components == {"cmpapi000001": "major_outage", "cmpweb000002": "partial_outage"}, "mapped only"
    assert sorted(remote["component_ids"]) == sorted(MAPPING.values())
    first_write = api.writes()[0]["params"]["incident"]
    assert first_write["deliver_notifications"] is True
    assert all(r["headers"]["authorization"] == f"OAuth {api.key}" for r in api.requests)

    resolve_incident(repo, incident_id, message="All requests succeed again.")
    report = _publish(cli, repo)
    assert _states(report) == [("delivered", 1)]
    assert len(api.incidents) == 1 and remote["status"] == "resolved"
    assert api.components == {"cmpapi000001": "operational", "cmpweb000002": "operational"}
    assert [r["params"]["_verb"] for r in api.requests] == ["POST", "PATCH", "PATCH"]
    assert api.rate_violations == [] and min(_gaps(api)) >= 0.98, "one request per second per key"

    record = repo.load(incident_id)
    refs = [entry.deliveries["atlassian"].ref for entry in record.timeline]
    assert refs[0] == remote["id"]
    assert refs[1:] == [u["id"] for u in reversed(remote["incident_updates"])][1:]
    assert git(repo.root, "status", "--porcelain") == ""

    with use_retry_policy(FAST):
        again = cli("publish", "--channel", "atlassian", repo=repo.root)
    assert again.exit_code == 0 and "nothing to publish" in again.stderr
    assert len(api.requests) == 3

    # The key never reaches output, records, history or the site.
    outputs = report["_output"] + again.output
    assert api.key not in outputs
    assert api.key not in git(repo.root, "log", "-p", "--all")
    for path in repo.root.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            assert api.key not in path.read_text(encoding="utf-8", errors="replace"), path


def test_retries_after_503_and_429_create_one_incident(
    mirror_repo: Repo, api: FakeAtlassian, cli: Callable[..., Any]
) -> None:
    _open(mirror_repo)
    api.fail_next(1, status=503)
    api.rate_limit_next(1, retry_after=1)
    report = _publish(cli, mirror_repo)
    assert _states(report) == [("delivered", 3)], report["_output"]
    assert len(api.incidents) == 1
    assert api.rate_violations == []


def test_a_crashed_create_and_a_crashed_update_are_found_not_repeated(
    mirror_repo: Repo, api: FakeAtlassian, cli: Callable[..., Any]
) -> None:
    repo = mirror_repo
    incident_id = _open(repo)
    once = RetryPolicy(max_attempts=1, base_delay=0.01)

    # The POST lands but the answer is lost, and the run ends (no retry): recorded as tried once.
    api.drop_next(1, after=True, method=INCIDENTS_PATH)
    report = _publish(cli, repo, once)
    assert _states(report) == [("failed", 1)]
    assert len(api.incidents) == 1
    assert repo.load(incident_id).timeline[0].deliveries["atlassian"].attempts == 1

    # The next run looks the incident up by our id in its metadata instead of creating another.
    report = _publish(cli, repo)
    assert _states(report) == [("delivered", 1)]
    assert report["deliveries"][0]["reconciled"] is True
    assert len(api.incidents) == 1
    assert [r["params"]["_verb"] for r in api.writes()] == ["POST"]
    assert repo.load(incident_id).timeline[0].deliveries["atlassian"].ref == api.incidents[0]["id"]

    # The same for a later entry: the PATCH lands, the answer is lost; the next run compares the newest update.
    add_update(repo, incident_id, message="Rolling back.", status="identified")
    api.drop_next(1, after=True, method=f"{INCIDENTS_PATH}/{api.incidents[0]['id']}")
    assert _states(_publish(cli, repo, once)) == [("failed", 1)]
    assert _states(_publish(cli, repo)) == [("delivered", 1)]
    assert [r["params"]["_verb"] for r in api.writes()] == ["POST", "PATCH"], "no second PATCH"
    assert len(api.incidents[0]["incident_updates"]) == 2
    assert api.rate_violations == []


def test_dry_run_shows_the_exact_requests_without_a_key(mirror_repo: Repo, cli: Callable[..., Any]) -> None:
    incident_id = _open(mirror_repo)
    add_update(
        mirror_repo, incident_id, message="Rolling back.", status="identified", components={"web": "operational"}
    )
    result = cli("publish", "--dry-run", "--json", "--channel", "atlassian", repo=mirror_repo.root)
    assert result.exit_code == 0, result.output
    previews = json.loads(result.stdout)["previews"]
    assert [(p["channel"], p["kind"], p["payload"]) for p in previews] == [
        (
            "atlassian",
            "post",
            {
                "incident": {
                    "name": "API & website unavailable",
                    "status": "investigating",
                    "body": "We are investigating failed requests.",
                    "components": {"cmpapi000001": "major_outage", "cmpweb000002": "partial_outage"},
                    "component_ids": ["cmpapi000001", "cmpweb000002"],
                    "deliver_notifications": True,
                    "metadata": {"incidentctl": {"id": incident_id}},
                }
            },
        ),
        (
            "atlassian",
            "reply",
            {
                "incident": {
                    "status": "identified",
                    "body": "Rolling back.",
                    "components": {"cmpapi000001": "major_outage", "cmpweb000002": "operational"},
                    "component_ids": ["cmpapi000001", "cmpweb000002"],
                    "deliver_notifications": True,
                }
            },
        ),
    ]
    text = cli("publish", "--dry-run", "--channel", "atlassian", repo=mirror_repo.root)
    assert text.exit_code == 0 and '"metadata": {' in text.stdout


def test_a_refused_key_is_one_line_and_never_echoed(
    mirror_repo: Repo, api: FakeAtlassian, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _open(mirror_repo)
    monkeypatch.setenv("STATUSPAGE_API_KEY", "sp-wrong-key-9999-secret")
    with use_retry_policy(FAST):
        result = cli("publish", "--channel", "atlassian", repo=mirror_repo.root)
    assert result.exit_code == 3
    assert "STATUSPAGE_API_KEY was refused (401)" in result.stderr
    assert "sp-wrong-key-9999-secret" not in result.output
    assert api.incidents == []


def test_an_unanswered_check_never_resends_blind(
    mirror_repo: Repo, api: FakeAtlassian, cli: Callable[..., Any]
) -> None:
    """After a crash, the run that cannot ask Statuspage whether the earlier request landed (the lookup is
    refused: 503s, or 420 because the killed run's request was under a second ago) sends nothing for that
    entry: it says so and leaves the entry to the next run, which asks again. Never a blind second PATCH."""
    repo = mirror_repo
    incident_id = _open(repo)
    once = RetryPolicy(max_attempts=1, base_delay=0.01)
    three = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02, budget_seconds=30)
    assert _states(_publish(cli, repo)) == [("delivered", 1)]
    remote_id = api.incidents[0]["id"]

    add_update(repo, incident_id, message="Rolling back.", status="identified")
    api.drop_next(1, after=True, method=f"{INCIDENTS_PATH}/{remote_id}")
    assert _states(_publish(cli, repo, once)) == [("failed", 1)]
    assert len(api.incidents[0]["incident_updates"]) == 2, "the PATCH landed; its answer was lost"

    api.fail_next(3, status=503)
    report = _publish(cli, repo, three)
    assert _states(report) == [("failed", 1)], report["_output"]
    assert "could not ask" in report["_output"] and "nothing was resent" in report["_output"]
    assert [r["params"]["_verb"] for r in api.writes()] == ["POST", "PATCH"], "no blind resend"

    api.rate_limit_next(1, retry_after=1)
    report = _publish(cli, repo, three)
    assert _states(report) == [("delivered", 1)] and report["deliveries"][0]["reconciled"] is True
    assert [r["params"]["_verb"] for r in api.writes()] == ["POST", "PATCH"]
    assert len(api.incidents[0]["incident_updates"]) == 2


def test_a_lost_answer_then_a_failed_check_is_not_resent_in_the_same_run(
    mirror_repo: Repo, api: FakeAtlassian, cli: Callable[..., Any]
) -> None:
    """Within one run: the PATCH lands but its answer is lost, and the check before the retry is refused too.
    The retry must not go out blind; the next run settles it."""
    repo = mirror_repo
    incident_id = _open(repo)
    assert _states(_publish(cli, repo)) == [("delivered", 1)]
    remote_id = api.incidents[0]["id"]
    add_update(repo, incident_id, message="Rolling back.", status="identified")
    api.drop_next(1, after=True, method=f"{INCIDENTS_PATH}/{remote_id}")
    api.fail_next(10, status=503, method=f"{INCIDENTS_PATH}/{remote_id}")
    three = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02, budget_seconds=30)
    report = _publish(cli, repo, three)
    assert _states(report)[0][0] == "failed", report["_output"]
    assert [r["params"]["_verb"] for r in api.writes()] == ["POST", "PATCH"], "no blind resend"
    api.faults.clear()
    report = _publish(cli, repo, three)
    assert _states(report) == [("delivered", 1)] and report["deliveries"][0]["reconciled"] is True
    assert len(api.incidents[0]["incident_updates"]) == 2

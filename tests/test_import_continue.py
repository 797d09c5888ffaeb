"""An incident imported while still open is continued here, without repeating its history anywhere.

``import statuspage`` marks the updates it brings in (``imported: true``): they were published by the
old tool. ``publish`` never sends imported history again; an imported incident that is still open
starts its thread on each channel with its latest imported update (the current state), so the updates
that follow have something to reply to; on the Statuspage page it was imported from (the ``atlassian``
mirror with the same page id) the existing incident is adopted and updated, never created a second time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from incidentctl.channels import RetryPolicy, use_retry_policy
from incidentctl.lifecycle import add_update
from incidentctl.store import Repo
from testing import FakeSlack, make_repo
from testing.fakes.fake_atlassian import FakeAtlassian

PAGE_ID = "kctbh9vrtdwd"
FAST = RetryPolicy(base_delay=0.01, max_delay=0.05, budget_seconds=30)


def _update(uid: str, status: str, body: str, at: str) -> dict[str, Any]:
    return {"id": uid, "status": status, "body": body, "created_at": at, "updated_at": at, "display_at": at,
            "affected_components": [{"name": "API Requests", "old_status": "operational", "new_status": "major_outage"}]}  # fmt: skip


def _incident(iid: str, name: str, status: str, updates: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": iid, "name": name, "status": status, "impact": "major", "created_at": updates[-1]["created_at"],
            "shortlink": f"https://stspg.io/{iid[:6]}", "incident_updates": updates}  # fmt: skip


INCIDENTS = {
    "page": {"id": PAGE_ID, "name": "Example"},
    "incidents": [
        _incident("open00000001", "Elevated API errors", "identified", [
            _update("o2", "identified", "We found a bad config push (o2).", "2026-11-30T09:20:00Z"),
            _update("o1", "investigating", "We are investigating API errors (o1).", "2026-11-30T09:00:00Z"),
        ]),
        _incident("old000000001", "Slow dashboards", "resolved", [
            _update("r2", "resolved", "Dashboards are fast again (r2).", "2026-11-01T10:30:00Z"),
            _update("r1", "investigating", "Dashboards are slow (r1).", "2026-11-01T10:00:00Z"),
        ]),
    ],
}  # fmt: skip


def _seed_page(fake: FakeAtlassian) -> None:
    """The old page as it is: the open incident already there with its two updates."""
    incident = INCIDENTS["incidents"][0]
    fake.incidents.append({
        "id": incident["id"], "page_id": PAGE_ID, "name": incident["name"], "status": "identified",
        "created_at": "2026-11-30T09:00:00Z", "updated_at": "2026-11-30T09:20:00Z", "resolved_at": None,
        "metadata": {}, "component_ids": [],
        "incident_updates": [{"id": u["id"], "status": u["status"], "body": u["body"], "created_at": u["created_at"]}
                             for u in incident["incident_updates"]],
    })  # fmt: skip


def _publish(cli: Callable[..., Any], repo: Repo) -> dict[str, Any]:
    with use_retry_policy(FAST):
        result = cli("publish", "--json", "--channel", "slack", "--channel", "atlassian", repo=repo.root)
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_an_open_imported_incident_continues_without_repeating_its_history(
    tmp_path: Path, cli: Callable[..., Any], slack: FakeSlack, monkeypatch: Any
) -> None:
    def edit(config: Any) -> None:
        config["channels"].update(atlassian={"page_id": PAGE_ID, "components": {"api": "cmpapi000001"}})

    repo = make_repo(tmp_path / "status", components=(("api", "API Requests"),), config=edit)
    saved = tmp_path / "saved" / "api" / "v2"
    saved.mkdir(parents=True)
    (saved / "incidents.json").write_text(json.dumps(INCIDENTS), encoding="utf-8")
    imported = cli("import", "statuspage", str(tmp_path / "saved"), repo=repo.root)
    assert imported.exit_code == 0, imported.output
    open_id, resolved_id = sorted(imported.stdout.split(), reverse=True)
    assert all(entry.imported for entry in repo.load(open_id).timeline)

    with FakeAtlassian(page_id=PAGE_ID) as page:
        monkeypatch.setenv("INCIDENTCTL_ATLASSIAN_API_URL", page.url)
        monkeypatch.setenv("STATUSPAGE_API_KEY", page.key)
        _seed_page(page)

        dry = cli("publish", "--dry-run", "--channel", "slack", repo=repo.root)
        assert dry.exit_code == 0 and "(o2)" in dry.output and "(o1)" not in dry.output and "(r" not in dry.output

        report = _publish(cli, repo)
        # Slack: one message, the open incident's current state as the start of its thread; nothing resolved.
        assert len(slack.messages) == 1 and "(o2)" in slack.messages[0]["text"]
        assert "thread_ts" not in slack.messages[0] or not slack.messages[0]["thread_ts"]
        # The old page: its incident adopted, nothing created, nothing sent.
        assert page.writes() == [] and len(page.incidents) == 1
        assert any("imported from page" in warning for warning in report["warnings"])
        record = repo.load(open_id)
        assert record.timeline[1].deliveries["atlassian"].ref == "open00000001"
        assert "slack" not in record.timeline[0].deliveries, "history: not planned, not pending"
        assert not any(entry.deliveries for entry in repo.load(resolved_id).timeline)

        add_update(repo, open_id, message="Rolled back; error rates are normal (o3).", status="monitoring")
        report = _publish(cli, repo)
        assert sorted((d["channel"], d["state"]) for d in report["deliveries"]) == [
            ("atlassian", "delivered"), ("slack", "delivered"),
        ]  # fmt: skip
        assert len(slack.messages) == 2 and "(o3)" in slack.messages[1]["text"]
        assert slack.messages[1]["thread_ts"] == slack.messages[0]["ts"], "a reply in the incident's thread"
        (write,) = page.writes()
        assert write["method"].endswith("/incidents/open00000001") and write["params"]["_verb"] == "PATCH"
        assert page.incidents[0]["status"] == "monitoring" and len(page.incidents[0]["incident_updates"]) == 3
        assert len(page.incidents) == 1

        with use_retry_policy(FAST):
            again = cli("publish", "--channel", "slack", "--channel", "atlassian", repo=repo.root)
        assert again.exit_code == 0 and "nothing to publish" in again.stderr

        # Resolved here: the resolution replies in the same thread and closes the same Statuspage incident.
        resolved = cli("resolve", open_id, "-m", "All good (o4).", repo=repo.root)
        assert resolved.exit_code == 0, resolved.output
        _publish(cli, repo)
        assert len(slack.messages) == 3 and slack.messages[2]["thread_ts"] == slack.messages[0]["ts"]
        assert len(page.incidents) == 1 and page.incidents[0]["status"] == "resolved"
        assert [w["params"]["_verb"] for w in page.writes()] == ["PATCH", "PATCH"]

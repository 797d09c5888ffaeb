"""``import statuspage`` reads ``api/v2/scheduled-maintenances.json`` into ``kind: maintenance`` records, once."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from maintenance_support import HOUR, schedule, step

from incidentctl.site import build_site
from incidentctl.store import Repo
from testing import git, make_repo
from testing.fakes.fake_atlassian import FakeStatuspagePage

PAGE = {
    "id": "kctbh9vrtdwd",
    "name": "GitHub",
    "url": "https://www.githubstatus.com",
    "updated_at": "2024-06-01T10:00:00Z",
}
COMPONENTS = (("git", "Git Operations"), ("api", "API Requests"), ("pages", "Pages"))


def _update(
    uid: str, mid: str, status: str, body: str, at: str, affected: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    return {"id": uid, "status": status, "body": body, "incident_id": mid, "created_at": at, "updated_at": at,
            "display_at": at, "affected_components": affected, "deliver_notifications": True}  # fmt: skip


def _component(name: str) -> dict[str, Any]:
    return {"id": f"c-{name[:3].lower()}", "name": name, "status": "operational", "page_id": PAGE["id"]}


def _maintenance(
    mid: str, name: str, status: str, start: str, end: str, updates: list[dict[str, Any]], components: list[str]
) -> dict[str, Any]:
    return {
        "id": mid, "name": name, "status": status, "impact": "maintenance", "created_at": updates[-1]["created_at"],
        "updated_at": updates[0]["created_at"], "monitoring_at": None, "resolved_at": None,
        "shortlink": f"https://stspg.io/{mid[:6]}", "started_at": updates[-1]["created_at"], "page_id": PAGE["id"],
        "incident_updates": updates, "components": [_component(name) for name in components],
        "scheduled_for": start, "scheduled_until": end, "scheduled_remind_prior": True,
        "scheduled_reminded_at": None, "scheduled_auto_in_progress": True, "scheduled_auto_completed": True,
    }  # fmt: skip


DONE = _maintenance(
    "mt0000000001", "Pages &amp; API maintenance", "completed", "2024-05-30T01:00:00.000Z", "2024-05-30T03:00:00.000Z",
    [
        _update("u3", "mt0000000001", "completed", "Done.", "2024-05-30T02:50:00.000Z",
                [{"code": "x", "name": "Pages", "old_status": "under_maintenance", "new_status": "operational"}]),
        _update("u2", "mt0000000001", "in_progress", "Started.", "2024-05-30T01:00:00.000Z",
                [{"code": "x", "name": "Pages", "old_status": "operational", "new_status": "under_maintenance"}]),
        _update("u1", "mt0000000001", "scheduled", "We will upgrade Pages &amp; the API.", "2024-05-28T12:00:00.000-07:00"),
    ],
    ["Pages", "API Requests"],
)  # fmt: skip
NEXT = _maintenance(
    "mt0000000002", "Database upgrade", "scheduled", "2030-01-10T02:00:00.000Z", "2030-01-10T04:00:00.000Z",
    [_update("u4", "mt0000000002", "scheduled", "Read-only for two hours.", "2029-12-20T10:00:00.000Z")],
    ["Git Operations", "Webhooks"],
)  # fmt: skip
NO_WINDOW = {"id": "mt0000000003", "name": "Something", "status": "scheduled", "impact": "maintenance"}
INCIDENTS = {"page": PAGE, "incidents": [DONE]}  # Statuspage lists maintenances among the incidents too
MAINTENANCES = {"page": PAGE, "scheduled_maintenances": [NEXT, DONE, NO_WINDOW]}


def test_maintenances_are_imported_once(tmp_path: Path, cli: Callable[..., Any]) -> None:
    repo = make_repo(tmp_path / "status", components=COMPONENTS)
    documents = {"api/v2/incidents.json": INCIDENTS, "api/v2/scheduled-maintenances.json": MAINTENANCES}
    with FakeStatuspagePage(documents) as page:
        first = cli("import", "statuspage", page.url, "--json", repo=repo.root)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert [(item["kind"], item["from"]) for item in report["imported"]] == [
        ("maintenance", "mt0000000001"), ("maintenance", "mt0000000002"),
    ]  # fmt: skip
    assert report["skipped_maintenances"] == 1, "the one without a window"
    assert report["unknown_components"] == ["Webhooks"]
    assert "imported 0 incidents and 2 maintenances from statuspage kctbh9vrtdwd" in first.stderr
    assert git(repo.root, "log", "-1", "--format=%s").strip() == (
        "import: 0 incidents and 2 maintenances from statuspage kctbh9vrtdwd"
    )

    done = repo.load(report["imported"][0]["id"])
    assert done.kind == "maintenance" and done.severity == "maintenance" and done.status == "completed"
    assert done.title == "Pages & API maintenance"
    assert done.scheduled_for == datetime(2024, 5, 30, 1, tzinfo=UTC)
    assert done.scheduled_until == datetime(2024, 5, 30, 3, tzinfo=UTC)
    assert [e.status for e in done.timeline] == ["scheduled", "in_progress", "completed"]
    assert [e.components for e in done.timeline] == [
        {"pages": "operational", "api": "operational"},
        {"pages": "under_maintenance"},
        {"pages": "operational"},
    ]
    assert done.timeline[0].scheduled_for == done.scheduled_for, "the first entry announces the window"
    assert done.timeline[0].at == datetime(2024, 5, 28, 19, tzinfo=UTC)
    assert done.imported_from is not None and done.imported_from.id == "mt0000000001"
    upcoming = repo.load(report["imported"][1]["id"])
    assert upcoming.status == "scheduled" and upcoming.is_upcoming and upcoming.auto_start
    assert upcoming.timeline[0].components == {"git": "operational"}

    assert cli("lint", repo=repo.root).exit_code == 0
    with FakeStatuspagePage(documents) as page:
        again = cli("import", "statuspage", page.url, repo=repo.root)
    assert again.exit_code == 0 and again.stdout == ""
    assert "(2 already imported)" in again.stderr
    assert len(repo.ids()) == 2


def test_our_own_maintenance_api_round_trips(tmp_path: Path, cli: Callable[..., Any]) -> None:
    """A site's scheduled-maintenances.json imported into an empty repo builds the same maintenances."""
    now = datetime(2024, 12, 20, 12, tzinfo=UTC)
    source = make_repo(tmp_path / "source")
    schedule(source, "db", "Database upgrade", start=now + 2 * HOUR, end=now + 4 * HOUR, components=["api"],
             announced=now - HOUR)  # fmt: skip
    schedule(source, "web", "Website move", start=now - 5 * HOUR, end=now - 4 * HOUR, components=["web"],
             announced=now - 30 * HOUR)  # fmt: skip
    step(source, "web", "in_progress", now - 5 * HOUR, "Started.")
    step(source, "web", "completed", now - 4 * HOUR - timedelta(minutes=5), "Done.")
    built = build_site(source, tmp_path / "site", now=now)
    copy = make_repo(tmp_path / "copy")
    imported = cli("import", "statuspage", str(built / "api" / "v2"), repo=copy.root)
    assert imported.exit_code == 0, imported.output
    rebuilt = build_site(Repo.open(copy.root), tmp_path / "copy-site", now=now)

    def content(site: Path) -> list[Any]:
        document = json.loads((site / "api/v2/scheduled-maintenances.json").read_bytes())
        return [
            (item["name"], item["status"], item["impact"], item["scheduled_for"], item["scheduled_until"],
             [(u["status"], u["body"], u["created_at"], u["affected_components"]) for u in item["incident_updates"]])
            for item in document["scheduled_maintenances"]
        ]  # fmt: skip

    assert content(rebuilt) == content(built)

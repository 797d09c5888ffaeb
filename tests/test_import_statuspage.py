"""``import statuspage``: a Statuspage page's public history becomes records, once.

The fixture is modelled on a large provider's public ``api/v2/incidents.json`` (newest first,
updates newest first, times with milliseconds and offsets, HTML entities in names and bodies,
``affected_components`` by name, a maintenance mixed into the incident list).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from incidentctl.store import Repo
from testing import git, make_repo, no_traceback
from testing.fakes.fake_atlassian import FakeStatuspagePage

PAGE = {
    "id": "kctbh9vrtdwd",
    "name": "GitHub",
    "url": "https://www.githubstatus.com",
    "time_zone": "Etc/UTC",
    "updated_at": "2024-06-01T10:00:00.123Z",
}
COMPONENTS = (("git", "Git Operations"), ("api", "API Requests"), ("actions", "Actions"), ("pages", "Pages"))


def _update(
    uid: str, incident: str, status: str, body: str, at: str, affected: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    return {
        "id": uid,
        "status": status,
        "body": body,
        "incident_id": incident,
        "created_at": at,
        "updated_at": at,
        "display_at": at,
        "affected_components": affected,
        "deliver_notifications": True,
        "custom_tweet": None,
        "tweet_id": None,
    }


def _affected(name: str, old: str, new: str) -> dict[str, str]:
    return {"code": f"code-{name.lower().replace(' ', '-')}", "name": name, "old_status": old, "new_status": new}


def _incident(iid: str, name: str, status: str, impact: str, updates: list[dict[str, Any]]) -> dict[str, Any]:
    times = [update["created_at"] for update in updates]
    return {
        "id": iid,
        "name": name,
        "status": status,
        "created_at": times[-1],
        "updated_at": times[0],
        "monitoring_at": None,
        "resolved_at": times[0] if status in ("resolved", "postmortem") else None,
        "impact": impact,
        "shortlink": f"https://stspg.io/{iid[:6]}",
        "started_at": times[-1],
        "page_id": PAGE["id"],
        "incident_updates": updates,
        "components": [],
    }


INCIDENTS = {
    "page": PAGE,
    "incidents": [
        _incident(
            "mt0000000001",
            "Scheduled maintenance for Pages",
            "completed",
            "maintenance",
            [_update("u9", "mt0000000001", "completed", "Done.", "2024-05-30T03:00:00.000Z")],
        ),
        _incident(
            "zz1nothing01",
            "Delays in Actions logs",
            "resolved",
            "none",
            [
                _update("u8", "zz1nothing01", "resolved", "This incident has been resolved.", "2024-05-20T12:30:00Z"),
                _update(
                    "u7",
                    "zz1nothing01",
                    "investigating",
                    "We&#39;re investigating reports of delayed logs.",
                    "2024-05-20T12:00:00Z",
                    [_affected("Actions", "operational", "operational")],
                ),
            ],
        ),
        _incident(
            "c2critical02",
            "Incident with Git Operations &amp; API Requests",
            "postmortem",
            "critical",
            [
                _update("u6", "c2critical02", "postmortem", "Our post-incident review is published.", "2024-05-03T09:00:00.000-07:00"),
                _update(
                    "u5",
                    "c2critical02",
                    "resolved",
                    "This incident has been resolved.",
                    "2024-05-02T19:40:58.572-07:00",
                    [_affected("Git Operations", "partial_outage", "operational"),
                     _affected("API Requests", "degraded_performance", "operational")],
                ),
                _update(
                    "u4",
                    "c2critical02",
                    "monitoring",
                    "A fix has been deployed &mdash; we&#39;re monitoring.",
                    "2024-05-02T19:11:24.478-07:00",
                    [_affected("Git Operations", "major_outage", "partial_outage"),
                     _affected("API Requests", "partial_outage", "degraded_performance")],
                ),
                _update(
                    "u3",
                    "c2critical02",
                    "identified",
                    "We identified a faulty deploy &lt;db-proxy&gt; and are rolling it back.",
                    "2024-05-02T18:32:43.413-07:00",
                    [_affected("Git Operations", "partial_outage", "major_outage"),
                     _affected("API Requests", "operational", "partial_outage"),
                     _affected("Webhooks", "operational", "degraded_performance")],
                ),
                _update(
                    "u2",
                    "c2critical02",
                    "investigating",
                    "We are investigating reports of degraded performance for Git Operations.",
                    "2024-05-02T18:00:19.418-07:00",
                    [_affected("Git Operations", "operational", "partial_outage"),
                     _affected("Webhooks", "operational", "degraded_performance")],
                ),
            ],
        ),
        _incident(
            "m1major00001",
            "Disruption with some GitHub services",
            "resolved",
            "major",
            [
                _update("u1", "m1major00001", "resolved", "This incident has been resolved.", "2024-04-10T08:30:00.000Z",
                        [_affected("Pages", "partial_outage", "operational")]),
                _update("u0", "m1major00001", "investigating", "We are investigating reports of degraded availability.",
                        "2024-04-10T08:00:00.000Z", [_affected("Pages", "operational", "partial_outage")]),
            ],
        ),
    ],
}  # fmt: skip
MAINTENANCES = {
    "page": PAGE,
    "scheduled_maintenances": [
        {
            "id": "mt0000000001",
            "name": "Scheduled maintenance for Pages",
            "status": "completed",
            "impact": "maintenance",
        },
        {"id": "mt0000000002", "name": "Database upgrade", "status": "scheduled", "impact": "maintenance"},
    ],
}


@pytest.fixture
def imported_repo(tmp_path: Path) -> Repo:
    return make_repo(tmp_path / "status", components=COMPONENTS)


def _save(folder: Path, documents: dict[str, Any]) -> Path:
    for relative, data in documents.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return folder


def _commits(repo: Repo) -> list[str]:
    return git(repo.root, "log", "--format=%s").splitlines()


def test_import_from_a_page_url_then_again_imports_nothing_twice(
    imported_repo: Repo, cli: Callable[..., Any], tmp_path: Path
) -> None:
    repo = imported_repo
    documents = {"api/v2/incidents.json": INCIDENTS, "api/v2/scheduled-maintenances.json": MAINTENANCES}
    with FakeStatuspagePage(documents) as page:
        first = cli("import", "statuspage", page.url + "/", repo=repo.root)
        assert first.exit_code == 0, first.output
        assert [r["method"] for r in page.requests] == ["/api/v2/incidents.json", "/api/v2/scheduled-maintenances.json"]

    ids = first.stdout.split()
    assert ids == [
        "2024-04-10-disruption-some-github-services",
        "2024-05-03-incident-git-operations-api-requests",
        "2024-05-20-delays-actions-logs",
    ], "oldest first, our id rules (date of created_at in UTC + slug of the name)"
    assert "imported 3 incidents from statuspage kctbh9vrtdwd" in first.stderr
    assert "2 scheduled maintenances skipped (no scheduled_for/scheduled_until window)" in first.stderr
    assert first.stderr.count("Webhooks") == 1, "an unknown component is reported once"
    assert _commits(repo)[0] == "import: 3 incidents from statuspage kctbh9vrtdwd"
    assert len(_commits(repo)) == 2, "one commit for the whole import"
    assert git(repo.root, "status", "--porcelain") == ""

    major = repo.load(ids[0])
    assert major.severity == "sev2" and major.status == "resolved"
    assert [e.components for e in major.timeline] == [{"pages": "partial_outage"}, {"pages": "operational"}]
    assert major.imported_from is not None
    assert major.imported_from.model_dump() == {
        "source": "statuspage", "page": "kctbh9vrtdwd", "id": "m1major00001", "url": "https://stspg.io/m1majo",
    }  # fmt: skip

    critical = repo.load(ids[1])
    assert critical.title == "Incident with Git Operations & API Requests", "HTML entities decoded"
    assert critical.severity == "sev1"
    assert [e.status for e in critical.timeline] == [
        "investigating", "identified", "monitoring", "resolved", "resolved",
    ], "time order; postmortem maps to resolved"  # fmt: skip
    assert [e.at.isoformat() for e in critical.timeline][:2] == [
        "2024-05-03T01:00:19+00:00",
        "2024-05-03T01:32:43+00:00",
    ]
    assert critical.timeline[1].message == "We identified a faulty deploy <db-proxy> and are rolling it back."
    assert critical.timeline[2].message == "A fix has been deployed \u2014 we're monitoring."
    assert critical.timeline[1].components == {"git": "major_outage", "api": "partial_outage"}, "Webhooks dropped"
    assert critical.timeline[4].components == {}
    assert all(entry.public and not entry.deliveries for entry in critical.timeline)

    quiet = repo.load(ids[2])
    assert quiet.severity == "sev3"
    assert [e.components for e in quiet.timeline] == [{}, {}], "impact none: no components"
    assert quiet.timeline[0].message == "We're investigating reports of delayed logs."

    lint = cli("lint", repo=repo.root)
    assert lint.exit_code == 0, lint.output

    # Again, from the URL and from a saved copy of the same page: nothing new, no commit.
    with FakeStatuspagePage(documents) as page:
        again = cli("import", "statuspage", page.url, repo=repo.root)
    assert again.exit_code == 0, again.output
    assert again.stdout == ""
    assert "imported 0 incidents from statuspage kctbh9vrtdwd (3 already imported)" in again.stderr
    saved = _save(tmp_path / "saved", documents)
    from_folder = cli("import", "statuspage", str(saved), repo=repo.root)
    assert from_folder.exit_code == 0, from_folder.output
    assert "(3 already imported)" in from_folder.stderr
    assert len(_commits(repo)) == 2
    assert len(repo.ids()) == 3


def test_since_and_a_missing_maintenance_file(imported_repo: Repo, cli: Callable[..., Any], tmp_path: Path) -> None:
    saved = _save(tmp_path / "saved", {"api/v2/incidents.json": INCIDENTS})
    result = cli("import", "statuspage", str(saved), "--since", "2024-05-01", "--json", repo=imported_repo.root)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [item["from"] for item in report["imported"]] == ["c2critical02", "zz1nothing01"]
    assert report["skipped_maintenances"] == 1, "the maintenance in incidents.json itself"
    assert report["unknown_components"] == ["Webhooks"]
    assert "1 incidents before --since 2024-05-01 skipped" in result.stderr


def test_bad_sources_are_one_line_errors(imported_repo: Repo, cli: Callable[..., Any], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = cli("import", "statuspage", str(empty), repo=imported_repo.root)
    assert missing.exit_code == 2 and no_traceback(missing)
    assert "no api/v2/incidents.json" in missing.stderr

    (empty / "incidents.json").write_text("<html>not json</html>", encoding="utf-8")
    broken = cli("import", "statuspage", str(empty), repo=imported_repo.root)
    assert broken.exit_code == 1 and no_traceback(broken)
    assert "not a Statuspage API document" in broken.stderr

    with FakeStatuspagePage({}) as page:
        gone = cli("import", "statuspage", page.url, repo=imported_repo.root)
    assert gone.exit_code == 1 and no_traceback(gone)
    assert "HTTP 404" in gone.stderr
    assert len(_commits(imported_repo)) == 1


def test_round_trip_from_an_incidentctl_site(tmp_path: Path, cli: Callable[..., Any]) -> None:
    """demo site → import its api/v2 into an empty repo with the same components → build → same public content."""
    from incidentctl.vocabulary import MAINTENANCE_STATUSES

    demo = tmp_path / "demo"
    made = cli("demo", str(demo))
    assert made.exit_code == 0, made.output
    original = json.loads((demo / "site/api/v2/incidents.json").read_text(encoding="utf-8"))

    from incidentctl.config import load_config

    config = load_config(demo)
    repo = make_repo(
        tmp_path / "copy",
        components=[(component.id, component.name) for component in config.components],
        organization=config.organization,
    )
    imported = cli("import", "statuspage", str(demo / "site/api/v2"), repo=repo.root)
    assert imported.exit_code == 0, imported.output
    built = cli("site", "build", "--output", str(tmp_path / "copy-site"), repo=repo.root)
    assert built.exit_code == 0, built.output
    copy = json.loads((tmp_path / "copy-site/api/v2/incidents.json").read_text(encoding="utf-8"))

    def content(document: dict[str, Any]) -> list[Any]:
        return [
            (
                item["name"],
                item["status"],
                item["impact"],
                [(u["status"], u["body"], u["created_at"]) for u in item["incident_updates"]],
            )
            for item in document["incidents"]
            if item["status"] not in MAINTENANCE_STATUSES  # the demo's maintenance is not imported (yet)
        ]

    assert original["incidents"], "the demo has a public incident"
    assert content(copy) == content(original)
    again = cli("import", "statuspage", str(demo / "site/api/v2"), repo=repo.root)
    assert again.exit_code == 0 and "(2 already imported)" in again.stderr  # the incident and the maintenance

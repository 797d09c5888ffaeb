"""Scheduled maintenance on the status page: index, pages, history, feeds, API, bars, badges, widget.

Maintenances never pass for incidents: a scheduled one is not an active incident, a component under
maintenance is never down, ``status.indicator`` is ``maintenance`` only while one runs and no incident
is open, and the uptime figure counts maintenance only when it is marked ``counts_as_downtime``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from maintenance_support import HOUR, schedule, step

from incidentctl.lifecycle import open_incident, resolve_incident
from incidentctl.site import build_site
from incidentctl.site.build import _build
from incidentctl.site.incremental import manifest_path, read_manifest
from incidentctl.store import Repo
from testing import make_repo

NOW = datetime(2024, 12, 20, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
URL = "https://status.example.com"

# Atlassian's published example of ``GET /api/v2/scheduled-maintenances/upcoming.json`` (the example
# response on every Statuspage page's /api documentation, e.g. https://confluence.status.atlassian.com/api,
# and in Statuspage-hosted API references such as MongoDB's, which adds the reminder fields).
ATLASSIAN_UPCOMING = {
    "page": {
        "id": "y2j98763l443",
        "name": "Atlassian Statuspage",
        "url": "https://metastatuspage.com",
        "updated_at": "2014-05-14T14:24:41.918-06:00",
    },
    "scheduled_maintenances": [
        {
            "created_at": "2014-05-14T14:24:40.430-06:00",
            "id": "w1zdr745wmfy",
            "impact": "none",
            "incident_updates": [
                {
                    "body": "Our data center has informed us that they will be performing routine network "
                    "maintenance. No interruption in service is expected.",
                    "created_at": "2014-05-14T14:24:41.913-06:00",
                    "display_at": "2014-05-14T14:24:41.913-06:00",
                    "id": "qq0vx910b3qj",
                    "incident_id": "w1zdr745wmfy",
                    "status": "scheduled",
                    "updated_at": "2014-05-14T14:24:41.913-06:00",
                }
            ],
            "monitoring_at": None,
            "name": "Network Maintenance (No Interruption Expected)",
            "page_id": "y2j98763l443",
            "resolved_at": None,
            "scheduled_for": "2014-05-17T22:00:00.000-06:00",
            "scheduled_until": "2014-05-17T23:30:00.000-06:00",
            "shortlink": "http://stspg.io/dmtyc8e",
            "status": "scheduled",
            "updated_at": "2014-05-14T14:24:41.918-06:00",
            "scheduled_remind_prior": True,
            "scheduled_reminded_at": None,
        }
    ],
}


def with_url(config: Any) -> None:
    config["channels"]["statuspage"]["url"] = URL + "/"
    config["git"]["commit"] = True


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    """Five maintenances at NOW: one upcoming, one moved twice (upcoming), one in progress, one
    completed that counts as downtime, one cancelled; and a resolved incident."""
    made = make_repo(tmp_path_factory.mktemp("maint") / "status", config=with_url)
    schedule(
        made,
        "db-upgrade",
        "Database upgrade",
        start=NOW + 2 * HOUR,
        end=NOW + 4 * HOUR,
        components=["api"],
        announced=NOW - 2 * DAY,
    )
    schedule(
        made,
        "web-move",
        "Website move",
        start=NOW - HOUR,
        end=NOW + HOUR,
        components=["web"],
        announced=NOW - 3 * DAY,
        message="Moving the website to a new host.",
    )
    step(made, "web-move", "in_progress", NOW - HOUR, "The move has started.")
    schedule(
        made,
        "cdn-swap",
        "CDN swap",
        start=NOW - 8 * DAY,
        end=NOW - 8 * DAY + 2 * HOUR,
        components=["chatgpt"],
        announced=NOW - 10 * DAY,
        counts_as_downtime=True,
    )
    step(made, "cdn-swap", "in_progress", NOW - 8 * DAY, "Started.")
    step(made, "cdn-swap", "completed", NOW - 8 * DAY + 2 * HOUR, "Done.")
    schedule(
        made,
        "old-plan",
        "Old plan",
        start=NOW - 15 * DAY,
        end=NOW - 15 * DAY + HOUR,
        components=["sora"],
        announced=NOW - 20 * DAY,
    )
    step(made, "old-plan", "cancelled", NOW - 16 * DAY, "Not needed after all.")
    schedule(
        made,
        "moved",
        "Storage move",
        start=NOW + DAY,
        end=NOW + DAY + HOUR,
        components=["sora"],
        announced=NOW - 5 * DAY,
    )
    step(made, "moved", "rescheduled", NOW - 4 * DAY, "Moved by a day.", start=NOW + 2 * DAY, end=NOW + 2 * DAY + HOUR)
    step(made, "moved", "rescheduled", NOW - 3 * DAY, "Moved again.", start=NOW + 3 * DAY, end=NOW + 3 * DAY + HOUR)
    change = open_incident(
        made, "API errors", severity="sev2", components={"api": "partial_outage"}, message="Errors.", at=NOW - 30 * DAY
    )
    resolve_incident(made, change.incident.id, at=NOW - 30 * DAY + HOUR)
    return made  # fmt: skip


@pytest.fixture(scope="module")
def site(repo: Repo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_site(repo, tmp_path_factory.mktemp("out") / "site", now=NOW)


def load(site: Path, relative: str) -> Any:
    return json.loads((site / relative).read_bytes())


def section(html: str, heading_id: str) -> str:
    start = html.index(f'id="{heading_id}"')
    end = html.find("</section>", start)
    return html[start:end]


def test_index_shows_upcoming_and_active_maintenance_apart_from_incidents(site: Path) -> None:
    html = (site / "index.html").read_text(encoding="utf-8")
    assert 'class="banner ind-maintenance"' in html and "Service under maintenance" in html
    assert 'id="active"' not in html, "a maintenance is never an active incident"
    upcoming = section(html, "maint-next")
    assert upcoming.index("Database upgrade") < upcoming.index("Storage move"), "soonest first"
    assert "Website move" not in upcoming and "CDN swap" not in upcoming and "Old plan" not in upcoming
    # Local times in the configured zone (America/New_York), with the duration and the components.
    assert '<time datetime="2024-12-20T14:00:00Z">2024-12-20 09:00 EST</time>' in upcoming
    assert '<time datetime="2024-12-20T16:00:00Z">2024-12-20 11:00 EST</time> (2h' in upcoming
    assert "Components: <bdi>API</bdi>" in upcoming
    assert 'href="calendar.ics"' in upcoming
    running = section(html, "maint-now")
    assert "Website move" in running and "Components: <bdi>Website</bdi>" in running
    assert "The move has started." in running
    assert '<link rel="alternate" type="text/calendar"' in html
    # Website is blue "Under maintenance"; nothing is down.
    website = html[html.index("<bdi>Website</bdi></span>") :][:200]
    assert 's-under_maintenance">Under maintenance' in website
    for down in ("s-major_outage", "s-partial_outage", "s-degraded_performance"):
        assert down not in html.split('id="components"')[1].split('class="bar"')[0]
    past = section(html, "past")
    assert "API errors" in past and "CDN swap" not in past, "past incidents are incidents"


def test_bars_show_maintenance_and_uptime_counts_it_only_when_marked(site: Path) -> None:
    html = (site / "index.html").read_text(encoding="utf-8")
    rows = {
        m.group(1): m.group(0)
        for m in re.finditer(r"<li>\n<div class=\"row\"><span class=\"name\"><bdi>([^<]+)</bdi>.*?</li>", html, re.S)
    }
    # CDN swap: 2 h on ChatGPT, counted as downtime; Website move: 1 h so far, not counted.
    chatgpt, website, sora = rows["ChatGPT"], rows["Website"], rows["Sora"]
    assert 'class="um" title="Dec 12, 2024: Under maintenance: CDN swap"' in chatgpt
    window = (NOW - datetime(2024, 9, 22, 4, 0, tzinfo=UTC)).total_seconds()  # local midnight 90 days back
    expected = 100 * (1 - 2 * 3600 / window)
    assert f"{int(expected * 100) / 100:.2f}% uptime (maintenance counted as downtime)" in chatgpt
    assert 'class="um" title="Dec 20, 2024: Under maintenance: Website move"' in website
    assert "100% uptime (maintenance not counted)" in website
    assert 'class="um"' not in sora and "100% uptime</span>" in sora, "a cancelled or future one leaves no mark"
    assert "does not lower the uptime figure unless it is marked as downtime" in html


def test_maintenance_pages(site: Path) -> None:
    running = (site / "incidents" / "web-move.html").read_text(encoding="utf-8")
    assert "Scheduled maintenance" in running and "<strong" in running and "In progress" in running
    assert "for 1h" in running, "how long it has run, as of --now"
    assert "Not counted as downtime" in running
    upcoming = (site / "incidents" / "moved.html").read_text(encoding="utf-8")
    assert "Moved to" in upcoming and upcoming.count("Moved to") == 2
    assert '<time datetime="2024-12-23T12:00:00Z">' in upcoming, "the current window"
    assert "planned start has passed" not in upcoming
    cancelled = (site / "incidents" / "old-plan.html").read_text(encoding="utf-8")
    assert "Cancelled" in cancelled and "Not needed after all." in cancelled
    done = (site / "incidents" / "cdn-swap.html").read_text(encoding="utf-8")
    assert "Completed" in done and "Counted as downtime" in done


def test_history_and_feeds_carry_maintenance(site: Path) -> None:
    history = (site / "history.html").read_text(encoding="utf-8")
    for title in ("Database upgrade", "Website move", "CDN swap", "Old plan", "Storage move", "API errors"):
        assert title in history
    assert history.count("Scheduled maintenance ·") == 5
    feed = feedparser.parse((site / "feed.atom").read_bytes())
    assert feed.bozo == 0
    titles = [entry.title for entry in feed.entries]
    assert "Maintenance scheduled: Database upgrade" in titles
    assert "Maintenance in progress: Website move" in titles
    assert "Maintenance cancelled: Old plan" in titles
    announced = next(entry for entry in feed.entries if entry.title == "Maintenance scheduled: Database upgrade")
    assert "Scheduled: 2024-12-20 09:00 EST to 2024-12-20 11:00 EST (2h" in announced.summary
    api_feed = feedparser.parse((site / "components" / "api" / "feed.atom").read_bytes())
    assert "Maintenance scheduled: Database upgrade" in [entry.title for entry in api_feed.entries]
    web_feed = feedparser.parse((site / "components" / "web" / "feed.atom").read_bytes())
    assert all("Database upgrade" not in entry.title for entry in web_feed.entries)


def test_api_keeps_incidents_and_maintenances_apart(site: Path) -> None:
    incidents = load(site, "api/v2/incidents.json")["incidents"]
    assert [item["name"] for item in incidents] == ["API errors"]
    assert all(item["impact"] in ("none", "minor", "major", "critical") for item in incidents)
    assert load(site, "api/v2/incidents/unresolved.json")["incidents"] == []
    upcoming = load(site, "api/v2/scheduled-maintenances/upcoming.json")["scheduled_maintenances"]
    assert [item["id"] for item in upcoming] == ["db-upgrade", "moved"]
    assert {item["status"] for item in upcoming} == {"scheduled"}
    active = load(site, "api/v2/scheduled-maintenances/active.json")["scheduled_maintenances"]
    assert [(item["id"], item["status"]) for item in active] == [("web-move", "in_progress")]
    everything = load(site, "api/v2/scheduled-maintenances.json")["scheduled_maintenances"]
    assert [item["id"] for item in everything] == ["moved", "db-upgrade", "web-move", "cdn-swap", "old-plan"]
    assert {item["impact"] for item in everything} == {"maintenance"}
    statuses = {item["id"]: item["status"] for item in everything}
    assert statuses["cdn-swap"] == "completed" and statuses["old-plan"] == "completed", "Statuspage has no cancelled"
    first = upcoming[0]
    assert (first["scheduled_for"], first["scheduled_until"]) == ("2024-12-20T14:00:00Z", "2024-12-20T16:00:00Z")
    assert first["shortlink"] == f"{URL}/incidents/db-upgrade.html"
    assert [c["id"] for c in first["components"]] == ["api"]
    assert first["incident_updates"][0]["status"] == "scheduled"
    running = active[0]
    assert running["incident_updates"][0]["affected_components"] == [
        {"code": "web", "name": "Website", "old_status": "operational", "new_status": "under_maintenance"}
    ]
    summary = load(site, "api/v2/summary.json")
    assert [item["id"] for item in summary["scheduled_maintenances"]] == ["web-move", "db-upgrade", "moved"]
    assert summary["incidents"] == []
    assert summary["status"] == {"indicator": "maintenance", "description": "Service Under Maintenance"}
    components = {item["id"]: item["status"] for item in load(site, "api/v2/components.json")["components"]}
    assert components["web"] == "under_maintenance" and components["api"] == "operational"


def _shape(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "bool", int: "number", float: "number", str: "string", list: "array", dict: "object"}[type(value)]


def _compatible(example: Any, ours: Any, where: str) -> None:
    if isinstance(example, dict):
        assert isinstance(ours, dict), where
        missing = sorted(set(example) - set(ours))
        assert not missing, f"{where}: keys Statuspage has and we do not: {missing}"
        for key, value in example.items():
            _compatible(value, ours[key], f"{where}.{key}")
    elif isinstance(example, list):
        assert isinstance(ours, list) and ours, where
        for item in ours:
            _compatible(example[0], item, f"{where}[]")
    elif example is None or ours is None:
        pass  # nullable in Statuspage's schema (monitoring_at, resolved_at, scheduled_reminded_at ...)
    else:
        assert _shape(example) == _shape(ours), f"{where}: {_shape(ours)} where Statuspage has {_shape(example)}"


def test_upcoming_json_has_atlassians_shape(site: Path) -> None:
    ours = load(site, "api/v2/scheduled-maintenances/upcoming.json")
    _compatible(ATLASSIAN_UPCOMING, ours, "upcoming.json")
    for path in ("api/v2/scheduled-maintenances.json", "api/v2/scheduled-maintenances/active.json"):
        _compatible(ATLASSIAN_UPCOMING, load(site, path), path)
    for item in ours["scheduled_maintenances"]:
        for key in ("scheduled_for", "scheduled_until", "created_at", "updated_at"):
            assert datetime.fromisoformat(item[key]).tzinfo is not None


def test_badges_and_widget_show_maintenance_never_down(site: Path) -> None:
    web = load(site, "api/badges/web.json")
    assert (web["message"], web["color"]) == ("under maintenance", "0969da")
    assert load(site, "api/badge.json")["message"] == "under maintenance"
    assert "under maintenance" in (site / "components" / "web" / "badge.svg").read_text(encoding="utf-8")
    widget = load(site, "api/widget.json")
    assert widget["ongoing_incidents"] == []
    assert [item["id"] for item in widget["in_progress_maintenances"]] == ["web-move"]
    assert [item["id"] for item in widget["scheduled_maintenances"]] == ["db-upgrade", "moved"]
    running = widget["in_progress_maintenances"][0]
    assert running["components"] == [{"id": "web", "name": "Website", "status": "under_maintenance"}]
    assert running["scheduled_for"] == "2024-12-20T11:00:00Z" and running["counts_as_downtime"] is False


def test_an_open_incident_outranks_maintenance(repo: Repo, tmp_path: Path) -> None:
    other = make_repo(tmp_path / "other", config=with_url)
    schedule(other, "web-move", "Website move", start=NOW - HOUR, end=NOW + HOUR, components=["web"],
             announced=NOW - DAY)  # fmt: skip
    step(other, "web-move", "in_progress", NOW - HOUR)
    quiet = build_site(other, tmp_path / "quiet", now=NOW)
    assert load(quiet, "api/v2/status.json")["status"]["indicator"] == "maintenance"
    open_incident(other, "Slow API", severity="sev3", components={"api": "degraded_performance"}, at=NOW)
    busy = build_site(Repo.open(other.root), tmp_path / "busy", now=NOW)
    assert load(busy, "api/v2/status.json")["status"]["indicator"] == "minor"
    components = {item["id"]: item["status"] for item in load(busy, "api/v2/components.json")["components"]}
    assert components == {"api": "degraded_performance", "web": "under_maintenance", "chatgpt": "operational",
                          "sora": "operational"}  # fmt: skip
    assert [item["name"] for item in load(busy, "api/v2/incidents/unresolved.json")["incidents"]] == ["Slow API"]
    html = (busy / "index.html").read_text(encoding="utf-8")
    assert "Slow API" in section(html, "active") and "Website move" not in section(html, "active")
    # Only upcoming maintenance: the page is all operational (scheduled is not active).
    later = make_repo(tmp_path / "later", config=with_url)
    schedule(later, "db", "Database", start=NOW + HOUR, end=NOW + 2 * HOUR, components=["api"], announced=NOW)
    calm = build_site(later, tmp_path / "calm", now=NOW)
    assert load(calm, "api/v2/status.json")["status"]["indicator"] == "none"
    assert load(calm, "api/v2/scheduled-maintenances/active.json")["scheduled_maintenances"] == []


def _keys(repo: Repo, out: Path) -> dict[str, str]:
    return read_manifest(manifest_path(repo, out.absolute()), out.absolute())


def test_a_maintenance_page_is_rebuilt_when_now_crosses_its_window(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "status")
    schedule(repo, "db", "Database upgrade", start=NOW + 2 * HOUR, end=NOW + 4 * HOUR, components=["api"],
             announced=NOW - DAY)  # fmt: skip
    schedule(repo, "done", "Done", start=NOW - 5 * DAY, end=NOW - 5 * DAY + HOUR, components=["web"],
             announced=NOW - 6 * DAY)  # fmt: skip
    step(repo, "done", "in_progress", NOW - 5 * DAY)
    step(repo, "done", "completed", NOW - 5 * DAY + HOUR)
    for n in range(3):  # enough records that a later build updates in place
        made = open_incident(repo, f"Old {n}", severity="sev3", at=NOW - (20 + n) * DAY)
        resolve_incident(repo, made.incident.id, at=NOW - (20 + n) * DAY + HOUR)
    out = tmp_path / "site"
    page = "incidents/db.html"

    def build(now: datetime) -> tuple[dict[str, str], str]:
        _build(Repo.open(repo.root), out, now, reuse=True)
        fresh = tmp_path / f"fresh-{now:%H%M}-{len(list(tmp_path.iterdir()))}"
        _build(Repo.open(repo.root), fresh, now, reuse=False)
        for path in sorted(p for p in fresh.rglob("*") if p.is_file()):
            assert (out / path.relative_to(fresh)).read_bytes() == path.read_bytes(), path
        return _keys(repo, out), (out / page).read_text(encoding="utf-8")

    before, html = build(NOW)
    assert "planned start has passed" not in html
    still_before, _ = build(NOW + HOUR)
    assert still_before[page] == before[page], "nothing changes on the page before the start"
    assert still_before["incidents/done.html"] == before["incidents/done.html"]
    overdue, html = build(NOW + 3 * HOUR)
    assert overdue[page] != before[page] and "planned start has passed" in html
    assert "(planned start passed, not started yet)" in (out / "index.html").read_text(encoding="utf-8")
    step(repo, "db", "in_progress", NOW + 3 * HOUR, "Started late.")
    running, html = build(NOW + 3 * HOUR + timedelta(minutes=10))
    assert "In progress" in html and "for 10m" in html
    late, html = build(NOW + 5 * HOUR)
    assert late[page] != running[page] and "planned end has passed" in html
    assert "(running past its planned end)" in (out / "index.html").read_text(encoding="utf-8")
    step(repo, "db", "completed", NOW + 5 * HOUR, "Done.")
    done, html = build(NOW + 6 * HOUR)
    assert "Completed" in html
    after, _ = build(NOW + 7 * HOUR)
    assert after[page] == done[page], "a finished maintenance's page no longer depends on now"
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'id="maint-next"' not in index and 'id="maint-now"' not in index


def test_a_window_across_a_dst_change_shows_both_offsets_and_the_real_duration(tmp_path: Path) -> None:
    """America/New_York springs forward at 2025-03-09 07:00 UTC: 01:00 EST to 04:00 EDT is 2 hours."""
    repo = make_repo(tmp_path / "status")
    start = datetime(2025, 3, 9, 6, 0, tzinfo=UTC)
    schedule(repo, "dst", "Night work", start=start, end=start + 2 * HOUR, components=["api"],
             announced=start - 3 * DAY)  # fmt: skip
    out = build_site(repo, tmp_path / "site", now=start - DAY)
    upcoming = section((out / "index.html").read_text(encoding="utf-8"), "maint-next")
    assert '<time datetime="2025-03-09T06:00:00Z">2025-03-09 01:00 EST</time>' in upcoming
    assert '<time datetime="2025-03-09T08:00:00Z">2025-03-09 04:00 EDT</time> (2h)' in upcoming
    item = load(out, "api/v2/scheduled-maintenances/upcoming.json")["scheduled_maintenances"][0]
    assert (item["scheduled_for"], item["scheduled_until"]) == ("2025-03-09T06:00:00Z", "2025-03-09T08:00:00Z")

"""``calendar.ics``: every maintenance as an event, parsed back with ``icalendar``; same bytes twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
from maintenance_support import HOUR, schedule, step

from incidentctl.site import build_site
from incidentctl.store import Repo
from testing import make_repo

NOW = datetime(2024, 12, 20, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
URL = "https://status.example.com"


def with_url(config: dict) -> None:  # type: ignore[type-arg]
    config["channels"]["statuspage"]["url"] = URL


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    made = make_repo(tmp_path / "status", config=with_url)
    schedule(
        made,
        "db-upgrade",
        "Database upgrade",
        start=NOW + 2 * HOUR,
        end=NOW + 4 * HOUR,
        components=["api", "web"],
        announced=NOW - 2 * DAY,
        message="Expect a read-only API for 2 hours.",
    )
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
    step(made, "moved", "rescheduled", NOW - 4 * DAY, "Moved.", start=NOW + 2 * DAY, end=NOW + 2 * DAY + HOUR)
    step(
        made,
        "moved",
        "rescheduled",
        NOW - 3 * DAY,
        "Again.",
        start=NOW + 3 * DAY,
        end=NOW + 3 * DAY + timedelta(minutes=90),
    )
    return made  # fmt: skip


def parse(site: Path) -> dict[str, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical((site / "calendar.ics").read_bytes())
    assert calendar["version"] == "2.0" and calendar["prodid"]
    events = calendar.walk("VEVENT")
    return {str(event["uid"]): event for event in events}


def test_events_parse_back(repo: Repo, tmp_path: Path) -> None:
    site = build_site(repo, tmp_path / "site", now=NOW)
    raw = (site / "calendar.ics").read_bytes()
    assert raw.startswith(b"BEGIN:VCALENDAR\r\n") and raw.endswith(b"END:VCALENDAR\r\n"), "CRLF lines (RFC 5545)"
    assert all(len(line) <= 75 for line in raw.split(b"\r\n")), "folded at 75 octets"
    events = parse(site)
    assert sorted(events) == [
        "db-upgrade@example-corp.incidentctl-2024",
        "moved@example-corp.incidentctl-2024",
        "old-plan@example-corp.incidentctl-2024",
    ]
    db = events["db-upgrade@example-corp.incidentctl-2024"]
    assert db.decoded("dtstart") == NOW + 2 * HOUR and db.decoded("dtend") == NOW + 4 * HOUR
    assert db.decoded("dtstart").tzinfo is not None and db.decoded("dtstart").utcoffset() == timedelta(0)
    assert b"DTSTART:20241220T140000Z" in raw, "UTC times, no floating or zone-bound ones"
    assert str(db["summary"]) == "Maintenance: Database upgrade"
    assert str(db["status"]) == "CONFIRMED" and int(db["sequence"]) == 0
    assert str(db["url"]) == f"{URL}/incidents/db-upgrade.html"
    description = str(db["description"])
    assert "Components: API, Website" in description and "Expect a read-only API for 2 hours." in description
    assert "Not counted as downtime" in description
    assert db.decoded("dtstamp") == NOW - 2 * DAY, "DTSTAMP: the last public update, never the build time"
    cancelled = events["old-plan@example-corp.incidentctl-2024"]
    assert str(cancelled["status"]) == "CANCELLED"
    moved = events["moved@example-corp.incidentctl-2024"]
    assert int(moved["sequence"]) == 2, "one more per reschedule"
    assert moved.decoded("dtstart") == NOW + 3 * DAY and moved.decoded("dtend") == NOW + 3 * DAY + timedelta(minutes=90)
    index = (site / "index.html").read_text(encoding="utf-8")
    assert '<link rel="alternate" type="text/calendar"' in index and 'href="calendar.ics"' in index


def test_uids_stay_and_sequence_grows_when_moved(repo: Repo, tmp_path: Path) -> None:
    first = parse(build_site(repo, tmp_path / "one", now=NOW))
    step(repo, "db-upgrade", "rescheduled", NOW, "Pushed back an hour.", start=NOW + 3 * HOUR, end=NOW + 5 * HOUR)
    second = parse(build_site(Repo.open(repo.root), tmp_path / "two", now=NOW))
    assert first.keys() == second.keys()
    uid = "db-upgrade@example-corp.incidentctl-2024"
    assert int(second[uid]["sequence"]) == int(first[uid]["sequence"]) + 1
    assert second[uid].decoded("dtstart") == NOW + 3 * HOUR
    assert second[uid].decoded("dtstamp") > first[uid].decoded("dtstamp")


def test_same_repo_and_now_give_the_same_bytes(repo: Repo, tmp_path: Path) -> None:
    one = build_site(repo, tmp_path / "a", now=NOW)
    two = build_site(Repo.open(repo.root), tmp_path / "b", now=NOW)
    assert (one / "calendar.ics").read_bytes() == (two / "calendar.ics").read_bytes()
    later = build_site(Repo.open(repo.root), tmp_path / "c", now=NOW + HOUR)
    assert (later / "calendar.ics").read_bytes() == (one / "calendar.ics").read_bytes(), "no build time inside"


def test_an_empty_calendar_is_still_a_calendar(tmp_path: Path) -> None:
    site = build_site(make_repo(tmp_path / "empty"), tmp_path / "site", now=NOW)
    assert parse(site) == {}

"""A default promise for every public update, and a promise that says its date when it is not today."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

from incidentctl.delivery import preview
from incidentctl.lifecycle import add_update, open_incident, resolve_incident
from incidentctl.promises import promise_time
from incidentctl.site import build_site
from incidentctl.store import Repo
from testing import make_repo

# 23:30 in New York (the repo's zone): a 30-minute promise (sev1) lands on the next local day.
LATE = datetime(2024, 12, 13, 4, 30, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"


def test_public_update_without_next_update_promises_update_every(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    at = datetime(2024, 12, 12, 15, 0, tzinfo=UTC)
    incident_id = open_incident(repo, "API down", severity="sev1", message="Down.", at=at).incident.id
    add_update(repo, incident_id, message="Looking at the database.", at=at + timedelta(minutes=10))
    add_update(repo, incident_id, message="internal", internal=True, at=at + timedelta(minutes=12))
    add_update(repo, incident_id, message="Quiet.", at=at + timedelta(minutes=15), no_next_update=True)
    add_update(repo, incident_id, message="Explicit.", next_update="2h", at=at + timedelta(minutes=20))
    resolve_incident(repo, incident_id, at=at + timedelta(hours=1))
    timeline = Repo.open(repo.root).load(incident_id).timeline
    assert [entry.next_update_by for entry in timeline] == [
        at + timedelta(minutes=30),  # sev1: update_every 30m
        at + timedelta(minutes=40),
        None,  # internal
        None,  # --no-next-update
        at + timedelta(hours=2, minutes=20),
        None,  # resolved
    ]
    assert [entry.no_next_update for entry in timeline] == [False, False, False, True, False, False]
    assert "no_next_update: true" in (repo.root / "incidents" / f"{incident_id}.yaml").read_text()


def test_cli_no_next_update_is_recorded(repo: Repo, cli) -> None:  # type: ignore[no-untyped-def]
    opened = cli("new", "API down", "--severity", "sev2", "--message", "Down.", "--no-next-update", repo=repo.root)
    assert opened.exit_code == 0, opened.output
    incident_id = opened.stdout.strip()
    (entry,) = Repo.open(repo.root).load(incident_id).timeline
    assert entry.next_update_by is None and entry.no_next_update
    both = cli("update", incident_id, "-m", "x", "--next-update", "1h", "--no-next-update", repo=repo.root)
    assert both.exit_code in (1, 2) and "Traceback" not in both.output


def test_promise_time_says_the_date_only_when_it_is_another_day() -> None:
    zone = "America/New_York"
    made = datetime(2024, 12, 12, 15, 0, tzinfo=UTC)  # 10:00 EST
    assert promise_time(made + timedelta(hours=1), made, zone) == "11:00 EST"
    assert promise_time(LATE + timedelta(minutes=30), LATE, zone) == "Fri Dec 13, 00:00 EST"
    assert promise_time(datetime(2025, 1, 1, 6, 0, tzinfo=UTC), LATE, zone) == "Wed Jan 1 2025, 01:00 EST"


def test_every_message_dates_a_promise_on_another_day(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    incident_id = open_incident(
        repo, "API down", severity="sev1", components={"api": "major_outage"}, message="Down.", at=LATE
    ).incident.id
    previews = preview(Repo.open(repo.root), Repo.open(repo.root).load(incident_id), ["slack", "x", "statuspage"])
    first = {item.channel: item for item in previews if item.kind != "summary"}
    assert set(first) == {"slack", "x", "statuspage"}
    for channel, item in first.items():
        shown = item.text + json.dumps(item.payload, ensure_ascii=False)
        assert "Fri Dec 13, 00:00 EST" in shown, channel
    site = build_site(Repo.open(repo.root), tmp_path / "out", now=LATE + timedelta(minutes=5))
    content = ET.parse(site / "feed.atom").getroot().find(f"{ATOM}entry/{ATOM}content")
    assert content is not None and "Next update by Fri Dec 13, 00:00 EST" in (content.text or "")
    assert "2024-12-13 00:00 EST" in (site / "index.html").read_text(encoding="utf-8")  # the page always dates it

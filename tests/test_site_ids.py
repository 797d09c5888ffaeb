"""Ids that do not move, unique group ids, and an API / page real consumers can read (SPEC "Ids that do not move")."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from incidentctl.lifecycle import add_update, open_incident
from incidentctl.site import build_site
from incidentctl.store import Repo
from testing import config_changes, make_repo, modify_config

NOW = datetime(2024, 12, 20, 12, 0, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"


def _feed_ids(site: Path) -> dict[str, str]:
    root = ET.parse(site / "feed.atom").getroot()
    return {
        entry.findtext(f"{ATOM}published", ""): entry.findtext(f"{ATOM}id", "") for entry in root.iter(f"{ATOM}entry")
    }


def _api_ids(site: Path) -> dict[str, str]:
    data = json.loads((site / "api/v2/incidents.json").read_text(encoding="utf-8"))
    return {update["created_at"]: update["id"] for item in data["incidents"] for update in item["incident_updates"]}


def _repo(tmp_path: Path) -> tuple[Repo, str]:
    repo = make_repo(tmp_path / "status", config=config_changes(git__commit=False))
    change = open_incident(
        repo,
        "API down",
        severity="sev3",
        components={"api": "major_outage"},
        message="Down.",
        at=NOW - timedelta(hours=3),
    )
    add_update(repo, change.incident.id, message="Fixing.", status="identified", at=NOW - timedelta(hours=1))
    return repo, change.incident.id


def test_backfill_and_url_change_move_no_entry_id(tmp_path: Path) -> None:
    repo, incident_id = _repo(tmp_path)
    before = build_site(repo, tmp_path / "a", now=NOW)
    old_feed, old_api = _feed_ids(before), _api_ids(before)
    assert len(old_feed) == len(old_api) == 2
    assert all(value.startswith("tag:incidentctl,2024:") for value in old_feed.values())
    assert all(re.fullmatch(r"[0-9a-f]{12}", value) for value in old_api.values())

    add_update(repo, incident_id, message="Backfilled.", status="investigating", at=NOW - timedelta(hours=2))
    modify_config(repo.root, lambda config: config["channels"]["statuspage"].update(url="https://status.example.com"))
    after = build_site(Repo.open(repo.root), tmp_path / "b", now=NOW)
    new_feed, new_api = _feed_ids(after), _api_ids(after)
    assert len(new_feed) == len(new_api) == 3
    assert {key: new_feed[key] for key in old_feed} == old_feed
    assert {key: new_api[key] for key in old_api} == old_api
    # The feed's own id does not follow the URL either.
    feed_before = ET.parse(before / "feed.atom").getroot().findtext(f"{ATOM}id")
    assert ET.parse(after / "feed.atom").getroot().findtext(f"{ATOM}id") == feed_before


def test_entries_at_one_instant_get_distinct_ids(tmp_path: Path) -> None:
    repo, incident_id = _repo(tmp_path)
    add_update(repo, incident_id, message="Same second.", at=NOW - timedelta(hours=1))
    site = build_site(repo, tmp_path / "out", now=NOW)
    root = ET.parse(site / "feed.atom").getroot()
    feed = [entry.findtext(f"{ATOM}id") for entry in root.iter(f"{ATOM}entry")]
    data = json.loads((site / "api/v2/incidents.json").read_text(encoding="utf-8"))
    api = [update["id"] for update in data["incidents"][0]["incident_updates"]]
    assert len(set(feed)) == len(feed) == 3
    assert len(set(api)) == len(api) == 3


def _groups(config: Any) -> None:
    names = ["Core & API", "Core API", "🔥🔥", "🚀", "Web"]
    config["components"] = [{"id": f"c{n}", "name": f"C{n}", "group": name} for n, name in enumerate(names)]
    config["git"]["commit"] = False


def test_group_ids_are_unique_in_html_and_json(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "status", config=_groups)
    site = build_site(repo, tmp_path / "out", now=NOW)
    html = (site / "index.html").read_text(encoding="utf-8")
    ids = re.findall(r'\bid="([^"]*)"', html)
    assert sorted(ids) == sorted(set(ids))
    group_ids = [value for value in ids if value.startswith("group-")]
    assert len(group_ids) == 5
    assert all(not value.endswith("-") for value in group_ids)
    for value in group_ids:
        assert f'aria-labelledby="{value}"' in html
    data = json.loads((site / "api/v2/components.json").read_text(encoding="utf-8"))
    groups = [item["id"] for item in data["components"] if item["group"]]
    assert sorted(groups) == sorted(group_ids)
    members = {item["group_id"] for item in data["components"] if not item["group"]}
    assert members == set(groups)


def test_maintenance_only_incident_has_a_statuspage_impact(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "status", config=config_changes(git__commit=False))
    open_incident(
        repo, "DB upgrade", severity="sev3", components={"api": "under_maintenance"}, message="Planned.", at=NOW
    )
    site = build_site(repo, tmp_path / "out", now=NOW)
    for name in ("incidents.json", "summary.json", "incidents/unresolved.json"):
        data = json.loads((site / "api/v2" / name).read_text(encoding="utf-8"))
        assert [item["impact"] for item in data["incidents"]] == ["none"], name


def test_right_to_left_names_are_isolated(tmp_path: Path) -> None:
    def rtl(config: Any) -> None:
        config["components"][0]["name"] = "واجهة API"
        config["components"][0]["group"] = "الأساسية"
        config["git"]["commit"] = False

    repo = make_repo(tmp_path / "status", config=rtl)
    change = open_incident(repo, "انقطاع الخدمة 2", severity="sev3", components={"api": "major_outage"}, at=NOW)
    site = build_site(repo, tmp_path / "out", now=NOW)
    index = (site / "index.html").read_text(encoding="utf-8")
    page = (site / f"incidents/{change.incident.id}.html").read_text(encoding="utf-8")
    for text in ("واجهة API", "الأساسية", "انقطاع الخدمة 2"):
        assert f"<bdi>{text}</bdi>" in index
        shown = re.sub(r'"[^"]*"', "", index.replace(f"<bdi>{text}</bdi>", ""))  # attributes cannot hold <bdi>
        assert text not in shown
    assert '<h1 id="title"><bdi>انقطاع الخدمة 2</bdi></h1>' in page


def test_headings_wrap_a_long_word() -> None:
    css = (Path(__file__).parent.parent / "templates/site/style.css").read_text(encoding="utf-8")
    rule = re.search(r"h1,h2,h3,[^{]*\{[^}]*overflow-wrap:anywhere", css)
    assert rule, "a long word in a title would overflow the <h1> at 320 px"

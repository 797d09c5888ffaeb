"""Status at a glance for other sites: badges, shields.io endpoint JSON, the widget JSON, component feeds.

SVGs are parsed as XML, their colours checked against WCAG AA (the ratio is computed here), the
shields JSON against shields' endpoint schema, the feeds with feedparser; a full and an incremental
build give the same bytes. The headless-Chromium check is marked ``browser``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import feedparser
import pytest

from incidentctl.lifecycle import add_update, open_incident, resolve_incident
from incidentctl.site import build_site
from incidentctl.site.badges import IMPACT_COLORS, LABEL_COLOR, TEXT_COLOR, badge_svg
from incidentctl.store import Repo
from testing import PROJECT_ROOT, make_repo

NOW = datetime(2024, 12, 20, 12, 0, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"
HOSTILE_NAME = 'Web <script>alert(1)</script> & "quotes" ]]> \x01'
#: shields.io's named colours (its endpoint also takes hex, with or without '#', and CSS colours).
SHIELDS_NAMED = {
    "brightgreen",
    "green",
    "yellowgreen",
    "yellow",
    "orange",
    "red",
    "blue",
    "lightgrey",
    "grey",
    "gray",
    "lightgray",
    "success",
    "important",
    "critical",
    "informational",
    "inactive",
}
SHIELDS_HEX = re.compile(r"^#?(?:[0-9a-fA-F]{3}){1,2}$")


def hostile_config(config: Any) -> None:
    config["components"][1]["name"] = HOSTILE_NAME  # "web"
    config["git"]["commit"] = False


@pytest.fixture
def glance_repo(tmp_path: Path) -> Repo:
    """api: an open major outage; web (hostile name): under maintenance; chatgpt: a resolved incident; sora: none."""
    repo = make_repo(tmp_path / "status", config=hostile_config)
    open_incident(
        repo,
        "API down",
        severity="sev1",
        components={"api": "major_outage"},
        message="Errors.",
        at=NOW - timedelta(hours=2),
    )
    open_incident(
        repo,
        "Database upgrade",
        severity="sev3",
        components={"web": "under_maintenance"},
        message="Planned work.",
        at=NOW - timedelta(hours=1),
    )
    old = open_incident(
        repo,
        "ChatGPT slow",
        severity="sev3",
        components={"chatgpt": "degraded_performance"},
        at=NOW - timedelta(days=3),
    )
    resolve_incident(repo, old.incident.id, message="Fixed.", at=NOW - timedelta(days=3) + timedelta(hours=1))
    return Repo.open(repo.root)


@pytest.fixture
def built(glance_repo: Repo, tmp_path: Path) -> Path:
    return build_site(glance_repo, tmp_path / "site", now=NOW)


def all_files(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def luminance(color: str) -> float:
    color = color.lstrip("#")
    channels = [int(color[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def parse_badge(path: Path) -> ET.Element:
    root = ET.fromstring(path.read_bytes())
    assert root.tag == f"{SVG}svg"
    title = root.findtext(f"{SVG}title")
    assert title, f"{path}: no <title>"
    assert root.get("role") == "img" and root.get("aria-label") == title
    return root


def test_contrast_formula_matches_wcag() -> None:
    assert contrast("000000", "ffffff") == pytest.approx(21.0)
    assert contrast("767676", "ffffff") == pytest.approx(4.54, abs=0.01)  # the classic AA grey


def test_every_badge_colour_meets_wcag_aa() -> None:
    for color in (LABEL_COLOR, *IMPACT_COLORS.values()):
        assert contrast(color, TEXT_COLOR) >= 4.5, color


def test_badges_are_accessible_self_contained_svg(built: Path) -> None:
    paths = [
        built / "badge.svg",
        *(built / "components" / cid / "badge.svg" for cid in ("api", "web", "chatgpt", "sora")),
    ]
    for path in paths:
        root = parse_badge(path)
        data = path.read_bytes()
        for needle in (b"href", b"url(", b"@import", b"<image", b"<style", b"<script", b"http://", b"https://"):
            # the xmlns declaration is a name, not a fetch
            assert data.replace(b'xmlns="http://www.w3.org/2000/svg"', b"").count(needle) == 0, (path, needle)
        fills = [node.get("fill", "") for node in root.iter() if node.get("fill")]
        texts = [
            node.get("fill", "")
            for node in root.iter()
            if node.tag == f"{SVG}g" and node.find(f"{SVG}text") is not None
        ]
        assert texts == [f"#{TEXT_COLOR}"]
        for fill in fills:
            if fill != f"#{TEXT_COLOR}":
                assert contrast(fill, TEXT_COLOR) >= 4.5, (path, fill)
        assert len(root.findall(f".//{SVG}text")) == 2
    overall = parse_badge(built / "badge.svg")
    assert overall.findtext(f"{SVG}title") == "status: major outage"


def test_untrusted_names_are_escaped(built: Path) -> None:
    root = parse_badge(built / "components" / "web" / "badge.svg")
    expected = " ".join(HOSTILE_NAME.replace("\x01", "").split())
    assert root.findtext(f"{SVG}title") == f"{expected}: under maintenance"
    assert b"<script" not in (built / "components" / "web" / "badge.svg").read_bytes()
    shield = json.loads((built / "api" / "badges" / "web.json").read_bytes())
    assert shield["label"] == expected
    atom = feedparser.parse((built / "components" / "web" / "feed.atom").read_bytes())
    assert atom.bozo == 0 and atom.feed.title.endswith(expected)


def test_maintenance_is_never_shown_as_down(built: Path, glance_repo: Repo, tmp_path: Path) -> None:
    web = json.loads((built / "api" / "badges" / "web.json").read_bytes())
    assert (web["message"], web["color"]) == ("under maintenance", IMPACT_COLORS["under_maintenance"])
    assert (
        parse_badge(built / "components" / "web" / "badge.svg")
        .findtext(f"{SVG}title", "")
        .endswith(": under maintenance")
    )
    widget = json.loads((built / "api" / "widget.json").read_bytes())
    by_id = {item["id"]: item for item in widget["components"]}
    assert by_id["web"]["status"] == "under_maintenance" and by_id["web"]["message"] == "under maintenance"
    # Only maintenance going on: the whole page is "under maintenance" in blue, not an outage.
    for incident in glance_repo.scan():
        if incident.is_open and incident.title == "API down":
            resolve_incident(glance_repo, incident.id, at=NOW - timedelta(minutes=5))
    later = build_site(Repo.open(glance_repo.root), tmp_path / "later", now=NOW)
    overall = json.loads((later / "api" / "badge.json").read_bytes())
    assert overall == {
        "schemaVersion": 1,
        "label": "status",
        "message": "under maintenance",
        "color": IMPACT_COLORS["under_maintenance"],
    }
    assert parse_badge(later / "badge.svg").findtext(f"{SVG}title") == "status: under maintenance"


def test_shields_endpoint_json_has_exactly_the_schema(built: Path) -> None:
    paths = [built / "api" / "badge.json", *sorted((built / "api" / "badges").glob("*.json"))]
    assert {path.stem for path in paths[1:]} == {"api", "web", "chatgpt", "sora"}
    for path in paths:
        data = json.loads(path.read_bytes())
        assert list(data) == ["schemaVersion", "label", "message", "color"], path
        assert data["schemaVersion"] == 1
        assert isinstance(data["label"], str) and isinstance(data["message"], str) and data["message"]
        assert data["color"] in SHIELDS_NAMED or SHIELDS_HEX.match(data["color"]), data["color"]
    api = json.loads((built / "api" / "badges" / "api.json").read_bytes())
    assert (api["label"], api["message"], api["color"]) == ("API", "major outage", IMPACT_COLORS["major_outage"])
    sora = json.loads((built / "api" / "badges" / "sora.json").read_bytes())
    assert (sora["message"], sora["color"]) == ("operational", IMPACT_COLORS["operational"])


def test_widget_json(built: Path, glance_repo: Repo) -> None:
    widget = json.loads((built / "api" / "widget.json").read_bytes())
    assert widget["in_progress_maintenances"] == [] and widget["scheduled_maintenances"] == []
    assert widget["status"]["indicator"] == "critical"
    open_titles = sorted(incident["name"] for incident in widget["ongoing_incidents"])
    assert open_titles == ["API down", "Database upgrade"]
    for incident in widget["ongoing_incidents"]:
        assert (built / incident["url"]).is_file()
        assert incident["components"] and incident["started_at"].endswith("Z")
    for item in widget["components"]:
        assert (built / item["badge"]).is_file() and (built / item["feed"]).is_file()


class _Heads(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.feeds: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "link" and found.get("rel") == "alternate" and found.get("type") == "application/atom+xml":
            self.feeds.append(found.get("href") or "")


def alternate_feeds(path: Path) -> list[str]:
    parser = _Heads()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.feeds


def test_feeds_are_linked_from_the_pages(built: Path) -> None:
    pages = sorted(built.rglob("*.html"))
    assert len(pages) >= 5
    for page in pages:
        links = alternate_feeds(page)
        assert links and (page.parent / links[0]).resolve() == (built / "feed.atom").resolve(), page
        for link in links:
            assert (page.parent / link).is_file(), (page, link)
    index = alternate_feeds(built / "index.html")
    assert index[1:] == [f"components/{cid}/feed.atom" for cid in ("api", "web", "chatgpt", "sora")]


def test_component_feeds_hold_only_their_incidents(built: Path, glance_repo: Repo) -> None:
    incidents = {incident.id: incident for incident in glance_repo.scan()}
    for cid in ("api", "web", "chatgpt", "sora"):
        path = built / "components" / cid / "feed.atom"
        parsed = feedparser.parse(path.read_bytes())
        assert parsed.bozo == 0, parsed.get("bozo_exception")
        assert parsed.version == "atom10" and parsed.feed.get("id") and parsed.feed.get("updated")
        linked = set()
        for entry in parsed.entries:
            target = (path.parent / entry.link).resolve()
            assert target.is_file(), entry.link
            linked.add(target.stem)
        touching = {i for i, incident in incidents.items() if any(cid in e.components for e in incident.timeline)}
        assert linked == touching, cid
        expected = sum(len(incidents[i].public_entries) for i in touching)
        assert len(parsed.entries) == expected
    sora = feedparser.parse((built / "components" / "sora" / "feed.atom").read_bytes())
    assert sora.entries == []
    # The site feed is the union, and an entry keeps its id in every feed that shows it.
    site = {entry.id for entry in feedparser.parse((built / "feed.atom").read_bytes()).entries}
    for cid in ("api", "web", "chatgpt"):
        ids = {entry.id for entry in feedparser.parse((built / "components" / cid / "feed.atom").read_bytes()).entries}
        assert ids and ids <= site


def test_component_feed_links_with_a_site_url(glance_repo: Repo, tmp_path: Path) -> None:
    def with_url(config: Any) -> None:
        hostile_config(config)
        config["channels"]["statuspage"]["url"] = "https://status.example.com/"

    other = make_repo(tmp_path / "url", config=with_url)
    made = open_incident(other, "API down", severity="sev1", components={"api": "major_outage"}, at=NOW)
    out = build_site(other, tmp_path / "url-site", now=NOW)
    parsed = feedparser.parse((out / "components" / "api" / "feed.atom").read_bytes())
    assert parsed.bozo == 0
    # Feed ids never move, not even when `statuspage.url` is set later (SPEC "Ids that do not move").
    assert parsed.feed.id == "tag:incidentctl,2024:example-corp/components/api/feed"
    assert [entry.link for entry in parsed.entries] == [f"https://status.example.com/incidents/{made.incident.id}.html"]


def test_glance_files_are_deterministic_and_incremental(glance_repo: Repo, tmp_path: Path) -> None:
    from incidentctl.site.build import _build

    glance = ("badge.svg", "api/badge.json", "api/widget.json", "components/api/feed.atom", "api/badges/web.json")
    first = all_files(build_site(glance_repo, tmp_path / "a", now=NOW))
    (glance_repo.root / ".git" / "incidentctl" / "scan-cache.pickle").unlink(missing_ok=True)
    second = all_files(build_site(Repo.open(glance_repo.root), tmp_path / "b", now=NOW))
    assert first == second
    assert all(path in first for path in glance)
    # An update that changes a component's status: the incremental build equals a full one.
    out = tmp_path / "a"
    api_down = next(i for i in glance_repo.scan() if i.title == "API down")
    add_update(glance_repo, api_down.id, message="Better.", components={"api": "degraded_performance"}, at=NOW)
    report = _build(Repo.open(glance_repo.root), out, NOW + timedelta(minutes=1), reuse=True)
    assert report.reused > 0
    full = _build(Repo.open(glance_repo.root), tmp_path / "full", NOW + timedelta(minutes=1), reuse=False)
    assert all_files(out) == all_files(tmp_path / "full")
    shield = json.loads((out / "api" / "badges" / "api.json").read_bytes())
    assert shield["message"] == "degraded performance"
    assert full.rendered > 0


def test_badge_svg_layout_fits_long_and_wide_text() -> None:
    root = ET.fromstring(badge_svg("W" * 80, "major outage", IMPACT_COLORS["major_outage"]))
    title = root.findtext(f"{SVG}title") or ""
    assert title.startswith("W") and "…" in title and len(title) < 90
    rects = root.findall(f".//{SVG}rect")
    assert sum(int(rect.get("width", "0")) for rect in rects) == int(root.get("width", "0"))


@pytest.mark.browser
def test_badge_renders_in_chromium(built: Path, tmp_path: Path) -> None:
    from testing import DevTools

    binary = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but Chromium is not installed")
        pytest.skip("Chromium is not installed")
    page = built / "embed.html"
    page.write_text(
        '<!doctype html><html lang="en"><title>embed</title><img id="b" src="badge.svg" alt="status">'
        '<img id="c" src="components/web/badge.svg" alt="web">',
        encoding="utf-8",
    )
    client = DevTools(binary, tmp_path / "profile", tmp_path / "chromium.log")
    try:
        client.open_page()
        client.load(page.as_uri())
        sizes = client.evaluate("[...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        assert sizes and all(done and width > 40 and height == 20 for done, width, height in sizes), sizes
        client.load((built / "badge.svg").as_uri())
        assert client.evaluate("document.querySelector('title').textContent") == "status: major outage"
        client.screenshot(PROJECT_ROOT / "test-artifacts" / "badge.png")
        assert client.problems() == []
    finally:
        client.close()


def test_unchanged_component_feeds_are_reused(glance_repo: Repo, tmp_path: Path) -> None:
    from incidentctl.site.build import _build

    out = tmp_path / "site"
    _build(glance_repo, out, NOW, reuse=True)
    before = {cid: (out / "components" / cid / "feed.atom").stat().st_mtime_ns for cid in ("api", "chatgpt", "sora")}
    api_down = next(i for i in glance_repo.scan() if i.title == "API down")
    add_update(glance_repo, api_down.id, message="Still on it.", at=NOW)
    report = _build(Repo.open(glance_repo.root), out, NOW, reuse=True)
    assert report.in_place
    after = {cid: (out / "components" / cid / "feed.atom").stat().st_mtime_ns for cid in ("api", "chatgpt", "sora")}
    assert after["chatgpt"] == before["chatgpt"], "a feed whose incidents did not change is not rewritten"
    assert after["api"] != before["api"]
    assert b"Still on it." in (out / "components" / "api" / "feed.atom").read_bytes()


def test_component_feed_reads_records_the_shared_view_does_not_hold(
    glance_repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A component feed may show an old incident no other shared file needs: it is read on demand."""
    from incidentctl.site import api, feed, records
    from incidentctl.site.build import _build

    monkeypatch.setattr(feed, "FEED_LIMIT", 1)
    monkeypatch.setattr(feed, "COMPONENT_FEED_LIMIT", 1)
    monkeypatch.setattr(api, "INCIDENTS_LIMIT", 1)
    monkeypatch.setattr(records, "HOT_BY_LAST", 1)
    monkeypatch.setattr(records, "HOT_BY_START", 1)
    _build(glance_repo, tmp_path / "cold", NOW, reuse=False)
    _build(Repo.open(glance_repo.root), tmp_path / "warm", NOW, reuse=False)  # summaries cached, few records hot
    assert all_files(tmp_path / "warm") == all_files(tmp_path / "cold")
    parsed = feedparser.parse((tmp_path / "warm" / "components" / "chatgpt" / "feed.atom").read_bytes())
    assert [entry.title for entry in parsed.entries] == ["Resolved: ChatGPT slow"]

"""The static status page: files, escaping, privacy, determinism, links, feed, JSON shape, bars."""

from __future__ import annotations

import json
import threading
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from incidentctl.errors import IncidentctlError
from incidentctl.lifecycle import add_update, open_incident, resolve_incident
from incidentctl.model import IMPACTS, STATUSES, Entry, Incident, Postmortem, clean_text
from incidentctl.site import build_site
from incidentctl.store import Repo
from incidentctl.vocabulary import INDICATOR_DESCRIPTIONS, INDICATORS
from testing import PROJECT_ROOT, config_changes, make_repo

NOW = datetime(2024, 12, 20, 12, 0, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"
HOSTILE_TITLE = 'API "down" </title><script>alert(1)</script> & <img src=x onerror=alert(2)>'
HOSTILE_MESSAGE = "We're on it <script>alert('x')</script> \"quoted\" & </textarea>\x01\x08 ]]> {{ 7*7 }}"
SECRET = "INTERNAL-ONLY-db-password-rotation-7f3a"
API_FILES = (
    "api/v2/summary.json",
    "api/v2/status.json",
    "api/v2/components.json",
    "api/v2/incidents.json",
    "api/v2/incidents/unresolved.json",
)


def grouped(config: Any) -> None:
    api, web = config["components"][:2]
    assert (api["id"], web["id"]) == ("api", "web")
    api.update(group="Core", description="The public REST API")
    web.update(group="Core")
    config["git"]["commit"] = False


no_commit = config_changes(git__commit=False)


@pytest.fixture
def site_repo(tmp_path: Path) -> Repo:
    """A repo with a hostile open incident (with an internal note), a resolved one, and a postmortem."""
    repo = make_repo(tmp_path / "status", config=grouped)
    assert repo.config.components[0].group == "Core", "the config edit must take effect"
    change = open_incident(
        repo,
        HOSTILE_TITLE,
        severity="sev1",
        components={"api": "major_outage", "chatgpt": "partial_outage"},
        message=HOSTILE_MESSAGE,
        next_update="30m",
        at=NOW - timedelta(hours=3),
    )
    add_update(repo, change.incident.id, message=SECRET, internal=True, at=NOW - timedelta(hours=2, minutes=30))
    add_update(
        repo,
        change.incident.id,
        message="A fix is rolling out.",
        status="identified",
        components={"api": "degraded_performance"},
        next_update="1h",
        at=NOW - timedelta(hours=2),
    )
    old = open_incident(
        repo,
        "Website slow",
        severity="sev3",
        components={"web": "degraded_performance"},
        message="Slow pages.",
        at=NOW - timedelta(days=10),
    )
    resolve_incident(repo, old.incident.id, message="Back to normal.", at=NOW - timedelta(days=10) + timedelta(hours=5))
    pm = open_incident(
        repo,
        "Sora outage",
        severity="sev2",
        components={"sora": "major_outage"},
        message="Sora is down.",
        at=NOW - timedelta(days=40),
    )
    resolve_incident(repo, pm.incident.id, at=NOW - timedelta(days=40) + timedelta(hours=2))
    record = repo.load(pm.incident.id)
    repo.save(
        record.model_copy(
            update={
                "postmortem": Postmortem(
                    public=True,
                    public_summary="A bad config push; we now canary configs.",
                    summary=f"internal: {SECRET}",
                )
            }
        )
    )
    secret_pm = open_incident(
        repo, "Quiet incident", severity="sev3", message="Minor blip.", at=NOW - timedelta(days=50)
    )
    resolve_incident(repo, secret_pm.incident.id, at=NOW - timedelta(days=50) + timedelta(minutes=20))
    record = repo.load(secret_pm.incident.id)
    repo.save(
        record.model_copy(update={"postmortem": Postmortem(public=False, public_summary=f"not yet public {SECRET}")})
    )
    # An incident with internal entries only was never announced: it must not appear at all.
    hidden = open_incident(repo, "Hidden internal drill", severity="sev3", message="drill", at=NOW - timedelta(days=1))
    record = repo.load(hidden.incident.id)
    repo.save(
        record.model_copy(
            update={
                "timeline": [e.model_copy(update={"visibility": "internal", "deliveries": {}}) for e in record.timeline]
            }
        )
    )
    return Repo.open(repo.root)


@pytest.fixture
def built(site_repo: Repo, tmp_path: Path) -> Path:
    return build_site(site_repo, tmp_path / "out", now=NOW)


def all_files(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.tags: list[str] = []
        self.ids: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("href", "src") and value is not None:
                self.links.append(value)
            if name == "id" and value:
                self.ids.append(value)
            if name.startswith("on"):
                raise AssertionError(f"event handler attribute {name} in output")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(data: bytes) -> _Links:
    parser = _Links()
    parser.feed(data.decode("utf-8"))
    parser.close()
    return parser


def test_structure_and_files(built: Path, site_repo: Repo) -> None:
    files = all_files(built)
    ids = {incident.id for incident in site_repo.scan()}
    public_ids = {i for i in ids if "hidden" not in i}
    for name in ("index.html", "history.html", "feed.atom", "style.css", *API_FILES):
        assert name in files, name
    assert {f"incidents/{i}.html" for i in public_ids} <= set(files)
    assert not any("hidden" in name for name in files), "an incident with no public entry was published"
    index = parse_html(files["index.html"])
    for landmark in ("header", "main", "footer", "nav"):
        assert landmark in index.tags
    text = " ".join(index.text)
    assert "Partial system outage" in text  # API degraded, ChatGPT partial outage: the "major" indicator
    assert "Active incidents" in text and "Next update by" in text
    assert "Core" in text and "The public REST API" in text
    assert "uptime" in text
    assert len(index.ids) == len(set(index.ids)), "duplicate ids in index.html"


def test_hostile_text_is_escaped_everywhere(built: Path, site_repo: Repo) -> None:
    files = all_files(built)
    for name, data in files.items():
        if name.endswith(".json"):
            json.loads(data)  # raw text is fine in JSON, as long as it stays JSON
            continue
        text = data.decode("utf-8")
        assert "<script" not in text.lower(), name
        assert "<img" not in text.lower(), name
        assert "\x01" not in text, name
        if name.endswith(".html"):
            parse_html(data)  # raises on any injected on* attribute
            assert "{{ 7*7 }}" in text or "49" not in text  # never rendered as a template
    hostile = next(i for i in site_repo.scan() if i.title.startswith("API"))
    page = files[f"incidents/{hostile.id}.html"].decode("utf-8")
    assert "API &#34;down&#34; &lt;/title&gt;&lt;script&gt;" in page
    assert "{{ 7*7 }}" in page
    summary = json.loads(files["api/v2/summary.json"])
    assert summary["incidents"][0]["name"] == HOSTILE_TITLE
    assert clean_text(HOSTILE_MESSAGE) in [u["body"] for u in summary["incidents"][0]["incident_updates"]]
    feed = ET.fromstring(files["feed.atom"])
    titles = [entry.findtext(f"{ATOM}title") for entry in feed.iter(f"{ATOM}entry")]
    assert any(HOSTILE_TITLE in (title or "") for title in titles)


def test_internal_text_never_published(built: Path) -> None:
    for name, data in all_files(built).items():
        assert SECRET.encode() not in data, name
        assert b"not yet public" not in data, name
        assert b"Hidden internal drill" not in data, name


def test_postmortem_summary_only_when_public(built: Path, site_repo: Repo) -> None:
    by_title = {i.title: i.id for i in site_repo.scan()}
    public_pm = built.joinpath(f"incidents/{by_title['Sora outage']}.html").read_text()
    assert "Postmortem summary" in public_pm and "we now canary configs" in public_pm
    quiet = built.joinpath(f"incidents/{by_title['Quiet incident']}.html").read_text()
    assert "Postmortem" not in quiet


def test_build_is_deterministic(site_repo: Repo, tmp_path: Path) -> None:
    first = all_files(build_site(site_repo, tmp_path / "a", now=NOW))
    (site_repo.root / ".git" / "incidentctl" / "scan-cache.pickle").unlink(missing_ok=True)
    second = all_files(build_site(Repo.open(site_repo.root), tmp_path / "b", now=NOW))
    assert first == second
    later = all_files(build_site(site_repo, tmp_path / "c", now=NOW + timedelta(days=1)))
    assert later["index.html"] != first["index.html"], "the bars must move with --now"


def test_relative_links_all_resolve(built: Path) -> None:
    checked = 0
    for path in sorted(built.rglob("*.html")):
        for link in parse_html(path.read_bytes()).links:
            assert "://" not in link and not link.startswith("/"), f"{path.name}: non-relative link {link}"
            target = link.split("#")[0]
            if not target:
                continue
            resolved = (path.parent / target).resolve()
            assert resolved.is_file(), f"{path.relative_to(built)} links to missing {link}"
            assert built.resolve() in resolved.parents, f"{link} leaves the site"
            checked += 1
    assert checked > 20


def test_feed_is_valid_atom(built: Path, site_repo: Repo) -> None:
    feed = ET.parse(built / "feed.atom").getroot()
    assert feed.tag == f"{ATOM}feed"
    for child in ("id", "title", "updated"):
        assert feed.find(f"{ATOM}{child}") is not None
    assert feed.find(f"{ATOM}author/{ATOM}name") is not None
    entries = feed.findall(f"{ATOM}entry")
    public_updates = sum(len(i.public_entries) for i in site_repo.scan() if "hidden" not in i.id)
    assert len(entries) == public_updates
    ids = [entry.findtext(f"{ATOM}id") for entry in entries]
    assert len(set(ids)) == len(ids) and all(i and i.startswith("tag:incidentctl,2024:") for i in ids)
    stamps = [entry.findtext(f"{ATOM}updated") for entry in entries]
    assert stamps == sorted(stamps, reverse=True)
    for entry in entries:
        stamp = entry.findtext(f"{ATOM}updated") or ""
        datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        link = entry.find(f"{ATOM}link")
        assert link is not None and (built / link.get("href", "")).is_file()


def test_statuspage_json_shape(built: Path, site_repo: Repo) -> None:
    docs = {name: json.loads((built / name).read_text()) for name in API_FILES}
    for name, doc in docs.items():
        assert set(doc["page"]) == {"id", "name", "url", "time_zone", "updated_at"}, name
    status = docs["api/v2/status.json"]["status"]
    assert status["indicator"] in INDICATORS and status["description"] == INDICATOR_DESCRIPTIONS[status["indicator"]]
    assert status == {"indicator": "major", "description": "Partial System Outage"}
    summary = docs["api/v2/summary.json"]
    assert set(summary) == {"page", "components", "incidents", "scheduled_maintenances", "status"}
    components = {c["id"]: c for c in summary["components"]}
    assert components["api"]["status"] == "degraded_performance"
    assert components["chatgpt"]["status"] == "partial_outage"
    assert components["web"]["status"] == "operational"
    assert components["api"]["group_id"] == components["web"]["group_id"] == "group-core"
    group = components["group-core"]
    assert (
        group["group"] is True and group["components"] == ["api", "web"] and group["status"] == "degraded_performance"
    )
    for component in summary["components"]:
        assert component["status"] in IMPACTS
        for key in (
            "id",
            "name",
            "status",
            "created_at",
            "updated_at",
            "position",
            "description",
            "group_id",
            "page_id",
            "group",
            "only_show_if_degraded",
            "showcase",
        ):
            assert key in component
    assert [i["status"] for i in summary["incidents"]] == ["identified"]
    assert docs["api/v2/incidents/unresolved.json"]["incidents"] == summary["incidents"]
    listed = docs["api/v2/incidents.json"]["incidents"]
    assert len(listed) == 4
    assert [i["created_at"] for i in listed] == sorted((i["created_at"] for i in listed), reverse=True)
    for incident in listed:
        assert incident["status"] in STATUSES
        assert incident["impact"] in ("none", "minor", "major", "critical", "maintenance")
        for key in (
            "id",
            "name",
            "created_at",
            "updated_at",
            "monitoring_at",
            "resolved_at",
            "shortlink",
            "started_at",
            "page_id",
            "incident_updates",
            "components",
        ):
            assert key in incident
        updates = incident["incident_updates"]
        assert [u["created_at"] for u in updates] == sorted((u["created_at"] for u in updates), reverse=True)
        assert (built / incident["shortlink"]).is_file()
    hostile = listed[0]
    assert hostile["impact"] == "critical" and hostile["resolved_at"] is None
    first_update = hostile["incident_updates"][-1]
    assert {"code": "api", "name": "API", "old_status": "operational", "new_status": "major_outage"} in first_update[
        "affected_components"
    ]
    second = hostile["incident_updates"][0]
    assert second["affected_components"] == [
        {"code": "api", "name": "API", "old_status": "major_outage", "new_status": "degraded_performance"}
    ]


def test_incidents_json_keeps_latest_50(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "many", config=no_commit)
    for number in range(55):
        at = NOW - timedelta(days=number)
        repo.save(
            Incident(
                id=f"{at:%Y-%m-%d}-blip-{number}",
                title=f"Blip {number}",
                severity="sev3",
                timeline=[
                    Entry(at=at, status="investigating", message="x", components={"api": "degraded_performance"}),
                    Entry(
                        at=at + timedelta(minutes=5), status="resolved", message="ok", components={"api": "operational"}
                    ),
                ],
            )
        )
    out = build_site(Repo.open(repo.root), tmp_path / "site", now=NOW)
    listed = json.loads((out / "api/v2/incidents.json").read_text())["incidents"]
    assert len(listed) == 50 and listed[0]["name"] == "Blip 0" and listed[-1]["name"] == "Blip 49"
    # Default history page size is 50: history.html holds the newest 50, archive pages hold fixed
    # chunks counted from the oldest incident (so old pages never shift), linked both ways.
    history = (out / "history.html").read_text()
    assert history.count('<li><a href="incidents/') == 50 and "Blip 0<" in history and "Blip 50<" not in history
    assert 'href="history-1.html" rel="next">Older incidents' in history
    oldest = (out / "history-1.html").read_text()
    assert oldest.count('<li><a href="incidents/') == 50 and "Blip 54<" in oldest and "Blip 4<" not in oldest
    assert 'href="history-2.html" rel="prev"' in oldest
    newest = (out / "history-2.html").read_text()
    assert newest.count('<li><a href="incidents/') == 5 and 'href="history.html" rel="prev"' in newest
    assert not (out / "history-3.html").exists()


def test_bars_and_uptime(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "bars", config=no_commit, timezone="UTC")
    start = datetime(2024, 12, 10, 23, 0, tzinfo=UTC)
    repo.save(
        Incident(
            id="2024-12-10-api-down",
            title="API down",
            severity="sev1",
            timeline=[
                Entry(at=start, status="investigating", components={"api": "major_outage"}),
                Entry(at=start + timedelta(hours=2), status="monitoring", components={"api": "partial_outage"}),
                Entry(at=start + timedelta(hours=4), status="resolved", components={"api": "operational"}),
            ],
        )
    )
    out = build_site(Repo.open(repo.root), tmp_path / "site", now=NOW)
    index = (out / "index.html").read_text()
    assert 'class="ma" title="Dec 10, 2024: Major outage: API down"' in index
    assert 'class="ma" title="Dec 11, 2024: Major outage: API down"' in index
    assert "Dec 12 – Dec 20, 2024: no incidents" in index, "the bar must end at --now"
    # Downtime: 2h major + 2h partial at 30% = 2.6h over 89.5 days.
    expected = 100 * (1 - 2.6 * 3600 / (89.5 * 86400))
    assert f"{int(expected * 100) / 100:.2f}% uptime" in index
    assert "100% uptime" in index  # the other components
    components = json.loads((out / "api/v2/components.json").read_text())["components"]
    assert all(c["status"] == "operational" for c in components)
    assert json.loads((out / "api/v2/status.json").read_text())["status"]["indicator"] == "none"
    assert "All systems operational" in index


def test_empty_repo_builds(repo: Repo, tmp_path: Path) -> None:
    out = build_site(repo, tmp_path / "site", now=NOW)
    index = (out / "index.html").read_text()
    assert "All systems operational" in index and "No incidents reported." in index
    assert json.loads((out / "api/v2/incidents.json").read_text())["incidents"] == []
    ET.parse(out / "feed.atom")


def test_index_is_small_for_50_components_and_a_year(tmp_path: Path) -> None:
    components = tuple((f"svc-{n}", f"Service number {n}") for n in range(50))
    repo = make_repo(tmp_path / "big", components=components, config=no_commit)
    for number in range(200):  # a busy year: an incident every ~2 days
        at = NOW - timedelta(hours=number * 44)
        affected = {f"svc-{(number * 7 + k) % 50}": "partial_outage" for k in range(3)}
        repo.save(
            Incident(
                id=f"{at:%Y-%m-%d}-incident-{number}",
                title=f"Elevated errors on several services, incident number {number}",
                severity="sev2",
                timeline=[
                    Entry(at=at, status="investigating", message="Investigating.", components=affected),  # type: ignore[arg-type]
                    Entry(
                        at=at + timedelta(hours=1),
                        status="resolved",
                        message="Fixed.",
                        components=dict.fromkeys(affected, "operational"),
                    ),  # type: ignore[arg-type]
                ],
            )
        )
    out = build_site(Repo.open(repo.root), tmp_path / "site", now=NOW)
    size = (out / "index.html").stat().st_size
    assert size < 100_000, size


def test_rebuild_replaces_the_site_atomically(site_repo: Repo, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_site(site_repo, out, now=NOW)
    (out / "incidents" / "stale-page.html").write_text("old")
    stale_temp = tmp_path / ".incidentctl-build-out-zzzz"
    stale_temp.mkdir()
    assert build_site(site_repo, out, now=NOW) == out
    assert not (out / "incidents" / "stale-page.html").exists(), "files of the old build must go"
    assert not stale_temp.exists(), "a killed build's temp folder is cleaned up"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".incidentctl-build")) == []


def test_refuses_to_replace_a_foreign_folder(site_repo: Repo, tmp_path: Path) -> None:
    foreign = tmp_path / "documents"
    foreign.mkdir()
    (foreign / "thesis.txt").write_text("precious")
    with pytest.raises(IncidentctlError, match="not built by incidentctl"):
        build_site(site_repo, foreign, now=NOW)
    assert (foreign / "thesis.txt").read_text() == "precious"
    with pytest.raises(IncidentctlError, match="incident repo itself"):
        build_site(site_repo, site_repo.root, now=NOW)
    with pytest.raises(IncidentctlError, match="belongs to the incident repo"):
        build_site(site_repo, site_repo.root / "incidents", now=NOW)


def test_default_output_from_config(site_repo: Repo) -> None:
    out = build_site(site_repo, now=NOW)
    assert out == site_repo.root / "site" and (out / "index.html").is_file()


def test_template_override(site_repo: Repo, tmp_path: Path) -> None:
    override = site_repo.root / "templates" / "site"
    override.mkdir(parents=True)
    (override / "style.css").write_text("body{color:rebeccapurple}\n")
    from incidentctl.render import _environment

    _environment.cache_clear()
    try:
        out = build_site(Repo.open(site_repo.root), tmp_path / "out", now=NOW)
    finally:
        _environment.cache_clear()
    assert (out / "style.css").read_text() == "body{color:rebeccapurple}\n"


def test_cli_site_build(site_repo: Repo, tmp_path: Path, cli: Callable[..., Any]) -> None:
    result = cli(
        "site", "build", "--output", str(tmp_path / "cli-site"), "--now", "2024-12-20T12:00:00Z", repo=site_repo.root
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(tmp_path / "cli-site")
    assert "index.html" in result.stderr
    reference = all_files(build_site(site_repo, tmp_path / "lib-site", now=NOW))
    assert all_files(tmp_path / "cli-site") == reference
    bad = cli("site", "build", "--now", "yesterday", repo=site_repo.root)
    assert bad.exit_code == 2 and "Traceback" not in bad.output


def test_serve_previews_the_site(built: Path) -> None:
    from incidentctl.site.serve import make_server

    server = make_server(built, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=5) as response:
            assert response.status == 200 and b"Active incidents" in response.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/feed.atom", timeout=5) as response:
            assert response.headers["Content-Type"].startswith("application/atom+xml")
    finally:
        server.shutdown()
        server.server_close()


def test_incremental_build_is_byte_identical_to_a_full_build(site_repo: Repo, tmp_path: Path) -> None:
    from incidentctl.site.build import _build

    out = tmp_path / "out"
    first = _build(site_repo, out, NOW, reuse=True)
    assert first.reused == 0 and first.rendered > 10
    # Nothing changed: every incident page is reused; the shared pages are rendered again but for
    # the 4 component feeds and the 10 badges (SVG + shields JSON: 4 components and the overall one).
    again = _build(site_repo, out, NOW, reuse=True)
    assert again.reused == 4 + 4 + 10 and again.rendered == first.rendered - 18
    # One update to one incident: only that incident's page is rendered again.
    resolved = next(i for i in site_repo.scan() if i.title == "Website slow")
    add_update(site_repo, resolved.id, message="Follow-up: root cause published.", at=NOW - timedelta(hours=1))
    after = _build(Repo.open(site_repo.root), out, NOW, reuse=True)
    assert after.reused == 3 + 3 + 10  # and the feeds of the components it does not touch, the badges
    full = _build(Repo.open(site_repo.root), tmp_path / "full", NOW, reuse=False)
    assert full.reused == 0
    assert all_files(out) == all_files(tmp_path / "full")
    assert "Follow-up: root cause published." in (out / f"incidents/{resolved.id}.html").read_text()
    # A new --now re-renders open incidents (their duration moves), not resolved ones.
    later = _build(Repo.open(site_repo.root), out, NOW + timedelta(hours=1), reuse=True)
    assert later.reused == 3 + 4 + 10
    # A changed template invalidates every page.
    override = site_repo.root / "templates" / "site"
    override.mkdir(parents=True)
    (override / "macros.html.j2").write_text(
        (PROJECT_ROOT / "templates/site/macros.html.j2").read_text().replace("<ol", "<ol data-x=1")
    )
    from incidentctl.render import _environment

    _environment.cache_clear()
    try:
        changed = _build(Repo.open(site_repo.root), out, NOW, reuse=True)
        assert changed.reused == 0
        assert "data-x" in (out / f"incidents/{resolved.id}.html").read_text()
    finally:
        _environment.cache_clear()


def test_incremental_archive_pages_are_reused(tmp_path: Path) -> None:
    from incidentctl.site.build import _build

    repo = make_repo(
        tmp_path / "many",
        config=lambda config: (no_commit(config), config["channels"]["statuspage"].update(history_page_size=3)),
    )
    assert repo.config.channels.statuspage is not None and repo.config.channels.statuspage.history_page_size == 3
    for number in range(10):
        at = NOW - timedelta(days=30 - number)
        repo.save(
            Incident(
                id=f"{at:%Y-%m-%d}-blip",
                title=f"Blip {number}",
                severity="sev3",
                timeline=[Entry(at=at, status="resolved", message="ok")],
            )
        )
    out = tmp_path / "site"
    _build(Repo.open(repo.root), out, NOW, reuse=True)
    assert sorted(p.name for p in out.glob("history*.html")) == [
        "history-1.html",
        "history-2.html",
        "history-3.html",
        "history-4.html",
        "history.html",
    ]
    before = all_files(out)
    at = NOW - timedelta(days=1)
    repo.save(
        Incident(
            id=f"{at:%Y-%m-%d}-new",
            title="New one",
            severity="sev3",
            timeline=[Entry(at=at, status="resolved", message="ok")],
        )
    )
    report = _build(Repo.open(repo.root), out, NOW, reuse=True)
    after = all_files(out)
    # 10 old incident pages, archive chunks 1-3 and the 10 badges reused; chunk 4 (newest, partial) re-rendered.
    assert report.reused == 10 + 3 + 10
    for name in ("history-1.html", "history-2.html", "history-3.html"):
        assert after[name] == before[name]
    assert after["history-4.html"] != before["history-4.html"] and "New one" in after["history-4.html"].decode()
    _build(Repo.open(repo.root), tmp_path / "full", NOW, reuse=False)
    assert after == all_files(tmp_path / "full")


def test_lint_renders_the_site_templates(site_repo: Repo, cli: Callable[..., Any]) -> None:
    assert cli("lint", repo=site_repo.root).exit_code == 0
    override = site_repo.root / "templates" / "site"
    override.mkdir(parents=True)
    (override / "incident.html.j2").write_text(
        '{% extends "site/base.html.j2" %}\n{% block main %}\n{{ incident.no_such_field }}\n{% endblock %}\n'
    )
    from incidentctl.render import _environment

    _environment.cache_clear()
    try:
        result = cli("lint", repo=site_repo.root)
    finally:
        _environment.cache_clear()
    assert result.exit_code == 1
    assert "templates/site/incident.html.j2:3:" in result.output and "no_such_field" in result.output

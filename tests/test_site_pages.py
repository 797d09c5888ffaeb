"""The incident page's timeline made in Python (``pages.updates_html``) is the packaged macro's output,
byte for byte; a repo's own ``site/macros.html.j2`` still renders the pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from incidentctl.lifecycle import add_update, open_incident, resolve_incident
from incidentctl.render import _environment
from incidentctl.site import build_site
from incidentctl.site.pages import _is_packaged, _packaged_macros, common_context, site_environment, updates_html
from incidentctl.store import Repo
from testing import make_repo

NOW = datetime(2024, 12, 20, 12, 0, tzinfo=UTC)


def entry(at: datetime, status: str, **fields: Any) -> dict[str, Any]:
    """One timeline entry as ``summary.public_record`` gives it."""
    base: dict[str, Any] = {
        "at": at,
        "status": status,
        "message": "",
        "visibility": "public",
        "components": {},
        "next_update_by": None,
        "author": None,
        "notice": None,
        "scheduled_for": None,
        "scheduled_until": None,
        "deliveries": {},
    }
    return {**base, **fields}


def macro_output(env: Any, record: dict[str, Any], names: dict[str, str]) -> str:
    template = env.from_string(
        '{% from "site/macros.html.j2" import updates %}{{ updates(incident, component_names) }}'
    )
    return str(template.render(incident=record, component_names=names))


def test_python_timeline_is_the_macro_byte_for_byte(repo: Repo) -> None:
    env = site_environment(repo)
    names = common_context(repo.config)["component_names"]
    start = NOW - timedelta(days=3)
    window = (NOW + timedelta(days=1), NOW + timedelta(days=1, hours=2))
    hostile = "We're on it <script>alert('x')</script> \"quoted\" & </textarea> {{ 7*7 }}"
    records = [
        {"timeline": [entry(start, "investigating", message="Only one.")]},
        {
            "timeline": [
                entry(start, "investigating", message=hostile, components={"web": "major_outage", "API": "x"}),
                entry(start + timedelta(minutes=5), "identified", components={"b": "partial_outage", "a": "<op>"}),
                entry(start + timedelta(hours=1), "no-such-status", message="é ü 😀 \u00a0spaces  "),
                entry(start + timedelta(hours=2), "resolved", message="Fixed.", components={"api": "operational"}),
            ]
        },
        {
            "timeline": [
                entry(start, "scheduled", message="Planned.", scheduled_for=window[0], scheduled_until=window[1]),
                entry(
                    start + timedelta(hours=1),
                    "scheduled",
                    notice="rescheduled",
                    scheduled_for=window[0] + timedelta(days=1),
                    scheduled_until=window[1] + timedelta(days=1),
                ),
                entry(start + timedelta(hours=2), "in_progress", scheduled_for=window[0], scheduled_until=None),
                entry(NOW, "completed", components={"sora": "under_maintenance", "Chatgpt": "operational"}),
            ]
        },
    ]
    for record in records:
        assert str(updates_html(env, record, names)) == macro_output(env, record, names)


def test_a_repo_macros_override_still_renders_the_timeline(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "status")
    change = open_incident(repo, "API down", severity="sev1", components={"api": "major_outage"}, message="Looking.")
    add_update(repo, change.incident.id, message="Fixing.", status="identified", at=NOW - timedelta(minutes=5))
    packaged = build_site(Repo.open(repo.root), tmp_path / "packaged", now=NOW)
    page = f"incidents/{change.incident.id}.html"
    assert "Fixing." in (packaged / page).read_text()

    override = repo.root / "templates" / "site"
    override.mkdir(parents=True)
    source = Path(__file__).resolve().parent.parent / "templates" / "site" / "macros.html.j2"
    text = source.read_text().replace('<ol class="updates" reversed>', '<ol class="updates mine" reversed>')
    (override / "macros.html.j2").write_text(text)
    _environment.cache_clear()
    try:
        mine = Repo.open(repo.root)
        assert not _packaged_macros(site_environment(mine))
        assert _is_packaged(site_environment(mine), "site/incident.html.j2")
        out = build_site(mine, tmp_path / "mine", now=NOW)
    finally:
        _environment.cache_clear()
    html = (out / page).read_text()
    assert '<ol class="updates mine" reversed>' in html and "Fixing." in html
    assert html.replace(" mine", "") == (packaged / page).read_text()


def test_pages_match_the_templates_own_loops(tmp_path: Path) -> None:
    """A whole site built with the Python rows equals one built with the templates' Jinja loops (repo
    copies of the packaged macros and history page: a repo's own copy renders its own rows, so an edit
    of it shows): incidents open and resolved, hostile text, maintenances in every state."""
    from maintenance_support import HOUR, schedule, step

    repo = make_repo(tmp_path / "status")
    hostile = "<script>alert('x')</script> \"q\" & {{ 7*7 }}"
    day = timedelta(days=1)
    schedule(repo, "db-upgrade", "Database <upgrade>", start=NOW + 2 * HOUR, end=NOW + 4 * HOUR,
             components=["api"], announced=NOW - 2 * day)  # fmt: skip
    schedule(repo, "web-move", "Website move", start=NOW - HOUR, end=NOW + HOUR, components=["web"],
             announced=NOW - 3 * day, message=hostile)  # fmt: skip
    step(repo, "web-move", "in_progress", NOW - HOUR, "The move has started.")
    schedule(repo, "cdn-swap", "CDN swap", start=NOW - 8 * day, end=NOW - 8 * day + 2 * HOUR,
             components=["chatgpt"], announced=NOW - 10 * day, counts_as_downtime=True)  # fmt: skip
    step(repo, "cdn-swap", "in_progress", NOW - 8 * day, "Started.")
    step(repo, "cdn-swap", "completed", NOW - 8 * day + 2 * HOUR, "Done.")
    schedule(repo, "moved", "Storage move", start=NOW + day, end=NOW + day + HOUR, components=["sora"],
             announced=NOW - 5 * day)  # fmt: skip
    step(repo, "moved", "rescheduled", NOW - 4 * day, "Moved.", start=NOW + 2 * day, end=NOW + 2 * day + HOUR)
    step(repo, "moved", "cancelled", NOW - 3 * day, "Not needed after all.")
    for days in (60, 30, 2):
        change = open_incident(repo, f"Errors {hostile}", severity="sev2", components={"api": "partial_outage"},
                               message=hostile, at=NOW - days * day)  # fmt: skip
        add_update(repo, change.incident.id, message="Fixing.", status="identified", components={"web": "major_outage"},
                   at=NOW - days * day + HOUR)  # fmt: skip
        if days != 2:
            resolve_incident(repo, change.incident.id, message="Fixed.", at=NOW - days * day + 2 * HOUR)
    fast = build_site(Repo.open(repo.root), tmp_path / "fast", now=NOW)

    packaged = Path(__file__).resolve().parent.parent / "templates" / "site"
    override = repo.root / "templates" / "site"
    override.mkdir(parents=True)
    (override / "macros.html.j2").write_text((packaged / "macros.html.j2").read_text())
    (override / "history.html.j2").write_text((packaged / "history.html.j2").read_text())
    _environment.cache_clear()
    try:
        slow = build_site(Repo.open(repo.root), tmp_path / "slow", now=NOW)
    finally:
        _environment.cache_clear()
    files = sorted(path.relative_to(fast) for path in fast.rglob("*") if path.is_file())
    assert files == sorted(path.relative_to(slow) for path in slow.rglob("*") if path.is_file())
    assert any("Scheduled maintenance ·" in (fast / name).read_text() for name in files if name.match("history*.html"))
    for name in files:
        assert (fast / name).read_bytes() == (slow / name).read_bytes(), name


def test_a_repo_history_copy_renders_its_own_rows(tmp_path: Path) -> None:
    """The README's way to customise: copy a packaged page and edit it; the edit shows."""
    repo = make_repo(tmp_path / "status")
    open_incident(repo, "API down", severity="sev1", components={"api": "major_outage"}, message="Looking.")
    packaged = Path(__file__).resolve().parent.parent / "templates" / "site" / "history.html.j2"
    text = packaged.read_text()
    assert text.count('<li><a href="{{ item.path }}"><bdi>') == 1
    override = repo.root / "templates" / "site"
    override.mkdir(parents=True)
    (override / "history.html.j2").write_text(
        text.replace('<li><a href="{{ item.path }}"><bdi>', '<li class="mine"><a href="{{ item.path }}"><bdi>')
    )
    _environment.cache_clear()
    try:
        out = build_site(Repo.open(repo.root), tmp_path / "out", now=NOW)
    finally:
        _environment.cache_clear()
    assert '<li class="mine"><a href="incidents/' in (out / "history.html").read_text()

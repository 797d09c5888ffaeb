"""Render the status page in headless Chromium: visible text, no console errors, screenshots.

Talks the DevTools protocol through ``testing.DevTools`` (no Python dependency). Skipped when Chromium is missing, unless ``CI`` is set: then it fails.
Screenshots go to ``test-artifacts/`` at the project root.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from incidentctl.lifecycle import add_update, open_incident, resolve_incident
from incidentctl.site import build_site
from incidentctl.store import Repo
from testing import PROJECT_ROOT, DevTools, make_repo

pytestmark = pytest.mark.browser

NOW = datetime(2024, 12, 12, 6, 0, tzinfo=UTC)
ARTIFACTS = PROJECT_ROOT / "test-artifacts"


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("CI is set but Chromium is not installed (apt-get install chromium)")
    pytest.skip("Chromium is not installed (set CI=true to make this a failure)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevTools]:
    binary = chromium_binary()
    folder = tmp_path_factory.mktemp("chromium")
    client = DevTools(binary, folder / "profile", folder / "chromium.log")
    try:
        client.open_page()
    except Exception:
        client.close()
        raise
    yield client
    client.close()


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, str]:
    repo = make_repo(tmp_path / "status")
    change = open_incident(
        repo,
        "ChatGPT, Sora & API <unavailable>",
        severity="sev1",
        components={"api": "major_outage", "chatgpt": "major_outage", "sora": "major_outage"},
        message="We are investigating elevated error rates <script>alert(1)</script>.",
        next_update="30m",
        at=NOW - timedelta(hours=2),
    )
    add_update(
        repo,
        change.incident.id,
        message="Internal: paging the database team",
        internal=True,
        at=NOW - timedelta(hours=1, minutes=50),
    )
    add_update(
        repo,
        change.incident.id,
        message="We identified the cause and are rolling back.",
        status="identified",
        components={"api": "partial_outage"},
        next_update="1h",
        at=NOW - timedelta(hours=1),
    )
    old = open_incident(
        repo,
        "Website slow",
        severity="sev3",
        components={"web": "degraded_performance"},
        message="Slow.",
        at=NOW - timedelta(days=5),
    )
    resolve_incident(repo, old.incident.id, at=NOW - timedelta(days=5) + timedelta(hours=3))
    out = build_site(Repo.open(repo.root), tmp_path / "site", now=NOW)
    return out, change.incident.id


def test_index_renders_without_errors(browser: DevTools, site: tuple[Path, str]) -> None:
    out, _ = site
    browser.events.clear()
    browser.load((out / "index.html").as_uri())
    text = browser.evaluate("document.body.innerText")
    assert "Major service outage" in text
    assert "Active incidents" in text
    assert "ChatGPT, Sora & API <unavailable>" in text
    assert "alert(1)" in text, "hostile text shows as text"
    assert "Next update by" in text
    assert "Internal: paging" not in text
    assert "% uptime" in text and "Partial outage" in text
    assert browser.evaluate("document.querySelectorAll('script').length") == 0
    assert browser.evaluate("document.styleSheets.length") == 1, "style.css loads by a relative link"
    banner = browser.evaluate("getComputedStyle(document.querySelector('.banner')).backgroundColor")
    assert banner == "rgb(207, 34, 46)", banner
    bars = browser.evaluate("document.querySelectorAll('.bar').length")
    assert bars == 4
    browser.screenshot(ARTIFACTS / "status-index.png")
    browser.load((out / "index.html").as_uri(), dark=True)
    assert browser.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(13, 17, 23)"
    browser.screenshot(ARTIFACTS / "status-index-dark.png")
    browser.load((out / "index.html").as_uri(), width=375, height=800)
    overflow = browser.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways on a phone by {overflow}px"
    browser.screenshot(ARTIFACTS / "status-index-mobile.png")
    assert browser.problems() == []


def test_incident_page_renders_without_errors(browser: DevTools, site: tuple[Path, str]) -> None:
    out, incident_id = site
    browser.events.clear()
    browser.load((out / "incidents" / f"{incident_id}.html").as_uri())
    text = browser.evaluate("document.body.innerText")
    assert "ChatGPT, Sora & API <unavailable>" in text
    assert "Identified" in text and "We identified the cause and are rolling back." in text
    assert "API, ChatGPT, Sora" in text
    assert "Internal: paging" not in text
    assert browser.evaluate("document.title").startswith("ChatGPT, Sora & API <unavailable>")
    browser.screenshot(ARTIFACTS / "status-incident.png")
    # Every link on the page resolves when the site is opened from disk.
    hrefs = browser.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.href)")
    for href in hrefs:
        if href.startswith("file://") and "#" not in href:
            assert Path(href[len("file://") :]).is_file(), href
    assert browser.problems() == []


def test_console_errors_are_detected(browser: DevTools, tmp_path: Path) -> None:
    """The detector itself: a page with an error and a missing stylesheet must be caught."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!doctype html><link rel="stylesheet" href="missing.css"><p>x</p><script>console.error("boom")</script>'
    )
    browser.events.clear()
    browser.load(page.as_uri())
    problems = browser.problems()
    assert any("boom" in problem for problem in problems), problems
    assert any("missing.css" in problem for problem in problems), problems


def test_a_long_word_never_overflows_at_320px(browser: DevTools, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "status")
    word = "Donaudampfschifffahrtsgesellschaftskapitänskajüten" + "x" * 40
    change = open_incident(
        repo, f"{word} unavailable", severity="sev2", components={"api": "major_outage"}, message=word, at=NOW
    )
    out = build_site(Repo.open(repo.root), tmp_path / "out", now=NOW)
    for page in ("index.html", f"incidents/{change.incident.id}.html"):
        browser.load((out / page).as_uri(), width=320, height=640)
        overflow = browser.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{page} scrolls sideways at 320 px by {overflow}px"
        wide = browser.evaluate(
            "[...document.querySelectorAll('h1,h2,h3,p,li,dd')].filter(e => e.scrollWidth > e.clientWidth + 1).length"
        )
        assert wide == 0, f"{page}: {wide} elements overflow at 320 px"

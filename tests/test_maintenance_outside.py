"""A site with maintenances, checked by tools nobody here wrote: the Nu Html Checker on every page,
headless Chromium, and the npm ``statuspage.io`` client reading the maintenance endpoints from
``incidentctl site serve``.

Each is skipped when its tool is missing, unless ``CI`` is set: then it fails (``.ci/run`` installs
java, Chromium, node, ``vnu-jar`` and ``statuspage.io`` into ``.ci/node``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from maintenance_support import HOUR, schedule, step

from incidentctl.lifecycle import open_incident, resolve_incident
from incidentctl.site import build_site
from incidentctl.store import Repo
from testing import PROJECT_ROOT, DevTools, make_repo

NOW = datetime(2024, 12, 20, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
NODE_MODULES = PROJECT_ROOT / ".ci" / "node" / "node_modules"
VNU_JAR = Path(os.environ.get("VNU_JAR", NODE_MODULES / "vnu-jar" / "build" / "dist" / "vnu.jar"))
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
HOSTILE = 'DB <script>alert(1)</script> & "upgrade" \u202eRTL\u202c'


def missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {what} is missing (.ci/run installs it)")
    pytest.skip(f"{what} is missing (run .ci/run, or set CI=true to make this a failure)")


def fill(repo: Repo, now: datetime) -> None:
    """An upcoming (hostile title, moved once), an active, a completed and a cancelled maintenance, an incident."""
    schedule(
        repo,
        "db-upgrade",
        HOSTILE,
        start=now + 2 * HOUR,
        end=now + 4 * HOUR,
        components=["api", "web"],
        announced=now - 2 * DAY,
        message="Read-only <b>API</b> for two hours & more.",
    )
    step(repo, "db-upgrade", "rescheduled", now - DAY, "Moved by an hour.", start=now + 3 * HOUR, end=now + 5 * HOUR)
    schedule(
        repo, "web-move", "Website move", start=now - HOUR, end=now + HOUR, components=["web"], announced=now - 3 * DAY
    )
    step(repo, "web-move", "in_progress", now - HOUR, "Started.")
    schedule(
        repo,
        "cdn-swap",
        "CDN swap",
        start=now - 8 * DAY,
        end=now - 8 * DAY + 2 * HOUR,
        components=["chatgpt"],
        announced=now - 10 * DAY,
        counts_as_downtime=True,
    )
    step(repo, "cdn-swap", "in_progress", now - 8 * DAY)
    step(repo, "cdn-swap", "completed", now - 8 * DAY + 2 * HOUR, "Done.")
    schedule(
        repo,
        "old-plan",
        "Old plan",
        start=now - 15 * DAY,
        end=now - 15 * DAY + HOUR,
        components=["sora"],
        announced=now - 20 * DAY,
    )
    step(repo, "old-plan", "cancelled", now - 16 * DAY, "Not needed.")
    made = open_incident(
        repo, "API errors", severity="sev2", components={"api": "partial_outage"}, message="Errors.", at=now - 30 * DAY
    )
    resolve_incident(repo, made.incident.id, at=now - 30 * DAY + HOUR)  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = make_repo(tmp_path_factory.mktemp("outside") / "status")
    fill(repo, NOW)
    return build_site(repo, repo.root.parent / "site", now=NOW)


@pytest.mark.slow
def test_vnu_finds_no_error_on_any_page(site: Path) -> None:
    java = shutil.which("java")
    if not java or not VNU_JAR.is_file():
        missing("java" if not java else str(VNU_JAR))
    pages = sorted(site.rglob("*.html"))
    assert {"index.html", "history.html", "incidents/db-upgrade.html", "incidents/web-move.html"} <= {
        str(page.relative_to(site)) for page in pages
    }
    result = subprocess.run(
        [java, "-Xss8m", "-jar", str(VNU_JAR), "--errors-only", "--also-check-css", "--format", "json",
         *map(str, pages), str(site / "style.css")],
        capture_output=True, text=True, encoding="utf-8", timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr[-2000:]
    messages = json.loads(result.stderr or result.stdout)["messages"]
    assert messages == [], [f"{m.get('url')}:{m.get('lastLine')}: {m['message']}" for m in messages]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevTools]:
    binary = next(
        (found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None
    )
    if binary is None:
        missing("Chromium")
    assert binary is not None
    folder = tmp_path_factory.mktemp("chromium")
    client = DevTools(binary, folder / "profile", folder / "chromium.log")
    try:
        client.open_page()
    except Exception:
        client.close()
        raise
    yield client
    client.close()


@pytest.mark.browser
def test_chromium_shows_the_maintenance(browser: DevTools, site: Path) -> None:
    browser.events.clear()
    browser.load((site / "index.html").as_uri())
    text = browser.evaluate("document.body.innerText")
    assert "Service under maintenance" in text
    assert "Maintenance in progress" in text and "Website move" in text
    assert "Upcoming maintenance" in text and HOSTILE.replace("\u202e", "").replace("\u202c", "")[:20] in text
    assert "Active incidents" not in text
    assert "(maintenance counted as downtime)" in text and "(maintenance not counted)" in text
    assert browser.evaluate("document.querySelectorAll('script').length") == 0
    blue = browser.evaluate("getComputedStyle(document.querySelector('.banner')).backgroundColor")
    assert blue == "rgb(9, 105, 218)", blue
    marks = browser.evaluate("[...document.querySelectorAll('.bar .um')].map(e => getComputedStyle(e).backgroundColor)")
    assert marks and set(marks) == {"rgb(33, 139, 255)"}, marks
    status = browser.evaluate("[...document.querySelectorAll('.s-under_maintenance')].map(e => e.innerText)")
    assert "Under maintenance" in status
    ARTIFACTS.mkdir(exist_ok=True)
    browser.screenshot(ARTIFACTS / "status-maintenance-index.png")
    browser.load((site / "index.html").as_uri(), width=375, height=800)
    assert browser.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    browser.load((site / "incidents" / "db-upgrade.html").as_uri())
    page = browser.evaluate("document.body.innerText")
    assert "Scheduled maintenance" in page and "Moved to" in page and "Read-only <b>API</b>" in page
    browser.screenshot(ARTIFACTS / "status-maintenance-page.png")
    hrefs = browser.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.href)")
    for href in hrefs:
        if href.startswith("file://") and "#" not in href:
            assert Path(href[len("file://") :]).is_file(), href
    assert browser.problems() == []


CONSUMER = r"""
const { Statuspage } = require('statuspage.io');
const axios = require('axios');
(async () => {
  const page = new Statuspage('anything');
  page.setApiUrl(process.argv[2]);
  const api = page.api;
  const out = {
    summary: await api.getSummary(),
    status: await api.getStatus(),
    components: await api.getComponents(),
    incidents: await api.incidents.getAll(),
    unresolved: await api.incidents.getUnresolved(),
    upcoming: await api.scheduledMaintenances.getUpcoming(),
    active_via_client: await api.scheduledMaintenances.getActive(),
    all_via_client: await api.scheduledMaintenances.getAll(),
    // The client (3.x) asks upcoming.json for all three: read the other two with its own HTTP stack.
    active: (await axios.get(process.argv[2] + '/api/v2/scheduled-maintenances/active.json')).data,
    all: (await axios.get(process.argv[2] + '/api/v2/scheduled-maintenances.json')).data,
  };
  process.stdout.write(JSON.stringify(out));
})().catch((error) => { console.error(String(error)); process.exit(1); });
"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """``incidentctl site serve --port 0`` on a repo with maintenances around the real now (serve builds at now)."""
    repo = make_repo(tmp_path / "status")
    fill(repo, datetime.now(UTC).replace(microsecond=0))
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "incidentctl", "--repo", str(repo.root), "site", "serve", "--port", "0"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        found = re.search(r"on (http://127\.0\.0\.1:\d+)/", line)
        assert found, line
        yield found.group(1)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.slow
def test_the_npm_statuspage_client_reads_the_maintenances(served: str, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not (NODE_MODULES / "statuspage.io").is_dir():
        missing("node" if node is None else "the npm package statuspage.io")
    assert node is not None
    script = tmp_path / "consumer.js"
    script.write_text(CONSUMER, encoding="utf-8")
    result = subprocess.run(
        [node, str(script), served], capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    got: dict[str, Any] = json.loads(result.stdout)
    assert got["status"]["status"]["indicator"] == "maintenance"
    assert [m["id"] for m in got["upcoming"]["scheduled_maintenances"]] == ["db-upgrade"]
    assert got["active_via_client"] == got["upcoming"], "the client's getActive reads upcoming.json"
    assert [m["id"] for m in got["active"]["scheduled_maintenances"]] == ["web-move"]
    assert [m["id"] for m in got["all"]["scheduled_maintenances"]] == ["db-upgrade", "web-move", "cdn-swap", "old-plan"]
    assert [m["id"] for m in got["summary"]["scheduled_maintenances"]] == ["web-move", "db-upgrade"]
    assert [i["name"] for i in got["incidents"]["incidents"]] == ["API errors"]
    assert got["unresolved"]["incidents"] == []
    for item in got["all"]["scheduled_maintenances"]:
        assert item["impact"] == "maintenance"
        assert item["status"] in ("scheduled", "in_progress", "verifying", "completed")
        assert all(
            u["status"] in ("scheduled", "in_progress", "verifying", "completed") for u in item["incident_updates"]
        )
        assert datetime.fromisoformat(item["scheduled_until"]) > datetime.fromisoformat(item["scheduled_for"])
    upcoming = got["upcoming"]["scheduled_maintenances"][0]
    assert upcoming["name"] == HOSTILE, "JSON carries the text as it is"
    components = {c["id"]: c["status"] for c in got["components"]["components"]}
    assert components["web"] == "under_maintenance" and components["api"] == "operational"

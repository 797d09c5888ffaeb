"""Render the status page in headless Chromium: visible text, no console errors, screenshots.

Talks the DevTools protocol over ``--remote-debugging-pipe`` (fds 3 and 4, NUL-separated JSON), so
it needs no Python dependency. Skipped when Chromium is missing, unless ``CI`` is set: then it fails.
Screenshots go to ``test-artifacts/`` at the project root.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from incidentctl.lifecycle import add_update, open_incident, resolve_incident
from incidentctl.site import build_site
from incidentctl.store import Repo
from tests.conftest import PROJECT_ROOT, make_repo

pytestmark = pytest.mark.browser

NOW = datetime(2024, 12, 12, 6, 0, tzinfo=UTC)
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)
_TRAMPOLINE = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); os.execv(sys.argv[3], sys.argv[3:])"
)


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("CI is set but Chromium is not installed (apt-get install chromium)")
    pytest.skip("Chromium is not installed (set CI=true to make this a failure)")


class DevTools:
    """A minimal DevTools protocol client over the pipe transport."""

    def __init__(self, binary: str, profile: Path, log: Path) -> None:
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        self._log = open(log, "wb")  # noqa: SIM115 - closed in close()
        # A tiny Python trampoline puts our pipe ends on fds 3 and 4, where Chromium expects them.
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _TRAMPOLINE,
                str(to_browser_r),
                str(from_browser_w),
                binary,
                *FLAGS,
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            pass_fds=(to_browser_r, from_browser_w),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._out = to_browser_w
        self._in = from_browser_r
        self._buffer = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []
        self.session = ""

    def close(self) -> None:
        try:
            self.call("Browser.close", session=False, timeout=10)
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._out)
        os.close(self._in)
        self._log.close()

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._in], [], [], remaining)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._in, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return dict(json.loads(message))

    def call(
        self, method: str, params: dict[str, Any] | None = None, *, session: bool = True, timeout: float = 30
    ) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for index, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(index)
        while True:
            event = self._read(deadline)
            if event.get("method") == method:
                return event
            self.events.append(event)

    def open_page(self) -> None:
        targets = self.call("Target.getTargets", session=False)["targetInfos"]
        page = next(target for target in targets if target["type"] == "page")
        self.session = self.call(
            "Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}, session=False
        )["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def load(self, url: str, width: int = 1280, height: int = 900, dark: bool = False) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
        )
        self.call(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]},
        )
        self.events = [event for event in self.events if event.get("method") != "Page.loadEventFired"]
        self.call("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result["result"].get("value")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions, and browser log errors (failed loads)."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
                found.append(f"console.{params['type']}: {params.get('args')}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {params.get('exceptionDetails', {}).get('text')}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
                entry = params["entry"]
                found.append(f"log {entry.get('level')}: {entry.get('text')} {entry.get('url', '')}")
        return found


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

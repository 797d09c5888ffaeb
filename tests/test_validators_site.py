"""Every built page and feed, checked by validators nobody here wrote.

- The Nu Html Checker (``vnu.jar``, npm package ``vnu-jar``, installed by ``.ci/run`` into ``.ci/node``)
  on every HTML page (and the stylesheet) of the demo site and of a hostile site, in ONE invocation
  (the JVM start is slow). Skipped when java or vnu.jar is missing, unless ``CI`` is set: then it fails.
- ``feedparser`` on every Atom feed: well-formed (``bozo == 0``), an id on every entry, and ids that
  stay put when an entry is backfilled (SPEC "Ids that do not move"); the same for the JSON API's
  ``incident_updates[].id``.

Only the public CLI builds the sites (see ``validators_support``). Checks that find a defect in
today's code are ``xfail(strict=True)``: they turn into failures once the defect is fixed, so the
marker is removed then.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import feedparser
import pytest
from validators_support import BACKFILL_AT, Cli, build_demo, hostile_records, init_repo, shared, shared_folder

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VNU_JAR = Path(
    os.environ.get("VNU_JAR", PROJECT_ROOT / ".ci" / "node" / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar")
)
NOW = "2024-03-03T00:00:00Z"
CANARY = '<!doctype html><html lang="en"><title>x</title><p id="a">a</p><p id="a">b</p><blink>'


def vnu_command() -> list[str]:
    java = shutil.which("java")
    if java and VNU_JAR.is_file():
        return [java, "-Xss8m", "-jar", str(VNU_JAR)]
    missing = "java" if not java else f"{VNU_JAR}"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but the Nu Html Checker cannot run: {missing} is missing (.ci/run installs it)")
    pytest.skip(f"the Nu Html Checker is not installed ({missing} missing; run .ci/run or set CI=true to fail)")


# -- the sites ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(shared(tmp_path_factory, "demo", build_demo)) / "site"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Cli, list[str], Path]:
    """A repo whose every text is hostile, built to ``site-1``."""

    def build(folder: Path) -> dict[str, Any]:
        cli = init_repo(folder / "repo", folder / "home")
        ids = hostile_records(cli)
        cli("site", "build", "--output", str(folder / "site-1"), "--now", NOW)
        return {"ids": ids}

    value = shared(tmp_path_factory, "hostile", build)
    folder = shared_folder(tmp_path_factory, "hostile")
    return Cli(folder / "repo", folder / "home"), list(value["ids"]), folder / "site-1"


@pytest.fixture(scope="module")
def backfilled(hostile: tuple[Cli, list[str], Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The hostile repo after a public entry is backfilled before the others, built again (same --now)."""
    cli, ids, before = hostile

    def build(folder: Path) -> str:
        cli(
            "update",
            ids[1],
            "--message",
            "Backfilled: we first saw errors here.",
            "--status",
            "investigating",
            "--at",
            BACKFILL_AT,
            "--next-update",
            "2024-03-02T09:40:00Z",
        )
        cli("site", "build", "--output", str(folder / "site-2"), "--now", NOW)
        return str(folder / "site-2")

    return before, Path(shared(tmp_path_factory, "backfilled", build))


def pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


# -- the Nu Html Checker ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vnu_report(
    demo_site: Path, hostile: tuple[Cli, list[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[dict[str, Any]]]:
    """Run vnu once over every page of both sites (and a canary page it must reject): messages by file."""
    command = vnu_command()
    _, _, hostile_site = hostile

    def build(folder: Path) -> dict[str, list[dict[str, Any]]]:
        canary = folder / "canary.html"
        canary.write_text(CANARY, encoding="utf-8")
        files = [*pages(demo_site), *pages(hostile_site), canary]
        stylesheets = [*demo_site.rglob("*.css"), *hostile_site.rglob("*.css")]
        result = subprocess.run(
            [*command, "--errors-only", "--also-check-css", "--format", "json", *map(str, files + stylesheets)],
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=300,
            check=False,
        )
        assert result.returncode in (0, 1), result.stderr[-2000:]
        report = json.loads(result.stderr or result.stdout)  # vnu writes its JSON report on stderr
        by_file: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for message in report["messages"]:
            by_file[message.get("url", "").removeprefix("file:")].append(message)
        for path in files + stylesheets:
            by_file.setdefault(str(path), [])
        return dict(by_file)

    return shared(tmp_path_factory, "vnu", build)


def describe(report: dict[str, list[dict[str, Any]]], root: Path, keep: Any = lambda message: True) -> list[str]:
    found = []
    for path, messages in sorted(report.items()):
        if not path.startswith(str(root)):
            continue
        for message in messages:
            if keep(message["message"]):
                found.append(f"{Path(path).relative_to(root)}:{message.get('lastLine', '?')}: {message['message']}")
    return found


FORBIDDEN = "Forbidden code point"
DUPLICATE_ID = "Duplicate ID"


@pytest.mark.slow
def test_vnu_really_checks_every_page(vnu_report: dict[str, list[dict[str, Any]]], demo_site: Path) -> None:
    """The canary page is rejected (so a clean report means something) and every page was handed over."""
    canary = [messages for path, messages in vnu_report.items() if path.endswith("canary.html")]
    assert canary and any(DUPLICATE_ID in message["message"] for message in canary[0]), canary
    names = {path.relative_to(demo_site).as_posix() for path in pages(demo_site)}
    assert {"index.html", "history.html"} <= names
    assert any(name.startswith("incidents/") for name in names), names


@pytest.mark.slow
def test_vnu_demo_site_is_valid_html(vnu_report: dict[str, list[dict[str, Any]]], demo_site: Path) -> None:
    assert describe(vnu_report, demo_site) == []


@pytest.mark.slow
def test_vnu_hostile_site_has_no_markup_errors(
    vnu_report: dict[str, list[dict[str, Any]]], hostile: tuple[Cli, list[str], Path]
) -> None:
    """HTML metacharacters, RTL text, emoji-only and very long names never break the markup."""
    site = hostile[2]
    assert len(pages(site)) >= 5
    known = (FORBIDDEN, DUPLICATE_ID)  # the two defects below, checked on their own
    assert describe(vnu_report, site, lambda text: not text.startswith(known)) == []


@pytest.mark.slow
def test_vnu_hostile_site_has_no_forbidden_code_points(
    vnu_report: dict[str, list[dict[str, Any]]], hostile: tuple[Cli, list[str], Path]
) -> None:
    assert describe(vnu_report, hostile[2], lambda text: text.startswith(FORBIDDEN)) == []


@pytest.mark.slow
def test_vnu_hostile_site_has_unique_ids(
    vnu_report: dict[str, list[dict[str, Any]]], hostile: tuple[Cli, list[str], Path]
) -> None:
    assert describe(vnu_report, hostile[2], lambda text: text.startswith(DUPLICATE_ID)) == []


# -- feeds and the JSON API -----------------------------------------------------------------------


def feeds(site: Path) -> list[Path]:
    found = sorted(site.rglob("*.atom"))
    assert site / "feed.atom" in found
    return found


def feed_ids(site: Path) -> dict[tuple[str, str, str], str]:
    """Every Atom entry's id, by (feed, incident page, published time)."""
    ids: dict[tuple[str, str, str], str] = {}
    for path in feeds(site):
        for entry in feedparser.parse(path.read_bytes()).entries:
            ids[(path.relative_to(site).as_posix(), entry.link, entry.published)] = entry.id
    return ids


def api_update_ids(site: Path) -> dict[tuple[str, str], str]:
    """Every ``incident_updates[].id`` of ``incidents.json``, by (incident id, created_at)."""
    data = json.loads((site / "api" / "v2" / "incidents.json").read_text(encoding="utf-8"))
    return {
        (incident["id"], update["created_at"]): update["id"]
        for incident in data["incidents"]
        for update in incident["incident_updates"]
    }


def test_feeds_are_well_formed_atom(demo_site: Path, hostile: tuple[Cli, list[str], Path]) -> None:
    for site in (demo_site, hostile[2]):
        for path in feeds(site):
            parsed = feedparser.parse(path.read_bytes())
            assert parsed.bozo == 0, f"{path}: {parsed.get('bozo_exception')}"
            assert parsed.version == "atom10", path
            assert parsed.feed.get("id") and parsed.feed.get("title"), path
            assert parsed.entries, path
            ids = [entry.get("id") for entry in parsed.entries]
            assert all(ids), f"{path}: an entry without an id"
            assert len(set(ids)) == len(ids), f"{path}: duplicate entry ids"
            for entry in parsed.entries:
                assert entry.get("title") and entry.get("link") and entry.get("updated"), entry


def test_internal_entries_stay_out_of_feeds(hostile: tuple[Cli, list[str], Path]) -> None:
    for path in feeds(hostile[2]):
        assert b"Internal only" not in path.read_bytes()


def test_backfill_adds_one_entry(backfilled: tuple[Path, Path]) -> None:
    """The setting of the id-stability tests: the backfilled entry shows in the feed and the API."""
    before, after = backfilled
    # In the site feed (the component feeds of the incident's components gain it too).
    assert (
        len([k for k in feed_ids(after) if k[0] == "feed.atom"])
        == len([k for k in feed_ids(before) if k[0] == "feed.atom"]) + 1
    )
    assert len(api_update_ids(after)) == len(api_update_ids(before)) + 1
    assert any(at == BACKFILL_AT for _, at in api_update_ids(after))


def test_feed_ids_do_not_move_on_backfill(backfilled: tuple[Path, Path]) -> None:
    before, after = backfilled
    old, new = feed_ids(before), feed_ids(after)
    moved = {key: (old[key], new.get(key)) for key in old if new.get(key) != old[key]}
    assert moved == {}


def test_api_update_ids_do_not_move_on_backfill(backfilled: tuple[Path, Path]) -> None:
    before, after = backfilled
    old, new = api_update_ids(before), api_update_ids(after)
    moved = {key: (old[key], new.get(key)) for key in old if new.get(key) != old[key]}
    assert moved == {}


def test_api_update_ids_are_unique(demo_site: Path, hostile: tuple[Cli, list[str], Path]) -> None:
    for site in (demo_site, hostile[2]):
        ids = list(api_update_ids(site).values())
        assert len(set(ids)) == len(ids)


def test_api_component_and_group_ids_are_unique(hostile: tuple[Cli, list[str], Path]) -> None:
    data = json.loads((hostile[2] / "api" / "v2" / "components.json").read_text(encoding="utf-8"))
    ids = [component["id"] for component in data["components"]]
    assert sorted(ids) == sorted(set(ids))

"""The status page's fast paths: the summary cache, the forked helper, in-place updates.

Each fast path must give the very bytes a plain full build gives; these tests build both ways and compare.
"""

from __future__ import annotations

import os
import random
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from incidentctl.lifecycle import add_update
from incidentctl.model import Entry, Incident
from incidentctl.site import records
from incidentctl.site.build import _build
from incidentctl.site.feed import newest_updates
from incidentctl.site.summary import describe_incident
from incidentctl.store import Repo
from testing import make_repo

NOW = datetime(2024, 12, 20, 12, 0, tzinfo=UTC)
IMPACTS = ("degraded_performance", "partial_outage", "major_outage")


def no_commit(config: Any) -> None:
    config["git"]["commit"] = False
    config["channels"]["statuspage"]["history_page_size"] = 4


def all_files(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def make_incident(number: int, rng: random.Random) -> Incident:
    at = NOW - timedelta(days=120) + timedelta(hours=number * 9 + rng.randint(0, 5))
    component = ("api", "web", "chatgpt", "sora")[number % 4]
    entries = [
        Entry(
            at=at,
            status="investigating",
            message=f"Errors <b>{number}</b>",
            components={component: IMPACTS[number % 3]},
        )
    ]
    for step in range(rng.randint(0, 4)):
        entries.append(
            Entry(
                at=at + timedelta(minutes=10 * (step + 1)),
                status="identified",
                message=f"internal {number}" if step % 2 else f"step {step}",
                visibility="internal" if step % 2 else "public",
            )
        )
    if number % 7 != 3:  # a few stay open
        entries.append(
            Entry(
                at=at + timedelta(hours=2), status="resolved", message="Fixed.", components={component: "operational"}
            )
        )
    return Incident(
        id=f"{at:%Y-%m-%d}-incident-{number}", title=f"Incident {number}", severity="sev2", timeline=entries
    )


@pytest.fixture
def many(tmp_path: Path) -> Repo:
    """A repo of 30 incidents (some open, some with internal entries), history pages of 4."""
    repo = make_repo(tmp_path / "many", config=no_commit)
    rng = random.Random(7)
    for number in range(30):
        repo.save(make_incident(number, rng))
    hidden = make_incident(99, rng)
    repo.save(
        hidden.model_copy(
            update={"timeline": [e.model_copy(update={"visibility": "internal"}) for e in hidden.timeline[:1]]}
        )
    )
    return Repo.open(repo.root)


@pytest.fixture
def forked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use the forked helper even for a handful of records and archive pages."""
    monkeypatch.setattr(records, "PARALLEL_MIN", 1)
    monkeypatch.setattr(records, "PARALLEL_MIN_PAGES", 1)


@pytest.fixture
def serial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "PARALLEL_MIN", 10**9)
    monkeypatch.setattr(records, "PARALLEL_MIN_PAGES", 10**9)


def clear_site_cache(repo: Repo) -> None:
    for path in (repo.root / ".git" / "incidentctl").glob("site-*"):
        path.unlink()


def test_forked_build_equals_serial_build(many: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "PARALLEL_MIN", 10**9)
    monkeypatch.setattr(records, "PARALLEL_MIN_PAGES", 10**9)
    serial_report = _build(many, tmp_path / "serial", NOW, reuse=False)
    clear_site_cache(many)
    monkeypatch.setattr(records, "PARALLEL_MIN", 1)
    monkeypatch.setattr(records, "PARALLEL_MIN_PAGES", 1)
    forked_report = _build(many, tmp_path / "forked", NOW, reuse=False)
    assert forked_report.rendered == serial_report.rendered
    assert all_files(tmp_path / "forked") == all_files(tmp_path / "serial")
    assert len(list((tmp_path / "forked" / "incidents").iterdir())) == 30, "the internal-only incident has no page"


def test_cache_warm_cold_and_corrupt_give_the_same_site(many: Repo, tmp_path: Path, forked: None) -> None:
    _build(many, tmp_path / "cold", NOW, reuse=True)
    cache = records.cache_file(many.root / ".git" / "incidentctl")
    assert cache.is_file()
    _build(many, tmp_path / "warm", NOW, reuse=True)  # summaries from the cache, every page rendered
    cache.write_bytes(b"\x80\x05garbage")
    _build(many, tmp_path / "corrupt", NOW, reuse=True)
    reference = all_files(tmp_path / "cold")
    assert all_files(tmp_path / "warm") == reference
    assert all_files(tmp_path / "corrupt") == reference
    # the cache is never something git would commit
    status = subprocess.run(["git", "status", "--porcelain"], cwd=many.root, capture_output=True, text=True, check=True)
    assert "incidentctl/" not in status.stdout


def test_rebuild_after_one_update_rewrites_only_what_changed(many: Repo, tmp_path: Path, forked: None) -> None:
    out = tmp_path / "site"
    _build(many, out, NOW, reuse=True)
    target = sorted(many.ids())[5]
    untouched = out / "incidents" / f"{sorted(many.ids())[6]}.html"
    inode = untouched.stat().st_ino
    add_update(many, target, message="A late note <i>for the record</i>.", at=NOW - timedelta(hours=1))
    (out / "incidents" / "stale.html").write_text("old")
    report = _build(Repo.open(many.root), out, NOW, reuse=True)
    assert report.in_place
    assert untouched.stat().st_ino == inode, "an unchanged page is neither rewritten nor relinked"
    assert not (out / "incidents" / "stale.html").exists(), "files that are no longer part of the site go"
    assert not [p for p in out.rglob("*.tmp")], "no temp file is left behind"
    assert "A late note &lt;i&gt;for the record&lt;/i&gt;." in (out / "incidents" / f"{target}.html").read_text()
    clear_site_cache(many)
    _build(Repo.open(many.root), tmp_path / "full", NOW, reuse=False)
    assert all_files(out) == all_files(tmp_path / "full")


def test_new_now_rerenders_open_incidents_only(many: Repo, tmp_path: Path, serial: None) -> None:
    out = tmp_path / "site"
    first = _build(many, out, NOW, reuse=True)
    later = _build(Repo.open(many.root), out, NOW + timedelta(hours=1), reuse=True)
    open_pages = sum(1 for number in range(30) if number % 7 == 3)
    assert later.in_place and later.reused >= 30 - open_pages
    _build(Repo.open(many.root), tmp_path / "full", NOW + timedelta(hours=1), reuse=False)
    assert all_files(out) == all_files(tmp_path / "full")
    assert first.rendered > later.rendered


def test_invalid_records_are_reported_from_both_processes(
    many: Repo, tmp_path: Path, forked: None, capfd: pytest.CaptureFixture[str]
) -> None:
    """Both processes name their share's invalid records; the site is built from every valid one."""
    ids = sorted(many.ids())
    for incident_id in ids[10:12]:  # neighbours: one lands in each process's share
        path = many.record_path(incident_id)
        path.write_text(path.read_text().replace("severity: sev2", "severity: sev9"))
    _build(Repo.open(many.root), tmp_path / "site", NOW, reuse=True)
    named = capfd.readouterr().err
    assert f"incidents/{ids[10]}.yaml" in named and f"incidents/{ids[11]}.yaml" in named
    assert not (tmp_path / "site" / "incidents" / f"{ids[10]}.html").exists()
    assert (tmp_path / "site" / "index.html").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".incidentctl-build")]
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # the helper was reaped


def test_newest_updates_matches_a_full_sort() -> None:
    from incidentctl.config import Config
    from incidentctl.site.summary import unpack_times

    rng = random.Random(3)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    config = Config.model_validate({"organization": "Example"})
    views = []
    for number in range(300):
        start = base + timedelta(minutes=rng.randint(0, 20000))
        times = sorted(start + timedelta(minutes=rng.randint(0, 3000)) for _ in range(rng.randint(1, 6)))
        timeline = [Entry(at=at, status="investigating") for at in times]
        views.append(
            describe_incident(
                config, Incident(id=f"2024-01-01-i{number}", title="x", severity="sev2", timeline=timeline)
            )
        )
    every = sorted(
        ((at, view.id, index) for view in views for index, at in enumerate(unpack_times(view.entry_times), start=1)),
        reverse=True,
    )
    for limit in (1, 7, 200, 5000):
        assert newest_updates(views, limit) == every[:limit]

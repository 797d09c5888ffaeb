"""The scan cache (``records/cache.py``: parsed records for ``stats``, ``remind``, ``lint``...) never serves an
old record: an edit that keeps the size and puts the mtime back is seen (ctime), and a record written in the
last few seconds is parsed again by the next scan (two writes in one clock tick leave the same stamp)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from incidentctl.lifecycle import open_incident
from incidentctl.records import cache
from incidentctl.store import Repo
from testing import make_repo


def _scan_titles(root: Path) -> list[str]:
    return [incident.title for incident in Repo.open(root).scan()]


def test_a_same_size_edit_with_the_mtime_put_back_is_seen(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "status")
    incident_id = open_incident(repo, "Alpha outage", severity="sev2", message="Looking.").incident.id
    path = repo.record_path(incident_id)
    old = os.stat(path)
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns - 10_000_000_000))  # not racy: 10 s old
    time.sleep(0.01)
    assert _scan_titles(repo.root) == ["Alpha outage"]
    assert _scan_titles(repo.root) == ["Alpha outage"], "warm"
    assert cache.cache_path(repo.root).exists()

    before = os.stat(path)
    text = path.read_text(encoding="utf-8").replace("Alpha outage", "Omega outage")
    path.write_text(text, encoding="utf-8")  # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert _scan_titles(repo.root) == ["Omega outage"]


def test_a_record_written_just_now_is_not_trusted_from_the_cache(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "status")
    incident_id = open_incident(repo, "Alpha outage", severity="sev2", message="Looking.").incident.id
    path = repo.record_path(incident_id)
    assert _scan_titles(repo.root) == ["Alpha outage"]  # scanned within the racy window: not cached as fresh
    stamp = os.stat(path)
    # A second write right after the first: same size, the mtime put back.
    path.write_text(path.read_text(encoding="utf-8").replace("Alpha", "Gamma"), encoding="utf-8")
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert _scan_titles(repo.root) == ["Gamma outage"]

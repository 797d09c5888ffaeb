"""A rebuild sees every changed record: edited in place (same size, mtime put back), deleted, added,
or changed by a checkout of another commit. Each rebuild must give the very bytes of a full build."""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from incidentctl.model import Entry, Incident
from incidentctl.site import records, summarystore
from incidentctl.site.build import _build
from incidentctl.store import Repo
from testing import git, make_repo, modify_config

NOW = datetime(2024, 12, 20, 12, 0, tzinfo=UTC)


def all_files(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def clear_site_cache(repo: Repo) -> None:
    for path in (repo.root / ".git" / "incidentctl").glob("site-*"):
        path.unlink()


def make_incident(number: int, rng: random.Random) -> Incident:
    at = NOW - timedelta(days=40) + timedelta(hours=number * 9 + rng.randint(0, 5))
    component = ("api", "web", "chatgpt", "sora")[number % 4]
    entries = [Entry(at=at, status="investigating", message=f"Errors {number}", components={component: "major_outage"})]
    if number % 5 != 3:  # a few stay open
        entries.append(
            Entry(
                at=at + timedelta(hours=2), status="resolved", message="Fixed.", components={component: "operational"}
            )
        )
    return Incident(
        id=f"{at:%Y-%m-%d}-incident-{number}", title=f"Incident {number}", severity="sev2", timeline=entries
    )


def small_pages(config: Any) -> None:
    config["channels"]["statuspage"]["history_page_size"] = 4


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """12 incidents, committed (so a checkout can move them)."""
    made = make_repo(tmp_path / "repo", config=small_pages)
    rng = random.Random(11)
    for number in range(12):
        made.save(make_incident(number, rng))
    git(made.root, "add", "-A")
    git(made.root, "commit", "-qm", "incidents")
    return Repo.open(made.root)


@pytest.fixture(params=["racy", "settled"])
def racy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both stamp forms: every record just written (stamp + digest), or none (times only)."""
    monkeypatch.setattr(records, "RACY_NS", 10**18 if request.param == "racy" else -(10**18))
    return str(request.param)


def rebuild_matches_full_build(repo: Repo, out: Path, tmp_path: Path, now: datetime = NOW) -> None:
    _build(Repo.open(repo.root), out, now, reuse=True)
    cache = (repo.root / ".git" / "incidentctl").glob("site-*")
    saved = {path.name: path.read_bytes() for path in cache}
    clear_site_cache(repo)
    full = tmp_path / f"full-{len(list(tmp_path.iterdir()))}"
    _build(Repo.open(repo.root), full, now, reuse=False)
    assert all_files(out) == all_files(full)
    for name, data in saved.items():  # the rebuild's cache goes on serving the next rebuild
        (repo.root / ".git" / "incidentctl" / name).write_bytes(data)


def edit_keeping_size_and_mtime(path: Path, old: str, new: str) -> None:
    assert len(old) == len(new)
    before = path.stat()
    text = path.read_text()
    assert old in text
    with open(path, "r+", encoding="utf-8") as handle:  # in place: same inode, same size
        handle.write(text.replace(old, new))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)


def test_edit_in_place_with_the_same_size_and_mtime_is_seen(repo: Repo, tmp_path: Path, racy: str) -> None:
    out = tmp_path / "site"
    _build(repo, out, NOW, reuse=True)
    target = sorted(repo.ids())[4]
    edit_keeping_size_and_mtime(repo.record_path(target), "title: Incident 4", "title: Incident X")
    rebuild_matches_full_build(repo, out, tmp_path)
    assert "Incident X" in (out / "incidents" / f"{target}.html").read_text()
    assert "Incident X" in (out / "history.html").read_text() + (out / "history-2.html").read_text()


def test_deleted_and_added_records_are_seen(repo: Repo, tmp_path: Path, racy: str) -> None:
    out = tmp_path / "site"
    _build(repo, out, NOW, reuse=True)
    ids = sorted(repo.ids())
    repo.record_path(ids[3]).unlink()
    rebuild_matches_full_build(repo, out, tmp_path)
    assert not (out / "incidents" / f"{ids[3]}.html").exists()
    repo.save(make_incident(40, random.Random(5)))
    rebuild_matches_full_build(repo, out, tmp_path)
    assert (out / "incidents" / f"{make_incident(40, random.Random(5)).id}.html").exists()


def test_checkout_of_another_commit_is_seen(repo: Repo, tmp_path: Path, racy: str) -> None:
    ids = sorted(repo.ids())
    first = git(repo.root, "rev-parse", "HEAD").strip()
    for incident_id in ids[2:5]:
        edit_keeping_size_and_mtime(repo.record_path(incident_id), "title: Incident", "title: Accident")
    repo.record_path(ids[7]).unlink()
    git(repo.root, "commit", "-qam", "edits")
    out = tmp_path / "site"
    rebuild_matches_full_build(repo, out, tmp_path)
    git(repo.root, "checkout", "-q", first)
    rebuild_matches_full_build(repo, out, tmp_path)
    assert "Accident" not in (out / "history.html").read_text()
    assert (out / "incidents" / f"{ids[7]}.html").exists()
    git(repo.root, "checkout", "-q", "-")
    rebuild_matches_full_build(repo, out, tmp_path)
    assert not (out / "incidents" / f"{ids[7]}.html").exists()


def test_many_rebuilds_roll_the_recent_rows_into_the_base(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Changes pile up in the small file until they pass the threshold; then the base is rewritten."""
    monkeypatch.setattr(summarystore, "should_rewrite_base", lambda changed, total: changed > 3)
    out = tmp_path / "site"
    _build(repo, out, NOW, reuse=True)
    base = records.cache_file(repo.root / ".git" / "incidentctl")
    first = base.read_bytes()
    ids = sorted(repo.ids())
    for step, incident_id in enumerate(ids[:5]):
        path = repo.record_path(incident_id)
        path.write_text(path.read_text().replace("title: Incident", f"title: Step{step} Incident"))
        rebuild_matches_full_build(repo, out, tmp_path)
        assert (base.read_bytes() == first) == (step < 3), step
    (repo.root / ".git" / "incidentctl" / summarystore.RECENT_NAME).write_bytes(b"torn")
    rebuild_matches_full_build(repo, out, tmp_path)


def test_a_write_in_the_same_clock_tick_is_seen_by_its_digest(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    """Times alone miss a second same-size write in the tick of the listing: the racy record's digest sees it."""
    path = repo.record_path(sorted(repo.ids())[0])
    monkeypatch.setattr(records, "RACY_NS", 10**18)  # every record just written
    stamps, racy = records.record_stamps(repo)
    st = path.stat()
    times = f"{path.stem}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"
    assert stamps[path.stem] == times and racy[path.stem][::2] == (times, times)
    old_digest = racy[path.stem][1]
    edit_keeping_size_and_mtime(path, "title: Incident", "title: Accident")
    st = path.stat()
    times = f"{path.stem}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"
    # What the last build would have kept had this write fallen in its tick: these very times, the old bytes.
    seen = {path.stem: (times, old_digest, times)}
    monkeypatch.setattr(records, "RACY_NS", -(10**18))  # settled since
    stamps, racy = records.record_stamps(repo, seen)
    assert stamps[path.stem].startswith(times + "#") and stamps[path.stem] != times
    again, _ = records.record_stamps(repo, racy)
    assert again[path.stem] == stamps[path.stem], "stable while the bytes stay"
    unchanged, left = records.record_stamps(repo, {path.stem: (times, racy[path.stem][1], times)})
    assert unchanged[path.stem] == times and not left, "same bytes: the plain stamp, no longer tracked"


def test_old_cache_is_replaced(repo: Repo, tmp_path: Path) -> None:
    folder = repo.root / ".git" / "incidentctl"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "site-records.pickle").write_bytes(b"old")
    _build(repo, tmp_path / "site", NOW - timedelta(days=1), reuse=True)
    assert not (folder / "site-records.pickle").exists()
    assert records.cache_file(folder).is_file()


def test_incidents_leave_the_bars_window_as_now_moves(repo: Repo, tmp_path: Path) -> None:
    """The bars tally only incidents that can still colour a day: as ``now`` moves on (and back), each
    rebuild gives a full build's bytes, also once every incident has left the 90-day window."""
    out = tmp_path / "site"
    _build(repo, out, NOW, reuse=True)
    for days in (1, 30, 75, 89, 91, 120, 400, 10):
        rebuild_matches_full_build(repo, out, tmp_path, NOW + timedelta(days=days))
    text = (out / "index.html").read_text()
    assert "Incident" in (out / "history.html").read_text() and "uptime" in text


def test_a_component_renamed_or_dropped_in_the_config(repo: Repo, tmp_path: Path) -> None:
    """A renamed component shows its new name everywhere; one dropped from the config still shows
    (by its id, after the configured ones) while incidents name it."""
    out = tmp_path / "site"
    _build(repo, out, NOW, reuse=True)

    def rename(config: Any) -> None:
        config["components"][0]["name"] = "Renamed API"

    modify_config(repo.root, rename)
    rebuild_matches_full_build(repo, out, tmp_path)
    assert "Renamed API" in (out / "index.html").read_text()

    def drop(config: Any) -> None:
        del config["components"][1]

    modify_config(repo.root, drop)
    rebuild_matches_full_build(repo, out, tmp_path)


def test_history_membership_changes(repo: Repo, tmp_path: Path) -> None:
    """An incident older than every other moves every archive chunk's membership; deleting the newest
    moves history.html's: each rebuild gives a full build's bytes."""
    out = tmp_path / "site"
    _build(repo, out, NOW, reuse=True)
    old = make_incident(0, random.Random(1)).model_copy(update={"id": "2020-01-01-incident-old"})
    old = old.model_copy(
        update={"timeline": [entry.model_copy(update={"at": entry.at.replace(year=2020)}) for entry in old.timeline]}
    )
    repo.save(old)
    rebuild_matches_full_build(repo, out, tmp_path)
    assert "incidents/2020-01-01-incident-old.html" in (out / "history-1.html").read_text()
    newest = max(repo.ids())
    repo.record_path(newest).unlink()
    rebuild_matches_full_build(repo, out, tmp_path)
    assert newest not in (out / "history.html").read_text()


def test_a_damaged_shared_state_is_made_afresh(repo: Repo, tmp_path: Path) -> None:
    """A kept state that does not match the cached rows (a record missing from an order, a wrong
    component tally) is refused or outvoted by its checks: the rebuild still gives a full build's bytes."""
    out = tmp_path / "site"
    _build(repo, out, NOW, reuse=True)
    folder = repo.root / ".git" / "incidentctl"
    base = records.cache_file(folder)
    fingerprint, token = summarystore._read_frame(base.open("rb"))[1:]
    data = summarystore.read_recent(folder / summarystore.RECENT_NAME, fingerprint, token)
    version, by_start, by_last, touching, named, updated, live, cutoff = data["state"]
    assert sorted(by_start) == sorted(by_last) and live
    damaged = (version, by_start[1:], by_last[1:], touching, named, updated, live, cutoff)
    summarystore.write_recent(folder / summarystore.RECENT_NAME, fingerprint, token, {**data, "state": damaged})
    path = repo.record_path(sorted(repo.ids())[5])
    path.write_text(path.read_text().replace("title: Incident", "title: Changed incident"))
    rebuild_matches_full_build(repo, out, tmp_path)

"""``list``'s summaries cache (records.summaries): pre-encoded JSON rows, filters from the cache, and
every change between two warm lists noticed (in-place edits of the same size, deletions, additions)."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from incidentctl.lifecycle import open_incident
from incidentctl.records import summaries
from incidentctl.records.cache import cache_path, clear
from incidentctl.store import Repo
from testing import PROJECT_ROOT, invoke_cli, modify_config

START = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def _listed(repo: Repo, *args: str) -> list[dict[str, Any]]:
    result = invoke_cli("list", "--json", *args, repo=repo.root)
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def _expected(repo: Repo) -> list[dict[str, Any]]:
    """What ``list --json`` must show: every record's ``summary_dict()``, newest first (no cache involved)."""
    incidents = [repo.load(incident_id) for incident_id in repo.ids()]
    incidents.sort(key=lambda incident: (incident.started_at, incident.id), reverse=True)
    return [incident.summary_dict() for incident in incidents]


def _fill(repo: Repo) -> list[str]:
    ids = []
    for number, severity in enumerate(["sev1", "sev2", "sev3", "sev2", "sev1"]):
        change = open_incident(
            repo,
            f"Incident {number} Alpha",
            severity=severity,
            message=f"m{number}",
            at=START + timedelta(hours=number),
            incident_id=f"2024-03-01-i{number}",
        )
        ids.append(change.incident.id)
    return ids


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return (st.st_ino, st.st_mtime_ns)


def _schedule(repo: Repo, cli: Any) -> str:
    """A maintenance in the list (its id)."""
    window = ("--start", "2030-06-10T14:00:00Z", "--end", "2030-06-10T16:00:00Z")
    return str(cli("maintenance", "schedule", "Upgrade", *window, repo=repo.root).stdout.strip())


def test_warm_list_is_the_same_data_and_order_as_the_records(repo: Repo, cli: Any) -> None:
    _fill(repo)
    resolved = cli("update", "2024-03-01-i1", "-s", "resolved", "-m", "fixed", repo=repo.root)
    assert resolved.exit_code == 0, resolved.output
    cold = _listed(repo)  # written here, updated below with the maintenance added
    mid_id = _schedule(repo, cli)
    expected = _expected(repo)
    for listed in (_listed(repo), _listed(repo)):
        assert listed == expected
        assert [list(row) for row in listed] == [list(row) for row in expected]  # key order too
    assert [row["id"] for row in cold] == [row["id"] for row in expected if row["id"] != mid_id]
    assert [row["title"] for row in repo.summaries()] == [row["title"] for row in reversed(expected)]  # oldest first


def test_filters_come_from_the_cache(repo: Repo, cli: Any) -> None:
    _fill(repo)
    assert cli("update", "2024-03-01-i3", "-s", "resolved", "-m", "ok", repo=repo.root).exit_code == 0
    mid = _schedule(repo, cli)
    everything = _expected(repo)
    _listed(repo)  # the cache is written
    for args, keep in [
        ((), lambda row: True),
        (("--open",), lambda row: row["resolved_at"] is None),
        (("--severity", "sev2"), lambda row: row["severity"] == "sev2"),
        (("--severity", "sev1", "--open"), lambda row: row["severity"] == "sev1" and row["resolved_at"] is None),
        (("--kind", "maintenance"), lambda row: row["kind"] == "maintenance"),
        (("--kind", "incident", "--open"), lambda row: row["kind"] == "incident" and row["resolved_at"] is None),
        (
            ("--kind", "incident", "--severity", "sev2"),
            lambda row: row["kind"] == "incident" and row["severity"] == "sev2",
        ),
    ]:
        assert _listed(repo, *args) == [row for row in everything if keep(row)], args
    assert [row["id"] for row in _listed(repo, "--kind", "maintenance")] == [mid]
    assert _listed(repo, "--severity", "sev3", "--kind", "maintenance") == []
    empty = invoke_cli("list", "--json", "--severity", "sev3", "--open", "--kind", "maintenance", repo=repo.root)
    assert empty.stdout == "[]\n"
    table = invoke_cli("list", "--severity", "sev2", repo=repo.root, env={"COLUMNS": "200"}).stdout
    assert "2024-03-01-i1" in table and "2024-03-01-i3" in table and "2024-03-01-i0" not in table


def _edit_in_place(path: Path, old: bytes, new: bytes, keep_mtime: bool = False) -> None:
    """Rewrite ``path`` in place (same inode, same size), as an editor that does not rename would."""
    assert len(old) == len(new)
    before = path.stat()
    data = path.read_bytes()
    assert old in data
    with open(path, "r+b") as handle:
        handle.write(data.replace(old, new))
    if keep_mtime:  # an edit that puts the old mtime back (touch -r, rsync -t): ctime still moves
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size) == (before.st_ino, before.st_size)


def test_every_change_between_two_warm_lists_is_noticed(repo: Repo) -> None:
    ids = _fill(repo)
    # Stamps this recent are not trusted (a second change within the file system's clock tick could
    # keep them); wait so that the cache below is a real warm cache, read without parsing anything.
    time.sleep(summaries.RACY_NS / 1e9 + 0.2)
    first = _listed(repo)
    cache = cache_path(repo.root, "summaries")
    written = _stamp(cache)
    assert _listed(repo) == first and _stamp(cache) == written  # warm: the cache is only read

    # Each record below is still trusted by the cache (its stamp is old): only its stat can tell.
    path = repo.record_path(ids[2])
    _edit_in_place(path, b"Incident 2 Alpha", b"Incident 2 Gamma", keep_mtime=True)  # only ctime moves
    assert [row["title"] for row in _listed(repo) if row["id"] == ids[2]] == ["Incident 2 Gamma"]
    assert _stamp(cache) != written
    _edit_in_place(repo.record_path(ids[3]), b"Incident 3 Alpha", b"Incident 3 Omega")
    assert [row["title"] for row in _listed(repo) if row["id"] == ids[3]] == ["Incident 3 Omega"]
    # edits within the same clock tick as the list before them (the racy case)
    _edit_in_place(path, b"Incident 2 Gamma", b"Incident 2 Delta")
    assert [row["title"] for row in _listed(repo) if row["id"] == ids[2]] == ["Incident 2 Delta"]
    _edit_in_place(path, b"Incident 2 Delta", b"Incident 2 Kappa")
    assert [row["title"] for row in _listed(repo) if row["id"] == ids[2]] == ["Incident 2 Kappa"]

    repo.record_path(ids[0]).unlink()
    assert [row["id"] for row in _listed(repo)] == [ids[4], ids[3], ids[2], ids[1]]

    added = repo.incidents_dir / "2024-03-02-added.yaml"
    added.write_bytes(repo.record_path(ids[1]).read_bytes().replace(ids[1].encode(), b"2024-03-02-added"))
    listed = _listed(repo)
    assert [row["id"] for row in listed] == [ids[4], ids[3], ids[2], "2024-03-02-added", ids[1]]
    assert listed == _expected(repo)

    # the config edited in place (same size): validation changes, so the cache does not hold
    config = repo.root / "incidentctl.yaml"
    _edit_in_place(config, b"sev3:", b"sev7:")
    result = invoke_cli("list", "--json", repo=repo.root)
    assert "unknown severity 'sev3'" in result.stderr and ids[2] not in result.stdout


def test_invalid_records_are_reported_on_every_list(repo: Repo) -> None:
    ids = _fill(repo)
    broken = repo.incidents_dir / "2024-03-02-broken.yaml"
    broken.write_text("schema: [broken\n", encoding="utf-8")
    (repo.incidents_dir / "Not An Id.yaml").write_text("ignored: yes\n", encoding="utf-8")
    (repo.incidents_dir / "notes.txt").write_text("not a record\n", encoding="utf-8")
    for _ in range(3):
        result = invoke_cli("list", "--json", repo=repo.root)
        assert result.exit_code == 0 and "incidents/2024-03-02-broken.yaml:" in result.stderr, result.output
        assert [row["id"] for row in json.loads(result.stdout)] == ids[::-1]
    broken.unlink()
    assert invoke_cli("list", "--json", repo=repo.root).stderr == ""


def test_a_config_change_or_a_broken_cache_is_a_cold_scan(repo: Repo) -> None:
    _fill(repo)
    expected = _expected(repo)
    assert _listed(repo) == expected
    cache = cache_path(repo.root, "summaries")
    data = cache.read_bytes()
    for damaged in (data[: len(data) // 2], data[:-1], b"", b"garbage" * 10, data[:30] + b"\xff" * 40 + data[70:]):
        cache.write_bytes(damaged)
        assert _listed(repo) == expected
    clear(repo.root)
    assert not cache.exists() and _listed(repo) == expected
    modify_config(repo.root, lambda config: config["severities"].pop("sev3"))
    result = invoke_cli("list", "--json", repo=repo.root)
    assert "unknown severity 'sev3'" in result.stderr
    assert "2024-03-01-i2" not in result.stdout and len(json.loads(result.stdout)) == 4


def test_no_cache_where_it_cannot_be_written(repo: Repo) -> None:
    _fill(repo)
    folder = cache_path(repo.root, "summaries").parent
    folder.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder)
    folder.write_text("a file where the cache folder should be")  # writes fail: still listed
    assert _listed(repo) == _expected(repo) == _listed(repo)


def test_json_is_one_object_a_line_when_piped_and_indented_on_a_terminal(repo: Repo) -> None:
    _fill(repo)
    piped = invoke_cli("list", "--json", repo=repo.root).stdout
    lines = piped.splitlines()
    assert lines[0] == "[" and lines[-1] == "]" and len(lines) == 7
    assert all(line.startswith('{"id": ') for line in lines[1:-1])
    assert json.loads(piped) == _expected(repo)
    assert _terminal_output(repo.root) == json.dumps(_expected(repo), indent=2, ensure_ascii=False) + "\n"


def _terminal_output(root: Path) -> str:
    """``list --json`` with stdout on a pseudo-terminal (a person reading it)."""
    leader, follower = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "NO_COLOR": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "incidentctl", "--repo", str(root), "list", "--json"],
        stdout=follower,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's other end is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=60) == 0
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def test_unicode_and_hostile_titles_round_trip(repo: Repo) -> None:
    open_incident(repo, 'Ünïcödé ✓ "quoted" \\ back', severity="sev2", message="m", at=START)
    listed = _listed(repo)
    assert listed == _expected(repo) and listed[0]["title"] == 'Ünïcödé ✓ "quoted" \\ back'
    assert "Ünïcödé ✓" in invoke_cli("list", "--json", repo=repo.root).stdout  # not \\u-escaped


@pytest.mark.parametrize("count", [0, 1])
def test_empty_and_single(repo: Repo, count: int) -> None:
    if count:
        open_incident(repo, "Only", severity="sev1", message="m", at=START)
    for _ in range(2):
        out = invoke_cli("list", "--json", repo=repo.root).stdout
        assert json.loads(out) == _expected(repo)
        assert out == "[]\n" if not count else out.startswith("[\n{") and out.endswith("}\n]\n")


def test_a_record_that_moves_or_breaks_and_heals(repo: Repo) -> None:
    ids = _fill(repo)
    _listed(repo)
    path = repo.record_path(ids[1])
    original = path.read_bytes()
    # started 13:00 → 19:00: now the newest (same size, so only the stamp tells)
    moved = original.replace(b"2024-03-01T13:00:00Z", b"2024-03-01T19:00:00Z")
    assert moved != original
    path.write_bytes(moved)
    listed = _listed(repo)
    assert [row["id"] for row in listed] == [ids[1], ids[4], ids[3], ids[2], ids[0]] and listed == _expected(repo)
    path.write_bytes(b"schema: [broken\n")
    result = invoke_cli("list", "--json", repo=repo.root)
    assert f"incidents/{ids[1]}.yaml:" in result.stderr
    assert [row["id"] for row in json.loads(result.stdout)] == [ids[4], ids[3], ids[2], ids[0]]
    path.write_bytes(original)
    assert _listed(repo) == _expected(repo) and invoke_cli("list", "--json", repo=repo.root).stderr == ""


def test_the_only_record_edited_to_a_row_of_the_same_length(repo: Repo) -> None:
    change = open_incident(repo, "Title AAAA", severity="sev1", message="m", at=START)
    path = repo.record_path(change.incident.id)
    for title in ("Title BBBB", "Title CCCC", "Title CCCC"):
        path.write_bytes(re.sub(rb"title: Title \w+", f"title: {title}".encode(), path.read_bytes()))
        assert [row["title"] for row in _listed(repo)] == [title]

"""SIGKILL ``incidentctl update`` at random points, over and over: the record always parses, git is
never corrupt, no temp file outlives the next write, and every update reported done is kept.

Each loop runs a fixed number of iterations; ``testing.KillTimer`` picks each kill point from the
run time the machine currently gives, and the loop reports how many runs it really killed mid-run."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections import Counter
from functools import partial
from pathlib import Path

import pytest
import yaml

from incidentctl.records.codec import TEMP_PREFIX
from incidentctl.store import Repo
from testing import KillTimer, git, make_repo, run_subprocess

INCIDENT = "2024-12-12-api-down"


def temp_files(root: Path) -> list[Path]:
    return [path for path in root.rglob(f"{TEMP_PREFIX}*") if "objects" not in path.parts]


def start_update(root: Path, message: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "incidentctl", "update", INCIDENT, "-m", message],
        cwd=root,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_sound(root: Path) -> None:
    """The record parses and validates; git's object store and refs are intact."""
    Repo.open(root).load(INCIDENT)
    fsck = subprocess.run(["git", "fsck", "--no-progress", "--no-dangling"], cwd=root, capture_output=True, text=True)
    assert fsck.returncode == 0 and "error" not in fsck.stderr.lower() and "missing" not in fsck.stdout, (
        fsck.stdout + fsck.stderr
    )


def crash_loop(root: Path, iterations: int, rng: random.Random, label: str = "") -> Counter[str]:
    """Run ``iterations`` updates, each killed at a random point of its run unless it finishes first."""
    timer = KillTimer.calibrate(partial(start_update, root, f"{label}calibration"), rng, low=0.35, high=1.1)
    done: list[str] = [f"{label}calibration"]
    stats: Counter[str] = Counter()
    for n in range(iterations):
        stale = temp_files(root)
        stats["temp_files_seen"] += len(stale)
        message = f"{label}update {n}"
        run = timer.run(partial(start_update, root, message))
        if run.killed:
            stats["killed"] += 1
            if (root / ".git" / "rebase-merge").exists() or (root / ".git" / "rebase-apply").exists():
                stats["killed_mid_rebase"] += 1
            if git(root, "status", "--porcelain", "--untracked-files=no").strip():
                stats["killed_between_write_and_commit"] += 1
        else:
            err = run.stderr
            if run.returncode == 0:
                done.append(message)
                stats["finished"] += 1
                assert not any(path.exists() for path in stale), "a finished write left old temp files behind"
            else:
                # The only refusal a kill can cause: a git lock file a killed git left behind.
                assert run.returncode == 1 and "Traceback" not in err, err
                assert "git is locked by" in err and "remove that file" in err, err
                lock = Path(err.split("git is locked by ")[1].split(":")[0])
                lock.unlink()  # what the message tells the user to do
                stats["git_lock_explained"] += 1
        assert_sound(root)
    stats["iterations"] = len(timer.runs)
    assert stats["iterations"] == iterations and timer.killed == stats["killed"]
    # One more write after the last kill: it cleans up and commits whatever the kill left on disk.
    for lock in (root / ".git").glob("*.lock"):
        if lock.name != "incidentctl.lock":  # ours is an flock: the OS already released it
            lock.unlink()
            stats["git_locks_left_at_the_end"] += 1
    final = run_subprocess("update", INCIDENT, "-m", f"{label}after the storm", cwd=root)
    assert final.returncode == 0, final.stderr
    done.append(f"{label}after the storm")
    assert temp_files(root) == []
    assert_sound(root)
    committed = yaml.safe_load(git(root, "show", f"HEAD:incidents/{INCIDENT}.yaml"))
    kept = [entry["message"] for entry in committed["timeline"]]
    missing = [message for message in done if message not in kept]
    assert not missing, f"updates reported done but lost: {missing}"
    assert len(kept) == len(set(kept)), "an update was recorded twice"
    assert git(root, "status", "--porcelain", "--untracked-files=no").strip() == ""
    assert run_subprocess("lint", cwd=root).returncode == 0
    return stats


@pytest.mark.slow
def test_sigkill_during_update_never_corrupts(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "r")
    assert (
        cli("new", "API down", "--severity", "sev1", "--id", INCIDENT, "-m", "Investigating.", repo=repo.root).exit_code
        == 0
    )
    stats = crash_loop(repo.root, iterations=30, rng=random.Random(int(os.environ.get("CRASH_SEED", "6"))))
    print(f"\ncrash loop: {dict(stats)}")  # how many were killed mid-run is reported, never asserted


@pytest.mark.slow
def test_sigkill_during_update_with_push(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """Kills land in fetch, rebase and push too; the next command undoes a half-done rebase and pushes."""
    seed = make_repo(tmp_path / "seed", config={"git.push": True})
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed.root), str(remote))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    assert (
        run_subprocess(
            "new", "API down", "--severity", "sev1", "--id", INCIDENT, "-m", "Investigating.", cwd=clone
        ).returncode
        == 0
    )
    git(other, "pull", "-q")
    rng = random.Random(11)
    # Another responder keeps pushing, so the killed process is often fetching or rebasing.
    for n in range(3):
        assert run_subprocess("update", INCIDENT, "-m", f"other {n}", cwd=other).returncode == 0
        stats = crash_loop(clone, iterations=5, rng=rng, label=f"round {n}: ")
        print(f"\ncrash loop with push, round {n}: {dict(stats)}")
    assert not (clone / ".git" / "rebase-merge").exists()
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(remote), str(fresh))
    messages = [
        entry["message"] for entry in yaml.safe_load((fresh / "incidents" / f"{INCIDENT}.yaml").read_text())["timeline"]
    ]
    assert {"other 0", "other 1", "other 2", "round 2: after the storm"} <= set(messages)
    assert len(messages) == len(set(messages))


def test_stale_index_lock_is_explained_and_changes_nothing(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "r")
    assert (
        cli("new", "API down", "--severity", "sev1", "--id", INCIDENT, "-m", "Investigating.", repo=repo.root).exit_code
        == 0
    )
    before = repo.read_text(INCIDENT)
    lock = repo.root / ".git" / "index.lock"
    lock.write_text("", encoding="utf-8")  # what a git killed mid-commit leaves
    result = run_subprocess("update", INCIDENT, "-m", "Blocked.", cwd=repo.root)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[0] == (
        f"incidentctl: git is locked by {lock}: another git command is running, or one was killed. "
        f"If no git command is running, remove that file (rm {lock}) and try again."
    )
    assert repo.read_text(INCIDENT) == before  # refused before writing: nothing changed
    lock.unlink()
    assert run_subprocess("update", INCIDENT, "-m", "Unblocked.", cwd=repo.root).returncode == 0


def test_stale_ref_lock_is_explained(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "r")
    assert (
        cli("new", "API down", "--severity", "sev1", "--id", INCIDENT, "-m", "Investigating.", repo=repo.root).exit_code
        == 0
    )
    lock = repo.root / ".git" / "refs" / "heads" / "main.lock"
    lock.write_text("", encoding="utf-8")
    result = run_subprocess("update", INCIDENT, "-m", "Blocked.", cwd=repo.root)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"git is locked by {lock}" in result.stderr and "remove that file" in result.stderr
    lock.unlink()
    # The entry written before the commit failed is kept and committed by the next command.
    assert run_subprocess("update", INCIDENT, "-m", "Unblocked.", cwd=repo.root).returncode == 0
    committed = git(repo.root, "show", f"HEAD:incidents/{INCIDENT}.yaml")
    assert "Blocked." in committed and "Unblocked." in committed


def test_temp_files_from_a_killed_run_are_removed_by_the_next_write(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "r")
    assert (
        cli("new", "API down", "--severity", "sev1", "--id", INCIDENT, "-m", "Investigating.", repo=repo.root).exit_code
        == 0
    )
    leftovers = [
        repo.incidents_dir / f"{TEMP_PREFIX}abc.tmp",
        repo.root / f"{TEMP_PREFIX}def.tmp",
        repo.root / ".git" / "incidentctl" / f"{TEMP_PREFIX}cache.tmp",
    ]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half a record", encoding="utf-8")
    assert cli("list", repo=repo.root).exit_code == 0  # readers do not need to care
    assert cli("update", INCIDENT, "-m", "Next.", repo=repo.root).exit_code == 0
    assert [path for path in leftovers if path.exists()] == []

"""Several responders, one incident: clones of a bare remote with ``git.push: true``, racing pushes,
stale clones, the push retry and the per-repo lock. Real git, real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import yaml

from incidentctl import gitops
from incidentctl.lifecycle import add_update
from incidentctl.store import Repo
from testing import git, make_repo, run_subprocess

INCIDENT = "2024-12-12-api-down"


def team(tmp_path: Path, *names: str) -> tuple[Path, list[Path]]:
    """A bare remote and one clone per responder; the incident is opened and pushed from the first."""
    seed = make_repo(tmp_path / "seed", config={"git.push": True})
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed.root), str(remote))
    clones = []
    for name in names:
        git(tmp_path, "clone", "-q", str(remote), str(tmp_path / name))
        clones.append(tmp_path / name)
    opened = run_subprocess(
        "new",
        "API down",
        "--severity",
        "sev1",
        "--id",
        INCIDENT,
        "-c",
        "api=major_outage",
        "-m",
        "Investigating.",
        "--at",
        "2024-12-12T00:00:00Z",
        cwd=clones[0],
    )
    assert opened.returncode == 0, opened.stderr
    for clone in clones[1:]:
        git(clone, "pull", "-q")
    return remote, clones


def remote_record(tmp_path: Path, remote: Path) -> tuple[Path, dict]:  # type: ignore[type-arg]
    """A fresh clone of the remote (what a newcomer or CI sees) and the record in it."""
    fresh = tmp_path / f"fresh-{time.monotonic_ns()}"
    git(tmp_path, "clone", "-q", str(remote), str(fresh))
    return fresh, yaml.safe_load((fresh / "incidents" / f"{INCIDENT}.yaml").read_text(encoding="utf-8"))


def assert_lint_clean(root: Path) -> None:
    result = run_subprocess("lint", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr


def test_stale_clone_push_is_rebased_through_the_merge_driver(tmp_path: Path) -> None:
    """Both clones append to the same record: a line merge conflicts; the driver merges it."""
    remote, (alice, bob) = team(tmp_path, "alice", "bob")
    assert run_subprocess("update", INCIDENT, "-m", "Alice: errors from the EU region.", cwd=alice).returncode == 0
    # Bob commits without pushing (offline), then pushes: rejected ("fetch first"), fetch, rebase, push.
    bob_repo = Repo.open(bob)
    bob_repo.config = bob_repo.config.model_copy(update={"git": bob_repo.config.git.model_copy(update={"push": False})})
    add_update(bob_repo, INCIDENT, message="Bob: the database is fine.")
    gitops.push(bob, "origin")
    _fresh, record = remote_record(tmp_path, remote)
    assert [entry["message"] for entry in record["timeline"]][1:] == [
        "Alice: errors from the EU region.",
        "Bob: the database is fine.",
    ]
    log = git(bob, "log", "--format=%s", "origin/main")
    assert log.count(f"{INCIDENT}: update") == 2


def test_alternating_stale_updates_all_reach_the_remote(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    remote, clones = team(tmp_path, "alice", "bob")
    expected = []
    for round_ in range(6):
        for name, clone in zip(("alice", "bob"), clones, strict=True):
            message = f"{name} round {round_}"
            result = cli("update", INCIDENT, "-m", message, repo=clone)
            assert result.exit_code == 0, result.output
            expected.append(message)
    fresh, record = remote_record(tmp_path, remote)
    assert [entry["message"] for entry in record["timeline"]][1:] == expected
    assert_lint_clean(fresh)
    for clone in clones:
        assert git(clone, "status", "--porcelain").strip() == ""


@pytest.mark.slow
def test_concurrent_updates_from_three_clones_in_threads(tmp_path: Path) -> None:
    remote, clones = team(tmp_path, "alice", "bob", "carol")
    per_clone = 4
    failures: list[str] = []

    def responder(clone: Path) -> None:
        for n in range(per_clone):
            result = run_subprocess("update", INCIDENT, "-m", f"{clone.name} update {n}", cwd=clone, timeout=120)
            if result.returncode != 0:
                failures.append(f"{clone.name} {n}: exit {result.returncode}: {result.stderr}")
        # Then each clone "publishes": marks every pending delivery delivered, as a publisher would.
        result = subprocess.run(
            [sys.executable, "-c", DELIVER, str(clone)], capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode not in (0,):
            failures.append(f"{clone.name} deliver: {result.stderr}")

    threads = [threading.Thread(target=responder, args=(clone,)) for clone in clones]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not failures, failures
    elapsed = time.monotonic() - started
    fresh, record = remote_record(tmp_path, remote)
    messages = [entry["message"] for entry in record["timeline"]]
    for clone in clones:
        mine = [message for message in messages if message.startswith(f"{clone.name} update")]
        assert mine == [f"{clone.name} update {n}" for n in range(per_clone)]  # all there, in order
    assert len(messages) == 1 + per_clone * len(clones)
    for entry in record["timeline"]:
        delivery = entry["deliveries"]["statuspage"]
        assert delivery["state"] == "delivered" and isinstance(delivery["ref"], str), entry  # exactly one ref each
    assert_lint_clean(fresh)
    print(f"\n{len(clones)} clones x {per_clone} updates + a publish each: {elapsed:.1f}s")


# Marks pending deliveries delivered in one locked write, the way `publish` records a send.
DELIVER = textwrap.dedent(
    """
    import sys
    from incidentctl.store import Repo
    repo = Repo.open(sys.argv[1])
    with repo.transaction("2024-12-12-api-down: delivered") as tx:
        incident = repo.load("2024-12-12-api-down")
        name = repo.root.name
        timeline = [
            e.model_copy(update={"deliveries": {c: (d.model_copy(update={"state": "delivered", "ref": f"{name}-{i}", "attempts": 1})
                                                    if d.state != "delivered" else d) for c, d in e.deliveries.items()}})
            for i, e in enumerate(incident.timeline)
        ]
        tx.save(incident.model_copy(update={"timeline": timeline}))
    if tx.push_error:
        raise SystemExit(str(tx.push_error))
    """
)


def test_push_retries_a_locked_ref_then_exits_4_and_the_next_command_pushes(tmp_path: Path) -> None:
    remote, (alice,) = team(tmp_path, "alice")
    counter = tmp_path / "push-attempts"
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\necho x >> '{counter}'\nexit 0\n", encoding="utf-8")
    hook.chmod(0o755)
    ref_lock = remote / "refs" / "heads" / "main.lock"  # another push holds the ref: "failed to update ref"
    ref_lock.write_text("", encoding="utf-8")
    started = time.monotonic()
    result = run_subprocess("update", INCIDENT, "-m", "Stuck behind a lock.", cwd=alice)
    elapsed = time.monotonic() - started
    assert result.returncode == 4, result.stderr
    assert "committed locally" in result.stderr and "next writing command" in result.stderr
    assert "Traceback" not in result.stderr
    attempts = len(counter.read_text().splitlines())
    assert attempts >= 10
    assert git(alice, "log", "-1", "--format=%s").strip() == f"{INCIDENT}: update"  # the commit stays local
    assert git(alice, "rev-list", "--count", "origin/main..HEAD").strip() == "1"
    print(f"\n{attempts} push attempts in {elapsed:.1f}s before exit 4")

    ref_lock.unlink()  # the other push finished
    result = run_subprocess("update", INCIDENT, "-m", "Lock gone.", cwd=alice)
    assert result.returncode == 0, result.stderr
    _fresh, record = remote_record(tmp_path, remote)
    assert [entry["message"] for entry in record["timeline"]][-2:] == ["Stuck behind a lock.", "Lock gone."]


def test_push_lock_released_midway_is_transparent(tmp_path: Path) -> None:
    remote, (alice,) = team(tmp_path, "alice")
    ref_lock = remote / "refs" / "heads" / "main.lock"
    counter = tmp_path / "push-attempts"
    hook = remote / "hooks" / "pre-receive"
    # The third attempt finds the lock gone (the racing push finished).
    hook.write_text(
        f"#!/bin/sh\necho x >> '{counter}'\n[ $(wc -l < '{counter}') -ge 3 ] && rm -f '{ref_lock}'\nexit 0\n",
        encoding="utf-8",
    )
    hook.chmod(0o755)
    ref_lock.write_text("", encoding="utf-8")
    result = run_subprocess("update", INCIDENT, "-m", "Pushed on the third try.", cwd=alice)
    assert result.returncode == 0, result.stderr
    assert len(counter.read_text().splitlines()) == 3
    _fresh, record = remote_record(tmp_path, remote)
    assert record["timeline"][-1]["message"] == "Pushed on the third try."


def test_declined_push_is_not_retried_and_says_so(tmp_path: Path) -> None:
    remote, (alice,) = team(tmp_path, "alice")
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'main is frozen' >&2\nexit 1\n", encoding="utf-8")
    hook.chmod(0o755)
    started = time.monotonic()
    result = run_subprocess("update", INCIDENT, "-m", "Frozen.", cwd=alice)
    assert result.returncode == 4
    assert time.monotonic() - started < 15  # no ten rounds of backoff for a final "no"
    assert "hook declined" in result.stderr and "committed locally" in result.stderr


def test_interrupted_rebase_from_a_killed_push_is_undone(tmp_path: Path) -> None:
    _remote, (alice, bob) = team(tmp_path, "alice", "bob")
    assert run_subprocess("update", INCIDENT, "-m", "Alice.", cwd=alice).returncode == 0
    # Bob's earlier push died mid-rebase: a conflicting rebase in progress plus incidentctl's marker.
    (bob / "notes.txt").write_text("bob\n", encoding="utf-8")
    git(bob, "add", "notes.txt")
    git(bob, "commit", "-qm", "bob notes")
    git(bob, "fetch", "-q")
    git(bob, "checkout", "-q", "--detach", "origin/main")
    (bob / "notes.txt").write_text("other\n", encoding="utf-8")
    git(bob, "add", "notes.txt")
    git(bob, "commit", "-qm", "conflicting notes")
    upstream = git(bob, "rev-parse", "HEAD").strip()
    git(bob, "checkout", "-q", "main")
    assert subprocess.run(["git", "rebase", upstream], cwd=bob, capture_output=True).returncode != 0
    assert (bob / ".git" / "rebase-merge").exists()

    # Without incidentctl's marker it is the user's own rebase: refuse, and say what to do.
    result = run_subprocess("update", INCIDENT, "-m", "Bob.", cwd=bob)
    assert result.returncode == 1 and "rebase is in progress" in result.stderr and "git rebase --abort" in result.stderr
    (bob / ".git" / gitops.REBASE_MARKER).write_text("origin/main\n", encoding="utf-8")
    result = run_subprocess("update", INCIDENT, "-m", "Bob.", cwd=bob, env={"GIT_EDITOR": "true"})
    assert not (bob / ".git" / "rebase-merge").exists()
    assert git(bob, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert "bob notes" in git(bob, "log", "--format=%s")  # the local commit survived
    assert result.returncode in (0, 4), result.stderr  # notes.txt conflicts on push: exit 4 says so
    assert "Bob." in (bob / "incidents" / f"{INCIDENT}.yaml").read_text(encoding="utf-8")


# -- the per-repo lock -------------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys
    from incidentctl.store import Repo
    from incidentctl.lifecycle import add_update
    repo = Repo.open(sys.argv[1])
    for n in range(int(sys.argv[3])):
        add_update(repo, "2024-12-12-api-down", message=f"{sys.argv[2]} {n}")
    """
)


@pytest.mark.slow
def test_two_processes_in_one_clone_never_interleave_writes(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "r")
    assert (
        cli("new", "API down", "--severity", "sev1", "--id", INCIDENT, "-m", "Investigating.", repo=repo.root).exit_code
        == 0
    )
    count = 20
    env = {**os.environ}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(repo.root), name, str(count)], env=env, stderr=subprocess.PIPE, text=True
        )
        for name in ("first", "second")
    ]
    for writer in writers:
        _out, err = writer.communicate(timeout=240)
        assert writer.returncode == 0, err
    record = yaml.safe_load(repo.read_text(INCIDENT))
    messages = [entry["message"] for entry in record["timeline"]]
    for name in ("first", "second"):
        assert [m for m in messages if m.startswith(name)] == [f"{name} {n}" for n in range(count)]
    assert len(messages) == 1 + 2 * count
    # Each update is its own commit adding exactly one entry.
    subjects = git(repo.root, "log", "--format=%s", "--", f"incidents/{INCIDENT}.yaml").splitlines()
    assert len(subjects) == 1 + 2 * count
    for sha in git(repo.root, "log", "--format=%H", "--", f"incidents/{INCIDENT}.yaml").splitlines()[:-1]:
        added = git(repo.root, "show", "--format=", sha).count("\n+  - at:")
        assert added == 1, sha
    assert git(repo.root, "status", "--porcelain").strip() == ""
    assert run_subprocess("lint", cwd=repo.root).returncode == 0

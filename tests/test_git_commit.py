"""gitops.commit's plumbing path makes exactly the commit `git commit --no-verify -m` makes.

- Two copies of one repo, the same change, the same clock: the plumbing commit and a real `git
  commit` have the same sha (tree, parent, author, committer, cleaned-up message), the same reflog
  lines for HEAD and the branch, the same COMMIT_EDITMSG, and `git status` is clean after both;
  auto-maintenance runs after it as after `git commit`.
- Whatever git would do differently sends it the porcelain way: a commit hook runs (and can change
  the message), commit.gpgSign signs (here: tries to, with a fake gpg), a cherry-pick in progress.
- Nothing of ours changed: no commit. Something else staged: it stays staged and out of the commit.
- The transaction lists incidents/ for a killed run's temp files only when one can be there.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from incidentctl import gitops
from incidentctl.errors import GitError
from incidentctl.records.codec import TEMP_PREFIX
from testing import git, make_repo

CLOCK = "2026-01-02T03:04:05+00:00"


def _new(cli: Callable[..., Any], root: Path) -> str:
    result = cli("new", "API down", "--severity", "sev2", "-m", "Investigating.", repo=root)
    assert result.exit_code == 0, result.output
    return str(result.stdout.strip().splitlines()[-1])


def _twins(tmp_path: Path, cli: Callable[..., Any]) -> tuple[Path, Path, str]:
    """A repo with one committed record, and an exact copy of it (same history, same index)."""
    repo = make_repo(tmp_path / "plumbing")
    incident_id = _new(cli, repo.root)
    twin = tmp_path / "porcelain"
    shutil.copytree(repo.root, twin, symlinks=True)
    git(twin, "update-index", "--refresh")  # the copy has new inodes: refresh their stat data once
    return repo.root, twin, incident_id


def _traced(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    trace = tmp_path / "git-trace.txt"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    return trace


def _ran(trace: Path, words: str) -> bool:
    return trace.exists() and any(f"git {words}" in line for line in trace.read_text().splitlines())


MESSAGES = ["2026-01-01-api-down: update", "\n\n  first line  \n\n\n\tbody\t \nmore  \n\n"]


@pytest.mark.parametrize("message", MESSAGES)
def test_the_plumbing_commit_is_the_commit_git_commit_makes(
    tmp_path: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, message: str
) -> None:
    ours, theirs, incident_id = _twins(tmp_path, cli)
    rel = f"incidents/{incident_id}.yaml"
    for root in (ours, theirs):
        with (root / rel).open("a", encoding="utf-8") as handle:
            handle.write("# one more line\n")
    monkeypatch.setenv("GIT_AUTHOR_DATE", CLOCK)
    monkeypatch.setenv("GIT_COMMITTER_DATE", CLOCK)
    trace = _traced(monkeypatch, tmp_path)
    sha = gitops.commit(ours, [ours / rel], message)
    assert _ran(trace, "commit-tree") and not _ran(trace, "commit "), "the plumbing path was taken"
    assert _ran(trace, "maintenance run --auto --quiet"), "auto-maintenance runs, as after git commit"
    monkeypatch.delenv("GIT_TRACE")
    git(theirs, "add", "--", rel)
    git(theirs, "commit", "--quiet", "--no-verify", "-m", message)

    assert sha == git(ours, "rev-parse", "HEAD").strip() == git(theirs, "rev-parse", "HEAD").strip()
    for ref in ("HEAD", "refs/heads/main"):
        assert git(ours, "reflog", "-1", "--format=%gs", ref) == git(theirs, "reflog", "-1", "--format=%gs", ref)
        assert git(ours, "reflog", "--format=%H", ref) == git(theirs, "reflog", "--format=%H", ref)
    assert (ours / ".git" / "COMMIT_EDITMSG").read_bytes() == (theirs / ".git" / "COMMIT_EDITMSG").read_bytes()
    assert git(ours, "status", "--porcelain") == git(theirs, "status", "--porcelain") == ""
    assert git(ours, "diff", "--cached", "--name-only") == ""


def test_message_cleanup_is_gits() -> None:
    for message in [*MESSAGES, "a\r\n\r\nb\r\n", "x \n \n \ny", "  \n\t\n", "\u00e9t\u00e9  \n", "# kept\n"]:
        stripped = subprocess.run(["git", "stripspace"], input=message.encode(), capture_output=True, check=True)
        assert gitops.cleanup_message(message) == stripped.stdout.decode()


def _hook(root: Path, name: str, body: str) -> None:
    hook = root / ".git" / "hooks" / name
    hook.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.mark.parametrize("hook", ["prepare-commit-msg", "post-commit"])
def test_a_commit_hook_still_runs(tmp_path: Path, cli: Callable[..., Any], hook: str) -> None:
    repo = make_repo(tmp_path / "r")
    incident_id = _new(cli, repo.root)
    ran = tmp_path / "hook-ran"
    body = f'touch "{ran}"\n'
    if hook == "prepare-commit-msg":
        body += 'printf "\\nReviewed-by: hook\\n" >> "$1"\n'
    _hook(repo.root, hook, body)
    result = cli("update", incident_id, "-m", "Still investigating.", repo=repo.root)
    assert result.exit_code == 0, result.output
    assert ran.exists(), f"the {hook} hook ran"
    if hook == "prepare-commit-msg":
        assert "Reviewed-by: hook" in git(repo.root, "log", "-1", "--format=%B")


def test_an_inactive_sample_hook_does_not_count(tmp_path: Path, cli: Callable[..., Any]) -> None:
    repo = make_repo(tmp_path / "r")
    incident_id = _new(cli, repo.root)
    hook = repo.root / ".git" / "hooks" / "post-commit"
    hook.write_text("#!/bin/sh\nexit 1\n", encoding="utf-8")
    hook.chmod(0o644)  # not executable: git does not run it either
    assert gitops._plumbing_allowed(repo.root / ".git", repo.root / ".git")
    assert cli("update", incident_id, "-m", "Still investigating.", repo=repo.root).exit_code == 0


def test_gpg_signing_takes_the_porcelain_path(tmp_path: Path, cli: Callable[..., Any]) -> None:
    repo = make_repo(tmp_path / "r")
    incident_id = _new(cli, repo.root)
    asked = tmp_path / "gpg-asked"
    fake_gpg = tmp_path / "fake-gpg"
    fake_gpg.write_text(f'#!/bin/sh\ntouch "{asked}"\nexit 1\n', encoding="utf-8")
    fake_gpg.chmod(0o755)
    git(repo.root, "config", "commit.gpgSign", "true")
    git(repo.root, "config", "gpg.program", str(fake_gpg))
    gitops._settings_for.cache_clear()
    rel = f"incidents/{incident_id}.yaml"
    with (repo.root / rel).open("a", encoding="utf-8") as handle:
        handle.write("# more\n")
    with pytest.raises(GitError):
        gitops.commit(repo.root, [repo.root / rel], f"{incident_id}: update")
    assert asked.exists(), "git commit tried to sign, as it would without incidentctl"


@pytest.mark.parametrize("setting", [("core.hooksPath", "hooks-elsewhere"), ("commit.cleanup", "verbatim")])
def test_settings_git_commit_honours_take_the_porcelain_path(tmp_path: Path, setting: tuple[str, str]) -> None:
    repo = make_repo(tmp_path / "r")
    assert gitops._plumbing_allowed(repo.root / ".git", repo.root / ".git")
    git(repo.root, "config", *setting)
    gitops._settings_for.cache_clear()
    assert not gitops._plumbing_allowed(repo.root / ".git", repo.root / ".git")


def test_a_cherry_pick_in_progress_takes_the_porcelain_path(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    (repo.root / ".git" / "CHERRY_PICK_HEAD").write_text(git(repo.root, "rev-parse", "HEAD"), encoding="utf-8")
    assert not gitops._plumbing_allowed(repo.root / ".git", repo.root / ".git")


def test_nothing_changed_makes_no_commit(tmp_path: Path, cli: Callable[..., Any]) -> None:
    repo = make_repo(tmp_path / "r")
    incident_id = _new(cli, repo.root)
    head = git(repo.root, "rev-parse", "HEAD")
    assert gitops.commit(repo.root, [repo.root / "incidents" / f"{incident_id}.yaml"], "no change") is None
    assert git(repo.root, "rev-parse", "HEAD") == head


def test_a_staged_file_stays_out_of_the_commit(tmp_path: Path, cli: Callable[..., Any]) -> None:
    repo = make_repo(tmp_path / "r")
    incident_id = _new(cli, repo.root)
    (repo.root / "notes.txt").write_text("mine\n", encoding="utf-8")
    git(repo.root, "add", "notes.txt")
    rel = f"incidents/{incident_id}.yaml"
    with (repo.root / rel).open("a", encoding="utf-8") as handle:
        handle.write("# more\n")
    gitops.commit(repo.root, [repo.root / rel], f"{incident_id}: update")
    assert git(repo.root, "show", "--name-only", "--format=", "HEAD").split() == [rel]
    assert git(repo.root, "diff", "--cached", "--name-only").split() == ["notes.txt"]


def test_incidents_is_listed_only_when_a_temp_file_can_be_there(tmp_path: Path, cli: Callable[..., Any]) -> None:
    repo = make_repo(tmp_path / "r")
    incident_id = _new(cli, repo.root)
    lock = repo.root / ".git" / "incidentctl.lock"
    assert lock.read_text(encoding="utf-8").startswith("clean "), "a transaction that ended normally says so"
    # A leftover the folder's mtime cannot show (mtime put back): the stamp says clean, no listing.
    before = os.stat(repo.incidents_dir).st_mtime_ns
    hidden = repo.incidents_dir / f"{TEMP_PREFIX}hidden.tmp"
    hidden.write_text("half", encoding="utf-8")
    os.utime(repo.incidents_dir, ns=(before, before))
    assert cli("update", incident_id, "-m", "One.", repo=repo.root).exit_code == 0
    assert hidden.exists(), "not listed: nothing could have left a temp file"
    # A run killed mid-transaction leaves "dirty": the next one lists the folder.
    lock.write_text("dirty\n", encoding="utf-8")
    before = os.stat(repo.incidents_dir).st_mtime_ns
    os.utime(repo.incidents_dir, ns=(before, before))
    assert cli("update", incident_id, "-m", "Two.", repo=repo.root).exit_code == 0
    assert not hidden.exists()
    # A temp file created after the stamp changes the folder's mtime: listed too.
    again = repo.incidents_dir / f"{TEMP_PREFIX}again.tmp"
    again.write_text("half", encoding="utf-8")
    assert cli("update", incident_id, "-m", "Three.", repo=repo.root).exit_code == 0
    assert not again.exists()


def test_in_a_linked_worktree_too(tmp_path: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A linked worktree has its own HEAD, index and COMMIT_EDITMSG; its hooks are the main repo's."""
    repo = make_repo(tmp_path / "r")
    incident_id = _new(cli, repo.root)
    worktree = tmp_path / "wt"
    git(repo.root, "worktree", "add", "--quiet", "-b", "side", str(worktree))
    rel = f"incidents/{incident_id}.yaml"
    with (worktree / rel).open("a", encoding="utf-8") as handle:
        handle.write("# in the worktree\n")
    trace = _traced(monkeypatch, tmp_path)
    sha = gitops.commit(worktree, [worktree / rel], f"{incident_id}: update")
    assert _ran(trace, "commit-tree")
    assert sha == git(worktree, "rev-parse", "refs/heads/side").strip()
    assert git(repo.root, "rev-parse", "HEAD") != git(worktree, "rev-parse", "HEAD"), "main's HEAD untouched"
    assert git(worktree, "reflog", "-1", "--format=%gs", "HEAD").strip() == f"commit: {incident_id}: update"
    assert git(worktree, "status", "--porcelain") == ""
    # A hook in the main repo's hooks folder counts for the worktree too.
    _hook(repo.root, "post-commit", "exit 0\n")
    dirs = gitops.git_dirs(worktree)
    assert dirs is not None and not gitops._plumbing_allowed(*dirs)

"""Git: one commit per change, push with fetch-rebase-retry. GitPython is imported only here."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import GitError, PushError

if TYPE_CHECKING:
    from git import Repo as GitRepo

PUSH_ATTEMPTS = 10
FALLBACK_IDENTITY = ("incidentctl", "incidentctl@localhost")


def _git_repo(root: Path) -> GitRepo:
    import git

    try:
        return git.Repo(root, search_parent_directories=False)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise GitError(f"{root} is not a git repository; run `git init` there or `incidentctl init {root}`") from None


def is_git_repo(root: Path) -> bool:
    return (root / ".git").exists()


def _identity_args(repo: GitRepo) -> list[str]:
    """Use the user's git identity; fall back to a neutral one on fresh machines (CI, containers)."""
    import git

    args = []
    for key, fallback in zip(("user.name", "user.email"), FALLBACK_IDENTITY, strict=True):
        try:
            repo.git.config("--get", key)
        except git.GitCommandError:
            args += ["-c", f"{key}={fallback}"]
    return args


def _run(repo: GitRepo, *args: str) -> str:
    import git

    try:
        return str(repo.git.execute(["git", *_identity_args(repo), *args]))
    except git.GitCommandError as exc:
        raise GitError(_explain(exc, repo)) from None


def _explain(exc: object, repo: GitRepo) -> str:
    stderr = str(getattr(exc, "stderr", "") or exc).strip().replace("stderr: ", "").strip("'\" \n")
    if "index.lock" in stderr:
        lock = Path(repo.git_dir) / "index.lock"
        return (
            f"git is locked by {lock}: another git command is running, or one was killed. "
            f"If no git command is running, remove that file and try again."
        )
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return "git: " + (lines[-1] if lines else "command failed")


def init_repo(root: Path) -> None:
    import git

    if not is_git_repo(root):
        try:
            git.Repo.init(root, initial_branch="main")
        except TypeError:  # pragma: no cover - very old git
            git.Repo.init(root)


def commit(root: Path, paths: Sequence[Path], message: str) -> str | None:
    """Commit exactly ``paths`` (new or changed) with ``message``; other changes stay untouched.

    Returns the new commit's sha, or None when nothing in ``paths`` changed.
    """
    repo = _git_repo(root)
    rel = [str(Path(path).resolve().relative_to(root.resolve())) for path in paths]
    _run(repo, "add", "--", *rel)
    if not _run(repo, "diff", "--cached", "--name-only", "--", *rel).strip():
        return None
    if repo.head.is_valid():
        _run(repo, "commit", "--quiet", "--no-verify", "-m", message, "--only", "--", *rel)
    else:
        _run(repo, "commit", "--quiet", "--no-verify", "-m", message)
    return repo.head.commit.hexsha


def has_remote(root: Path, remote: str) -> bool:
    repo = _git_repo(root)
    return any(r.name == remote for r in repo.remotes)


def push(root: Path, remote: str = "origin", attempts: int = PUSH_ATTEMPTS) -> None:
    """Push the current branch; on rejection fetch, rebase and try again with jittered backoff.

    Raises :class:`PushError` (exit 4) when it still fails: the commit stays local and the next
    writing command pushes it.
    """
    import git

    repo = _git_repo(root)
    if not has_remote(root, remote):
        raise PushError(f"git.push is on but this repo has no remote {remote!r}; the change is committed locally")
    try:
        branch = repo.active_branch.name
    except TypeError:
        raise PushError("HEAD is detached; the change is committed locally but not pushed") from None
    last_error = ""
    for attempt in range(attempts):
        try:
            repo.git.execute(["git", "push", "--quiet", remote, f"HEAD:refs/heads/{branch}"])
            return
        except git.GitCommandError as exc:
            last_error = _explain(exc, repo)
        # Rejected (someone pushed first, or two pushes raced for the ref lock): catch up and retry.
        try:
            repo.git.execute(["git", "fetch", "--quiet", remote, branch])
            repo.git.execute(["git", *_identity_args(repo), "rebase", "--quiet", f"{remote}/{branch}"])
        except git.GitCommandError as exc:
            message = _explain(exc, repo)
            if "couldn't find remote ref" in str(exc.stderr):
                continue  # the branch does not exist upstream yet; the push creates it
            try:
                repo.git.execute(["git", "rebase", "--abort"])
            except git.GitCommandError:
                pass
            raise PushError(f"could not rebase onto {remote}/{branch} ({message}); the change is committed locally") from None
        time.sleep(min(2.0, 0.05 * (2**attempt)) * random.uniform(0.5, 1.5))  # noqa: S311 - jitter only
    raise PushError(
        f"push to {remote} failed {attempts} times ({last_error}); "
        "the change is committed locally and the next writing command will push it"
    )


def unpushed(root: Path, remote: str = "origin") -> bool:
    """True when the branch has commits its upstream lacks (a push failed earlier)."""
    import git

    repo = _git_repo(root)
    try:
        branch = repo.active_branch.name
        out = repo.git.execute(["git", "rev-list", "--count", f"{remote}/{branch}..HEAD"])
    except (git.GitCommandError, TypeError):
        return True
    return str(out).strip() != "0"


def dirty_paths(root: Path) -> list[str]:
    """Paths with uncommitted changes (for messages only)."""
    repo = _git_repo(root)
    return [line[3:] for line in str(repo.git.status("--porcelain")).splitlines() if line]

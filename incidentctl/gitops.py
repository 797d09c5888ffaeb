"""Git: one commit per change, push with fetch-rebase-retry. GitPython is imported only here."""

from __future__ import annotations

import functools
import os
import random
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import GitError, PushError
from .records.codec import atomic_write

if TYPE_CHECKING:
    from git import Repo as GitRepo

PUSH_ATTEMPTS = 10
FALLBACK_IDENTITY = ("incidentctl", "incidentctl@localhost")


def git_repo(root: Path) -> GitRepo:
    import git

    try:
        return git.Repo(root, search_parent_directories=False)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise GitError(f"{root} is not a git repository; run `git init` there or `incidentctl init {root}`") from None


def is_git_repo(root: Path) -> bool:
    return (root / ".git").exists()


def git_dirs(root: Path) -> tuple[Path, Path] | None:
    """``(git dir, common git dir)`` of the repo at ``root``, also in a linked worktree (where
    ``root/.git`` is a file); None when ``root`` is not in git."""
    dot_git = root / ".git"
    if dot_git.is_dir():
        return dot_git, dot_git
    if not dot_git.exists():
        return None
    result = subprocess.run(
        ["git", "rev-parse", "--git-dir", "--git-common-dir"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = result.stdout.splitlines()
    if result.returncode != 0 or len(lines) < 2:
        return None
    return (root / lines[0]).resolve(), (root / lines[1]).resolve()


def identity_args(repo: GitRepo) -> list[str]:
    """Use the user's git identity; fall back to a neutral one on fresh machines (CI, containers)."""
    return list(_identity_for(str(repo.git_dir)))


#: The settings :func:`commit` looks at, read in one ``git config`` call per process and repo.
_SETTINGS = r"^(user\.(name|email)|core\.hookspath|commit\.(gpgsign|cleanup)|maintenance\.auto|i18n\.commitencoding)$"


@functools.lru_cache(maxsize=8)
def _settings_for(git_dir: str) -> dict[str, str]:
    """``{lower-case key: last value}`` of the settings in :data:`_SETTINGS` (system, global, repo)."""
    result = subprocess.run(
        ["git", "--git-dir", git_dir, "config", "-z", "--get-regexp", _SETTINGS],
        capture_output=True,
        check=False,
    )
    settings: dict[str, str] = {}
    for item in result.stdout.decode("utf-8", "replace").split("\0"):
        if item:
            key, _, value = item.partition("\n")
            settings[key.lower()] = value
    return settings


@functools.lru_cache(maxsize=8)
def _identity_for(git_dir: str) -> tuple[str, ...]:
    # Asked once per process and repo (with the commit settings): not two `git config` calls per git command.
    present = _settings_for(git_dir)
    args: list[str] = []
    for key, fallback in zip(("user.name", "user.email"), FALLBACK_IDENTITY, strict=True):
        if key not in present:
            args += ["-c", f"{key}={fallback}"]
    return tuple(args)


def _run(repo: GitRepo, *args: str) -> str:
    import git

    try:
        return str(repo.git.execute(["git", *identity_args(repo), *args]))
    except git.GitCommandError as exc:
        raise GitError(_explain(exc, repo.git_dir)) from None


_LOCK_FILE = re.compile(r"Unable to create '([^']+\.lock)': File exists")


def _explain(exc: object, git_dir: str | os.PathLike[str]) -> str:
    """One clear line from a failed git command; a lock file left by a killed git says what to do."""
    stderr = str(getattr(exc, "stderr", "") or exc).strip().replace("stderr: ", "").strip("'\" \n")
    match = _LOCK_FILE.search(stderr)
    lock = Path(match.group(1)) if match else Path(git_dir) / "index.lock"
    if (match or "index.lock" in stderr) and lock.exists() and "Permission denied" not in stderr:
        return (
            f"git is locked by {lock}: another git command is running, or one was killed. "
            f"If no git command is running, remove that file (rm {shlex.quote(str(lock))}) and try again."
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
    ensure_merge_driver(root)
    rel = [Path(path).resolve().relative_to(root.resolve()).as_posix() for path in paths]
    dirs = git_dirs(root)
    if dirs is not None and _plumbing_allowed(*dirs):
        done, sha = _plumbing_commit(root, dirs[0], rel, message)
        if done:
            return sha
    repo = git_repo(root)
    # update-index, not `add`: `git add -- PATH` also reads the whole folder (for untracked names the
    # pathspec might match): 100,000 directory entries at 100,000 records; the index update is the same.
    _run(repo, "update-index", "--add", "--remove", "--", *rel)
    # Everything staged, ours or not (raw names, -z: no quoting), in one look at the index.
    staged = {name for name in _run(repo, "diff", "--cached", "--name-only", "--no-renames", "-z").split("\0") if name}
    if not staged & set(rel):
        return None
    if staged <= set(rel):
        # Nothing else is staged: a plain commit takes exactly these paths. `--only` would also be
        # right, but it builds a temporary index from HEAD's whole tree (1.4 s against 0.7 s with
        # 100,000 records), so it is kept for when something else is staged.
        _run(repo, "commit", "--quiet", "--no-verify", "-m", message)
    else:
        # Other files are staged (the user's own work): they stay staged and out of this commit.
        _run(repo, "commit", "--quiet", "--no-verify", "-m", message, "--only", "--", *rel)
    return repo.head.commit.hexsha


# -- the plumbing commit -------------------------------------------------------------------------------
#
# `git commit` refreshes every index entry (an lstat of every file: 100,000 at 100,000 records) and
# compares the whole index with HEAD before it writes the tree. When nothing can tell the two apart,
# :func:`commit` makes the same commit with plumbing: the index's tree is compared with HEAD's first
# (nothing else staged), then `update-index` + `write-tree` + `commit-tree` + `update-ref`, the
# message cleaned up, the reflog entry and COMMIT_EDITMSG written and auto-maintenance run as `git
# commit` does. Anything that would make `git commit` behave differently sends it the porcelain way:

#: Hooks `git commit` could run (`--no-verify` skips only pre-commit and commit-msg; the others would
#: not run in the plumbing path): any of them present and executable means the porcelain path.
COMMIT_HOOKS = ("pre-commit", "prepare-commit-msg", "commit-msg", "post-commit", "post-index-change")
#: Files in the git dir that change what `git commit` does (a merge, a cherry-pick, a revert, a
#: squash or a rebase in progress): any of them present means the porcelain path.
COMMIT_STATE_FILES = (
    "MERGE_HEAD",
    "MERGE_MSG",
    "MERGE_MODE",
    "AUTO_MERGE",
    "SQUASH_MSG",
    "CHERRY_PICK_HEAD",
    "REVERT_HEAD",
    "sequencer",
    "rebase-merge",
    "rebase-apply",
)
_FALSE = ("false", "no", "off", "0")


def _plumbing_allowed(git_dir: Path, common_dir: Path) -> bool:
    """Can the plumbing commit be told apart from `git commit --no-verify -m` here? (False: it can.)"""
    settings = _settings_for(str(git_dir))
    if "core.hookspath" in settings or "i18n.commitencoding" in settings:
        return False
    if settings.get("commit.gpgsign", "false").strip().lower() not in (*_FALSE, ""):
        return False
    if settings.get("commit.cleanup", "default").strip().lower() not in ("default", "whitespace"):
        return False
    hooks = common_dir / "hooks"
    if any(os.access(hooks / name, os.X_OK) for name in COMMIT_HOOKS):
        return False
    return not any((git_dir / name).exists() for name in COMMIT_STATE_FILES)


def cleanup_message(message: str) -> str:
    """`git commit -m`'s clean-up (mode "whitespace", git's ``strbuf_stripspace``): trailing spaces
    off every line, leading and trailing blank lines dropped, runs of blank lines made one, a final
    newline."""
    lines: list[str] = []
    blank = False
    for line in message.split("\n"):
        line = line.rstrip(" \t\n\r")
        if not line:
            blank = bool(lines)
            continue
        if blank:
            lines.append("")
        blank = False
        lines.append(line)
    return "\n".join(lines) + "\n" if lines else ""


def _git(root: Path, git_dir: Path, *args: str, stdin: bytes | None = None, check: bool = True) -> str | None:
    """Run git in ``root`` with the user's identity; its output (stripped), or None when it failed and
    ``check`` is off; a failure with ``check`` on raises :class:`GitError` (the same line as :func:`_run`)."""
    result = subprocess.run(
        ["git", *_identity_for(str(git_dir)), *args],
        cwd=root,
        input=stdin,
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        if not check:
            return None
        failure = subprocess.CompletedProcess(args, result.returncode, stderr=result.stderr.decode("utf-8", "replace"))
        raise GitError(_explain(failure, git_dir))
    return result.stdout.decode("utf-8", "replace").strip()


def _plumbing_commit(root: Path, git_dir: Path, rel: Sequence[str], message: str) -> tuple[bool, str | None]:
    """The same commit as `git commit --quiet --no-verify -m MESSAGE` after staging ``rel``, made with
    plumbing. ``(False, None)``: not done (no first commit yet, something else is staged, the index
    has conflicts, an empty message): the caller takes the porcelain path; HEAD and the index's
    entries are untouched then (the pre-check may only have stored trees and the index's cache-tree)."""
    text = cleanup_message(message)
    if not text:
        return False, None  # `git commit` refuses an empty message: let it say so
    # With a valid cache-tree (after any commit) this reads the index and writes nothing.
    index_tree = _git(root, git_dir, "write-tree", check=False)
    heads = _git(root, git_dir, "rev-parse", "HEAD", "HEAD^{tree}", check=False)
    if index_tree is None or heads is None or len(heads.split()) != 2:
        return False, None  # conflicts in the index, or no first commit
    head, head_tree = heads.split()
    if index_tree != head_tree:
        return False, None  # something is staged already (maybe the user's): the porcelain path keeps it out
    _git(root, git_dir, "update-index", "--add", "--remove", "--", *rel)
    # --missing-ok only skips a lookup of every entry's object: every one is HEAD's or was just written.
    tree = _git(root, git_dir, "write-tree", "--missing-ok")
    if tree == head_tree:
        return True, None  # none of our paths changed
    assert tree is not None
    # As `git commit` leaves it (git's scratch file, written by git the same plain way; no fsync).
    (git_dir / "COMMIT_EDITMSG").write_text(text, encoding="utf-8")
    sha = _git(root, git_dir, "commit-tree", tree, "-p", head, "-F", "-", stdin=text.encode("utf-8"))
    assert sha is not None
    subject = text.split("\n", 1)[0]
    _git(root, git_dir, "update-ref", "-m", f"commit: {subject}", "HEAD", sha, head)
    if _settings_for(str(git_dir)).get("maintenance.auto", "true").strip().lower() not in _FALSE:
        # What `git commit` runs after every commit (it decides itself whether there is work to do).
        subprocess.run(["git", "maintenance", "run", "--auto", "--quiet"], cwd=root, capture_output=True, check=False)
    return True, sha


def has_remote(root: Path, remote: str) -> bool:
    repo = git_repo(root)
    return any(r.name == remote for r in repo.remotes)


#: What a rejected push says: someone pushed first, or two pushes raced for the ref lock.
_REJECTIONS = (
    "[rejected]",
    "fetch first",
    "non-fast-forward",
    "[remote rejected]",
    "cannot lock ref",
    "failed to lock",
    "failed to update ref",
    "incorrect old value",
    "stale info",
)
#: Rejections that retrying cannot fix.
_FINAL_REJECTIONS = ("hook declined", "protected branch", "permission denied", "not allowed")
REBASE_MARKER = "incidentctl-rebase"


def _is_retryable_rejection(stderr: str) -> bool:
    text = stderr.lower()
    return any(word in text for word in _REJECTIONS) and not any(word in text for word in _FINAL_REJECTIONS)


def backoff(attempt: int) -> float:
    """Seconds to wait before retry ``attempt`` (1-based): exponential, capped, fully jittered."""
    return float(random.uniform(0.5, 1.0) * min(2.0, 0.05 * (2**attempt)))


def push(root: Path, remote: str = "origin", attempts: int = PUSH_ATTEMPTS) -> dict[str, str]:
    """Push the current branch; on rejection fetch, rebase (records merge through the merge driver)
    and try again with jittered backoff, ``attempts`` times in all.

    Raises :class:`PushError` (exit 4) when it still fails: the commit stays local and the next
    writing command pushes it (every push sends all local commits). Before saying so, it asks the
    remote whether the push landed anyway (the connection dropped after the remote took it).
    Returns the records renamed on the way (``{old id: new id}``, see :func:`rename_clashing_records`).
    """
    import git

    repo = git_repo(root)
    if not has_remote(root, remote):
        raise PushError(f"git.push is on but this repo has no remote {remote!r}; the change is committed locally")
    try:
        branch = repo.active_branch.name
    except TypeError:
        raise PushError("HEAD is detached; the change is committed locally but not pushed") from None
    ensure_merge_driver(root)
    last_error = ""
    renamed: dict[str, str] = {}
    for attempt in range(attempts):
        if attempt:
            time.sleep(backoff(attempt))
            renamed.update(_catch_up(repo, remote, branch))
        try:
            repo.git.execute(["git", "push", "--quiet", "--porcelain", remote, f"HEAD:refs/heads/{branch}"])
            return renamed
        except git.GitCommandError as exc:
            output = f"{exc.stdout or ''}\n{exc.stderr or ''}"
            last_error = _push_failure(output)
            if not _is_retryable_rejection(output):
                if _remote_has_head(repo, remote, branch):
                    return renamed
                raise PushError(
                    f"push to {remote} failed ({last_error}); the change is committed locally "
                    "and the next writing command will push it"
                ) from None
    if _remote_has_head(repo, remote, branch):
        return renamed  # an earlier attempt landed before its answer was lost
    raise PushError(
        f"push to {remote} was rejected {attempts} times ({last_error}); "
        "the change is committed locally and the next writing command will push it"
    )


def _remote_has_head(repo: GitRepo, remote: str, branch: str) -> bool:
    """After a failed push: does the remote branch already hold our HEAD (the push landed and only
    the answer was lost)? Asked with ``ls-remote``; False when the remote cannot be asked."""
    import git

    try:
        head = repo.head.commit.hexsha
        listed = str(repo.git.execute(["git", "ls-remote", remote, f"refs/heads/{branch}"]))
    except (git.GitCommandError, ValueError):
        return False
    remote_sha = listed.split()[0] if listed.split() else ""
    if not remote_sha:
        return False
    if remote_sha == head:
        return True
    try:
        repo.git.execute(["git", "merge-base", "--is-ancestor", head, remote_sha])
    except git.GitCommandError:
        return False
    return True


def try_push(root: Path, remote: str = "origin") -> str | None:
    """Push once, no retry (a claim: the remote decides). None: landed; ``"rejected"``: someone pushed
    first; else what went wrong (after checking whether the push landed anyway)."""
    import git

    repo = git_repo(root)
    try:
        branch = repo.active_branch.name
    except TypeError:
        return "HEAD is detached"
    try:
        repo.git.execute(["git", "push", "--quiet", "--porcelain", remote, f"HEAD:refs/heads/{branch}"])
        return None
    except git.GitCommandError as exc:
        output = f"{exc.stdout or ''}\n{exc.stderr or ''}"
    if _is_retryable_rejection(output):
        return "rejected"
    if _remote_has_head(repo, remote, branch):
        return None
    return _push_failure(output)


def drop_last_commit(root: Path, paths: Sequence[Path]) -> None:
    """Undo HEAD (a claim commit that lost the race): its records go back to HEAD~1's content;
    nothing else in the index or working tree is touched."""
    repo = git_repo(root)
    rel = [str(Path(path).resolve().relative_to(root.resolve())) for path in paths]
    _run(repo, "reset", "--quiet", "--soft", "HEAD~1")
    _run(repo, "restore", "--source=HEAD", "--staged", "--worktree", "--", *rel)


def catch_up(root: Path, remote: str = "origin") -> dict[str, str]:
    """Fetch and rebase onto the remote branch now (raises :class:`PushError` on a conflict).
    Returns the records renamed on the way (see :func:`rename_clashing_records`)."""
    repo = git_repo(root)
    if not has_remote(root, remote):
        return {}
    try:
        branch = repo.active_branch.name
    except TypeError:
        return {}
    ensure_merge_driver(root)
    return _catch_up(repo, remote, branch)


def ahead_of_remote(root: Path, remote: str = "origin") -> bool:
    """Does this clone hold commits its remote branch lacks (stranded by a failed push)?"""
    import git

    try:
        repo = git_repo(root)
        if not has_remote(root, remote) or not repo.head.is_valid():
            return False
        branch = repo.active_branch.name
        head = repo.head.commit.hexsha
        try:
            tracked = str(
                repo.git.execute(["git", "rev-parse", "--verify", "--quiet", f"refs/remotes/{remote}/{branch}"])
            )
        except git.GitCommandError:
            return True  # the remote branch is not known yet: the push creates it
        if tracked.strip() == head:
            return False
        counted = str(repo.git.execute(["git", "rev-list", "--count", f"{tracked.strip()}..{head}"]))
        return int(counted.strip() or "0") > 0
    except (GitError, TypeError, ValueError, git.GitCommandError):
        return False


def sync(root: Path, remote: str = "origin") -> str | None:
    """Catch up with the remote before a write (best effort), so a change is made on the latest record
    (a stale clone would otherwise inherit an old status, or publish an entry another clone already
    published). Skipped when tracked files have uncommitted changes; a failure is only returned, the
    write goes on locally and the push after it says what is wrong.
    """
    import git

    try:
        repo = git_repo(root)
        if not has_remote(root, remote) or repo.is_dirty(untracked_files=False):
            return None
        branch = repo.active_branch.name
    except (GitError, TypeError, ValueError, git.GitCommandError):
        return None
    ensure_merge_driver(root)
    try:
        _catch_up(repo, remote, branch)
    except PushError as exc:
        return str(exc)
    return None


def _push_failure(output: str) -> str:
    """The most telling line of a failed push (the ref line's reason, else git's last word)."""
    lines = [line.strip().replace("stderr: ", "").strip("'\" ") for line in output.splitlines() if line.strip()]
    for line in lines:
        if (line.startswith("!") and "\t" in line) or "rejected]" in line:
            return line.lstrip("! \t").split("\t")[-1]
    for line in lines:
        if "remote:" in line or "fatal:" in line or "error:" in line:
            return line
    return lines[-1] if lines else "push failed"


def _catch_up(repo: GitRepo, remote: str, branch: str) -> dict[str, str]:
    """Fetch and rebase onto the remote branch; a genuine conflict aborts and raises PushError."""
    import git

    try:
        repo.git.execute(["git", "fetch", "--quiet", remote, branch])
    except git.GitCommandError as exc:
        if "couldn't find remote ref" in str(exc.stderr):
            return {}  # the branch does not exist upstream yet; the push creates it
        raise PushError(
            f"could not fetch from {remote} ({_explain(exc, repo.git_dir)}); the change is committed locally"
        ) from None
    renamed = rename_clashing_records(repo, f"{remote}/{branch}")
    marker = Path(repo.git_dir) / REBASE_MARKER
    marker.write_text(f"{remote}/{branch}\n", encoding="utf-8")
    try:
        repo.git.execute(["git", *identity_args(repo), "rebase", "--quiet", "--autostash", f"{remote}/{branch}"])
    except git.GitCommandError as exc:
        details = _conflict_details(f"{exc.stdout or ''}\n{exc.stderr or ''}")
        try:
            repo.git.execute(["git", "rebase", "--abort"])
        except git.GitCommandError:
            pass
        raise PushError(
            f"could not rebase onto {remote}/{branch}: {details}\n"
            f"your change is committed locally; run `git pull --rebase {remote} {branch}`, resolve the conflict, "
            "then `git push` (or run the next incidentctl command)"
        ) from None
    finally:
        marker.unlink(missing_ok=True)
    return renamed


def rename_clashing_records(repo: GitRepo, upstream: str) -> dict[str, str]:
    """Two responders opened incidents with the same id: two records added on both sides with no
    common ancestor are two incidents. Before rebasing, the local record (added by our HEAD commit,
    not yet pushed) is renamed to the next free id (``-2``, ``-3``...; its ``id:`` too) and HEAD is
    amended, so the rebase never fuses them. Returns ``{old id: new id}``."""
    import git

    try:
        base = str(repo.git.execute(["git", "merge-base", "HEAD", upstream])).strip()
        ours = str(
            repo.git.execute(["git", "diff", "--name-only", "--diff-filter=A", base, "HEAD", "--", "incidents/"])
        )
        theirs = str(
            repo.git.execute(["git", "diff", "--name-only", "--diff-filter=A", base, upstream, "--", "incidents/"])
        )
        in_head = str(
            repo.git.execute(["git", "diff", "--name-only", "--diff-filter=A", "HEAD~1", "HEAD", "--", "incidents/"])
        )
    except git.GitCommandError:
        return {}
    clashes = sorted(set(ours.split()) & set(theirs.split()))
    if not clashes:
        return {}
    root = Path(repo.working_tree_dir or ".")
    upstream_names = set(str(repo.git.execute(["git", "ls-tree", "--name-only", upstream, "incidents/"])).split())
    renamed: dict[str, str] = {}
    for rel in clashes:
        if rel not in in_head.split() or not rel.endswith(".yaml"):
            continue  # added by an older local commit: left to the merge driver (rare; see README)
        old_id = Path(rel).stem
        counter = 2
        base_id = re.sub(r"-\d+$", "", old_id) if re.search(r"-\d+$", old_id) else old_id
        while True:
            candidate = f"{base_id}-{counter}"
            path = f"incidents/{candidate}.yaml"
            if path not in upstream_names and not (root / path).exists():
                break
            counter += 1
        _rewrite_id(root / rel, root / path, old_id, candidate)
        _run(repo, "add", "--", rel, path)
        renamed[old_id] = candidate
    if renamed:
        message = str(repo.git.execute(["git", "log", "-1", "--format=%B"])).strip()
        for old_id, new_id in renamed.items():
            message = message.replace(old_id, new_id)
        _run(repo, "commit", "--quiet", "--no-verify", "--amend", "-m", message)
    return renamed


def _rewrite_id(source: Path, target: Path, old_id: str, new_id: str) -> None:
    from .records.codec import rt_dump, rt_load

    document = rt_load(source.read_text(encoding="utf-8"), str(source))
    if isinstance(document, dict) and document.get("id") == old_id:
        document["id"] = new_id
    atomic_write(target, rt_dump(document))
    source.unlink()


def _conflict_details(output: str) -> str:
    lines = [line.strip() for line in output.splitlines()]
    ours = [
        line.removeprefix("incidentctl: ")
        for line in lines
        if line.startswith("incidentctl:") or line.startswith("timeline") or ": both sides" in line
    ]
    if ours:
        return "; ".join(ours)
    conflicts = [line for line in lines if line.startswith("CONFLICT")]
    return "; ".join(conflicts) or (lines[-1] if lines else "conflict")


# -- the merge driver and interrupted operations -------------------------------------------------------

MERGE_DRIVER_NAME = "incidentctl record merge"
ATTRIBUTES_LINE = "incidents/*.yaml merge=incidentctl"


def merge_driver_command() -> str:
    """The driver line for git config: this very interpreter, so it works from a venv not on PATH."""
    return f"{shlex.quote(sys.executable)} -m incidentctl merge-driver %O %A %B %P"


def register_merge_driver(root: Path) -> None:
    """Write the merge driver into the repo's git config (not tracked: every clone needs it)."""
    for key, value in (
        ("merge.incidentctl.name", MERGE_DRIVER_NAME),
        ("merge.incidentctl.driver", merge_driver_command()),
    ):
        subprocess.run(["git", "config", key, value], cwd=root, check=False, capture_output=True)


def _registered_driver(config_text: str) -> str | None:
    section = False
    for raw in config_text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line.replace(" ", "").lower() == '[merge"incidentctl"]'
        elif section and line.split("=", 1)[0].strip().lower() == "driver" and "=" in line:
            return line.split("=", 1)[1].strip()
    return None


def ensure_merge_driver(root: Path) -> bool:
    """Register the merge driver when this clone lacks it (a fresh clone has ``.gitattributes`` but
    no config) or when it names an interpreter that no longer exists. Cheap: reads two small files.

    Returns True when something was (re)registered.
    """
    git_dir = root / ".git"
    if not git_dir.is_dir():
        return False  # a worktree or no git at all: leave it to `git config`
    changed = False
    try:
        driver = _registered_driver((git_dir / "config").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return False
    interpreter = _interpreter_of(driver)
    if driver is None or "merge-driver" not in driver or interpreter is None or not Path(interpreter).exists():
        register_merge_driver(root)
        changed = True
    if not _has_attributes_line(root / ".gitattributes") and not _has_attributes_line(git_dir / "info" / "attributes"):
        # Repos made before the driver existed: a local, untracked attributes line is enough.
        attributes = git_dir / "info" / "attributes"
        attributes.parent.mkdir(parents=True, exist_ok=True)
        existing = attributes.read_text(encoding="utf-8") if attributes.exists() else ""
        atomic_write(
            attributes, existing + ("" if not existing or existing.endswith("\n") else "\n") + ATTRIBUTES_LINE + "\n"
        )
        changed = True
    return changed


def _interpreter_of(driver: str | None) -> str | None:
    if not driver:
        return None
    try:
        words = shlex.split(driver)
    except ValueError:
        return None
    return words[0] if words else None


def _has_attributes_line(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(line.split()[:2] == ATTRIBUTES_LINE.split() for line in text.splitlines() if line.strip())


def recover_interrupted(root: Path) -> None:
    """Before committing: undo a rebase an earlier, killed incidentctl left half done, and explain
    any other unfinished git operation instead of committing into the middle of it."""
    dirs = git_dirs(root)  # a linked worktree has its own git dir (index, MERGE_HEAD, rebase state)
    if dirs is None:
        return
    git_dir = dirs[0]
    index_lock = git_dir / "index.lock"
    if index_lock.exists():
        # Checked before the record is written, so a refused command changes nothing.
        raise GitError(
            f"git is locked by {index_lock}: another git command is running, or one was killed. "
            f"If no git command is running, remove that file (rm {shlex.quote(str(index_lock))}) and try again."
        )
    rebasing = (git_dir / "rebase-merge").exists() or (git_dir / "rebase-apply").exists()
    marker = git_dir / REBASE_MARKER
    if rebasing and marker.exists():
        # Ours: the local commits are safe in ORIG_HEAD's branch; aborting puts them back.
        result = subprocess.run(["git", "rebase", "--abort"], cwd=root, check=False, capture_output=True, text=True)
        if result.returncode != 0:
            raise GitError(
                f"an interrupted incidentctl push left a rebase in progress and `git rebase --abort` failed "
                f"({result.stderr.strip().splitlines()[-1] if result.stderr.strip() else 'no detail'}); run it by hand"
            )
        marker.unlink(missing_ok=True)
        return
    marker.unlink(missing_ok=True)
    if rebasing:
        raise GitError(
            f"a rebase is in progress in {root}: finish it (`git rebase --continue`) or abort it "
            "(`git rebase --abort`), then run the command again"
        )
    if (git_dir / "MERGE_HEAD").exists():
        raise GitError(
            f"a merge is in progress in {root}: finish it (`git commit`) or abort it (`git merge --abort`), "
            "then run the command again"
        )


def dirty_paths(root: Path) -> list[str]:
    """Paths with uncommitted changes (for messages only)."""
    repo = git_repo(root)
    return [line[3:] for line in str(repo.git.status("--porcelain")).splitlines() if line]

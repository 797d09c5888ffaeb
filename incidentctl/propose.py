"""``--propose``: a change committed on ``propose/<id>/<n>`` through git plumbing, for review.

The branch is based on the default branch's tip (``<remote>/<default>`` after a fetch when the remote
exists, else the local default branch). The change is made in a scratch folder inside the git dir
holding the base's ``incidentctl.yaml`` and ``incidents/``, then committed with ``hash-object``, a
private index (``GIT_INDEX_FILE``), ``write-tree``, ``commit-tree`` and ``update-ref``: the current
branch, the index and the working tree are never touched. Merging the branch into the default branch
is the approval; ``publish`` there sends the entry (SPEC "Review through git").
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .errors import GitError, PushError

#: Branch names of proposals: ``propose/<incident id>/<n>``.
BRANCH_PREFIX = "propose"


@dataclass
class Proposal:
    """What ``--propose`` made: the branch, its commit, and where to open the review."""

    branch: str
    commit: str
    base: str
    """The default branch it is based on (and is to be merged into)."""
    pushed_to: str | None = None
    """The remote the branch was pushed to (None: local only)."""
    compare_url: str | None = None
    push_error: str | None = None
    """The push failed: the branch is committed locally only (say so, exit 4)."""

    def notes(self, published: str = "nothing is published until it is merged into") -> list[str]:
        """What the CLI tells the user on stderr (the branch itself goes to stdout)."""
        where = f"pushed to {self.pushed_to}" if self.pushed_to else "local only: no remote"
        lines = [f"proposed on branch {self.branch} ({where}); {published} {self.base}"]
        if self.compare_url:
            lines.append(f"open the review: {self.compare_url}")
        return lines


def git(root: Path, *args: str, env: dict[str, str] | None = None, input_bytes: bytes | None = None) -> str:
    """Run git in ``root``; a failure is a :class:`GitError` with git's last line."""
    result = subprocess.run(
        ["git", *args],
        cwd=root,
        env={**os.environ, **(env or {})},
        input=input_bytes,
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        lines = [line for line in result.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
        raise GitError("git: " + (lines[-1].strip() if lines else f"{args[0]} failed"))
    return result.stdout.decode("utf-8", "replace").strip()


def _ok(root: Path, *args: str) -> str | None:
    try:
        return git(root, *args)
    except GitError:
        return None


def has_remote(root: Path, remote: str) -> bool:
    return remote in (_ok(root, "remote") or "").split()


def default_branch(root: Path, remote: str) -> str:
    """The default branch: the remote's HEAD when known, else ``main``/``master`` when present, else the
    current branch."""
    if has_remote(root, remote):
        symbolic = _ok(root, "symbolic-ref", "--quiet", f"refs/remotes/{remote}/HEAD")
        if symbolic:
            return symbolic.removeprefix(f"refs/remotes/{remote}/")
        listed = _ok(root, "ls-remote", "--symref", remote, "HEAD") or ""
        match = re.search(r"^ref: refs/heads/(\S+)\s+HEAD", listed, re.MULTILINE)
        if match:
            return match.group(1)
    for name in ("main", "master"):
        if _ok(root, "rev-parse", "--verify", "--quiet", f"refs/heads/{name}"):
            return name
    current = _ok(root, "symbolic-ref", "--quiet", "--short", "HEAD")
    if current:
        return current
    raise GitError("cannot tell the default branch (no main or master branch, HEAD detached)")


def current_branch(root: Path) -> str | None:
    return _ok(root, "symbolic-ref", "--quiet", "--short", "HEAD")


def on_default_branch(root: Path, remote: str) -> bool:
    """Is the checkout on the default branch (or not in git at all: then every write is "on" it)?"""
    if not (root / ".git").exists():
        return True
    current = current_branch(root)
    if current is None:
        return False
    try:
        return current == default_branch(root, remote)
    except GitError:
        return True


def base_commit(root: Path, remote: str) -> tuple[str, str]:
    """``(default branch, commit)`` a proposal is based on: the remote's tip after a fetch, else the local one."""
    branch = default_branch(root, remote)
    if has_remote(root, remote):
        try:
            git(root, "fetch", "--quiet", remote, f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}")
        except GitError as exc:
            raise GitError(f"--propose: could not fetch {branch} from {remote} ({exc})") from None
        sha = _ok(root, "rev-parse", "--verify", "--quiet", f"refs/remotes/{remote}/{branch}^{{commit}}")
        if sha:
            return branch, sha
    sha = _ok(root, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}")
    if not sha:
        raise GitError(f"--propose: the default branch {branch!r} has no commit yet")
    return branch, sha


def materialize(root: Path, commit: str, paths: tuple[str, ...] = ("incidentctl.yaml", "incidents")) -> Path:
    """A scratch folder (inside this checkout's git dir, never the work tree) holding ``paths`` as in ``commit``.

    Scratch left by an earlier, killed run is removed first (the caller holds the checkout's lock)."""
    scratch_root = Path(git(root, "rev-parse", "--absolute-git-dir")) / "incidentctl"
    scratch_root.mkdir(parents=True, exist_ok=True)
    for stale in scratch_root.glob("propose-*"):  # left by a killed run: the caller holds this checkout's lock
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="propose-", dir=scratch_root))
    present = [path for path in paths if _ok(root, "cat-file", "-e", f"{commit}:{path}") is not None]
    if present:
        data = subprocess.run(
            ["git", "archive", "--format=tar", commit, "--", *present], cwd=root, capture_output=True, check=False
        )
        if data.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            raise GitError("git: archive failed: " + data.stderr.decode("utf-8", "replace").strip()[-200:])
        with tarfile.open(fileobj=io.BytesIO(data.stdout)) as archive:
            archive.extractall(folder, filter="data")
    (folder / "incidents").mkdir(exist_ok=True)
    return folder


def _identity_env(root: Path) -> dict[str, str]:
    from .gitops import FALLBACK_IDENTITY

    env: dict[str, str] = {}
    name = _ok(root, "config", "user.name")
    email = _ok(root, "config", "user.email")
    if not name and "GIT_AUTHOR_NAME" not in os.environ:
        env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = FALLBACK_IDENTITY[0]
    if not email and "GIT_AUTHOR_EMAIL" not in os.environ:
        env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = FALLBACK_IDENTITY[1]
    return env


def proposer(root: Path) -> str:
    """Who proposes or bypasses: the git user (``user.name``, else the author from the environment), else ``$USER``."""
    name = _ok(root, "config", "user.name") or os.environ.get("GIT_AUTHOR_NAME")
    return (name or os.environ.get("USER") or os.environ.get("USERNAME") or "unknown").strip() or "unknown"


def _taken(root: Path, remote: str | None, prefix: str) -> set[str]:
    names = set((_ok(root, "for-each-ref", "--format=%(refname)", f"refs/heads/{prefix}/") or "").split())
    if remote:
        listed = _ok(root, "ls-remote", "--heads", remote, f"refs/heads/{prefix}/*") or ""
        names |= {line.split()[-1] for line in listed.splitlines() if line.split()}
    return {name.removeprefix("refs/heads/") for name in names}


def commit_proposal(
    root: Path,
    incident_id: str,
    files: dict[str, bytes],
    message: str,
    base_branch: str,
    base: str,
    remote: str,
) -> Proposal:
    """Commit ``files`` (repo-relative path → content) on top of ``base`` as ``propose/<id>/<n>`` (the first
    free ``n``), and push it when ``remote`` exists. Never touches HEAD, the index or the working tree."""
    blobs = {rel: git(root, "hash-object", "-w", "--stdin", input_bytes=data) for rel, data in files.items()}
    scratch_root = Path(git(root, "rev-parse", "--absolute-git-dir")) / "incidentctl"
    scratch_root.mkdir(parents=True, exist_ok=True)
    handle, index_name = tempfile.mkstemp(prefix="propose-", suffix=".index", dir=scratch_root)
    os.close(handle)
    index = Path(index_name)
    env = {"GIT_INDEX_FILE": str(index)}
    try:
        index.unlink()  # read-tree writes a fresh index there
        git(root, "read-tree", base, env=env)
        for rel, blob in blobs.items():
            git(root, "update-index", "--add", "--cacheinfo", f"100644,{blob},{rel}", env=env)
        tree = git(root, "write-tree", env=env)
    finally:
        index.unlink(missing_ok=True)
    commit = git(root, "commit-tree", tree, "-p", base, "-m", message, env=_identity_env(root))
    remote_name = remote if has_remote(root, remote) else None
    prefix = f"{BRANCH_PREFIX}/{incident_id}"
    taken = _taken(root, remote_name, prefix)
    number = 1
    last_error = ""
    for _ in range(20):
        while f"{prefix}/{number}" in taken:
            number += 1
        branch = f"{prefix}/{number}"
        try:
            # The empty old value: fails if the branch appeared meanwhile (another proposal at the same time).
            git(root, "update-ref", "-m", "incidentctl --propose", f"refs/heads/{branch}", commit, "")
        except GitError:
            taken.add(branch)
            continue
        proposal = Proposal(branch=branch, commit=commit, base=base_branch)
        if remote_name is None:
            return proposal
        try:
            git(root, "push", "--quiet", "--porcelain", remote_name, f"refs/heads/{branch}:refs/heads/{branch}")
        except GitError as exc:
            last_error = str(exc)
            if "reject" in last_error or "already exists" in last_error or "fetch first" in last_error:
                _ok(root, "update-ref", "-d", f"refs/heads/{branch}", commit)  # someone took that number: next one
                taken.add(branch)
                continue
            proposal.push_error = (
                f"--propose: branch {branch} is committed locally but the push to {remote_name} failed "
                f"({last_error}); push it with `git push {remote_name} {branch}`"
            )
            return proposal
        proposal.pushed_to = remote_name
        proposal.compare_url = compare_url(_ok(root, "remote", "get-url", remote_name) or "", base_branch, branch)
        return proposal
    raise PushError(f"--propose: could not create a proposal branch under {prefix}/ ({last_error or 'all taken'})")


_REMOTE_FORMS = (
    re.compile(r"^https?://(?:[^@/]+@)?(?P<host>[^/:]+)(?::\d+)?/(?P<path>.+?)(?:\.git)?/?$"),
    re.compile(r"^ssh://(?:[^@/]+@)?(?P<host>[^/:]+)(?::\d+)?/(?P<path>.+?)(?:\.git)?/?$"),
    re.compile(r"^(?:[^@/]+@)?(?P<host>[^/:]+):(?P<path>[^/].*?)(?:\.git)?/?$"),
)


def compare_url(remote_url: str, base: str, branch: str) -> str | None:
    """The page that opens a pull request (GitHub) or merge request (GitLab) for ``branch`` into ``base``;
    None for other hosts. Understands https, ``ssh://`` and scp-like (``git@host:owner/repo.git``) URLs."""
    for form in _REMOTE_FORMS:
        match = form.match(remote_url.strip())
        if match:
            host, path = match.group("host").lower(), match.group("path").strip("/")
            break
    else:
        return None
    if "github" in host:
        return f"https://{host}/{path}/compare/{quote(base)}...{quote(branch)}?expand=1"
    if "gitlab" in host:
        return (
            f"https://{host}/{path}/-/merge_requests/new?merge_request%5Bsource_branch%5D={quote(branch, safe='')}"
            f"&merge_request%5Btarget_branch%5D={quote(base, safe='')}"
        )
    return None

"""Writing the built site: the output folder (fresh staging folder or the live site), and the atomic swap.

A build never leaves a half-written site: a staged build is swapped in whole (``renameat2``
exchange where available), an in-place update replaces each file atomically.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import IncidentctlError
from ..records.cache import cache_dir

if TYPE_CHECKING:
    from ..store import Repo

#: Written into every built site so a later build knows the folder is ours to replace.
MARKER = ".incidentctl-site"


MARKER_TEXT = b"Built by incidentctl (site build). Every build replaces what this folder holds.\n"
BUILD_PREFIX = ".incidentctl-build-"


class Output:
    """Where pages go: a fresh staging folder, or the live site (each file replaced atomically)."""

    def __init__(self, root: Path, target: Path, *, in_place: bool) -> None:
        self.root = root
        self.target = target
        self.in_place = in_place
        self.made: set[Path] = set()
        self.staged: set[str] = set()
        """Folders of the staging tree made by :meth:`write` (strings: no Path object a page)."""

    def keep(self, path: str, existing: set[str]) -> bool:
        """Reuse the previous build's file: it stays (in place) or is hard-linked (staging)."""
        return path in existing if self.in_place else self.link(path)

    def link(self, path: str) -> bool:
        destination = self.root / path
        self._folder(destination.parent)
        return _link(self.target / path, destination)

    def write(self, path: str, data: bytes) -> None:
        if not self.in_place:
            # Thousands of pages: string paths, each folder made once.
            folder = path.rpartition("/")[0]
            if folder not in self.staged:
                self._folder(self.root / folder)
                self.staged.add(folder)
            _write_new(os.path.join(self.root, path), data)
            return
        destination = self.root / path
        self._folder(destination.parent)
        try:
            if destination.read_bytes() == data:
                return  # unchanged: no churn for web caches watching mtimes
        except OSError:
            pass
        temporary = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
        try:
            temporary.write_bytes(data)
            os.replace(temporary, destination)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def _folder(self, folder: Path) -> None:
        if folder not in self.made:
            folder.mkdir(parents=True, exist_ok=True)
            self.made.add(folder)


def _write_new(destination: Path | str, data: bytes) -> None:
    """``destination.write_bytes(data)`` without the buffered file object (thousands of pages)."""
    fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def listing(target: Path) -> set[str]:
    """Every file of the built site, relative to it."""
    found: set[str] = set()
    for folder, _, files in os.walk(target):
        relative = os.path.relpath(folder, target)
        prefix = "" if relative == "." else relative + "/"
        found.update(prefix + name for name in files)
    return found


def _link(source: Path, destination: Path) -> bool:
    """Reuse an unchanged file of the previous build (a hard link; a copy where links are refused)."""
    try:
        os.link(source, destination)
    except FileNotFoundError:
        return False
    except OSError:
        try:
            shutil.copyfile(source, destination)
        except OSError:
            return False
    return True


def check_target(repo: Repo, target: Path) -> None:
    """Refuse to replace a folder that is not a site we built (``--output ~`` must not wipe a home)."""
    root = repo.root.resolve()
    resolved = target.resolve()
    if resolved == root or resolved in root.parents:
        raise IncidentctlError(
            f"--output {target}: that would replace the incident repo itself; pick a subfolder such as site/"
        )
    for reserved in ("incidents", "templates", ".git", "postmortems"):
        if resolved == root / reserved:
            raise IncidentctlError(f"--output {target}: {reserved}/ belongs to the incident repo; pick another folder")
    if target.exists() and not target.is_dir():
        raise IncidentctlError(f"--output {target}: exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not (target / MARKER).is_file():
        raise IncidentctlError(
            f"--output {target}: the folder is not empty and was not built by incidentctl; "
            "choose an empty or new folder (a build replaces the whole folder)"
        )


def cache_folder(repo: Repo) -> Path:
    return cache_dir(repo.root)


@contextlib.contextmanager
def build_lock(repo: Repo) -> Iterator[None]:
    """One build at a time per repo (its own lock file: callers may hold the repo's write lock)."""
    folder = cache_folder(repo)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "site-build.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_stale_builds(target: Path) -> None:
    """Temp folders a killed build left behind (safe: we hold the build lock)."""
    prefix = BUILD_PREFIX + target.name + "-"
    for stale in target.parent.glob(prefix + "*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


_RENAME_EXCHANGE = 2


_AT_FDCWD = -100


def _exchange(first: Path, second: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False when unsupported."""
    import ctypes  # only a staged build swaps: a rebuild in place never loads ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    result = renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    return bool(result == 0)


def swap_in(staging: Path, target: Path) -> None:
    """Put ``staging`` at ``target``; the old site (if any) ends up in ``staging`` to be deleted."""
    if not target.exists():
        os.rename(staging, target)
        return
    if _exchange(staging, target):
        return
    # No atomic exchange here (macOS, some file systems): two renames, a gap of microseconds.
    old = staging.with_name(staging.name + "-old")
    os.rename(target, old)
    os.rename(staging, target)
    os.rename(old, staging)

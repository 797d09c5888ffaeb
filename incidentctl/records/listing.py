"""THE listing of ``incidents/``: every record's id and stat stamp in one ``scandir``.

The same id pattern and symlink rule everywhere (``Repo.ids``, the scan cache, the site cache,
shell completion): a record is ``<id>.yaml`` with a valid id, not hidden, and never a symbolic
link (a link could point out of the repo).
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Iterator
from pathlib import Path

from ..model import ID_PATTERN

#: ``(size, mtime_ns, ctime_ns, inode)``: changes whenever the file is rewritten or replaced.
Stamp = tuple[int, int, int, int]

RACY_NS = 3_000_000_000
"""A stamp this recent (ns) when a scan begins is not trusted by any cache (as git's "racily clean" index
entries): two writes within one clock tick can leave the same size, mtime and ctime."""


def record_entries(folder: Path) -> Iterator[tuple[str, os.DirEntry[str], os.stat_result]]:
    """``(id, entry, stat)`` of every record in ``folder``, in directory order: THE rule of what is a record."""
    try:
        listing = os.scandir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return
    match = ID_PATTERN.match
    with listing:
        for entry in listing:
            name = entry.name
            if not name.endswith(".yaml") or name.startswith("."):
                continue
            incident_id = name[:-5]
            if not match(incident_id) or entry.is_symlink():
                continue
            try:
                st = entry.stat()
            except OSError:
                continue
            yield incident_id, entry, st


def list_records(folder: Path) -> dict[str, Stamp]:
    """Every record in ``folder``: id → ``(size, mtime_ns, ctime_ns, inode)``, sorted by id (ids start with the
    date). The ctime and inode catch what size and mtime miss: an edit of the same size that puts the mtime
    back (``touch -r``), a checkout that replaces the file."""
    found = [
        (incident_id, (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
        for incident_id, _entry, st in record_entries(folder)
    ]
    found.sort()
    return dict(found)


def scan_stamps(folder: Path) -> tuple[list[str], array[int]]:
    """Every candidate record file in ``folder`` in directory order (``<name>.yaml``, not hidden, not a
    symbolic link; the id is *not* checked here), and four stamps each: ``size, mtime_ns, ctime_ns,
    inode``. The cheapest full listing: one ``fstatat`` per file relative to the open folder; the
    caller compares it with the last one as a whole (:mod:`incidentctl.records.summaries`)."""
    names: list[str] = []
    stamps: array[int] = array("q")
    if os.scandir not in os.supports_fd:  # (not POSIX)
        return _scan_stamps(folder, names, stamps)
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return names, stamps
    try:
        return _scan_stamps(fd, names, stamps)
    finally:
        os.close(fd)


def _scan_stamps(folder: Path | int, names: list[str], stamps: array[int]) -> tuple[list[str], array[int]]:
    add, extend = names.append, stamps.extend
    try:
        listing = os.scandir(folder)
    except OSError:
        return names, stamps
    with listing:
        for entry in listing:
            name = entry.name
            if name[-5:] != ".yaml" or name[0] == "." or entry.is_symlink():
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            add(name)
            extend((st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    return names, stamps

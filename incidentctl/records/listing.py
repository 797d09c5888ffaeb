"""THE listing of ``incidents/``: every record's id and stat stamp in one ``scandir``.

The same id pattern and symlink rule everywhere (``Repo.ids``, the scan cache, the site cache,
shell completion): a record is ``<id>.yaml`` with a valid id, not hidden, and never a symbolic
link (a link could point out of the repo).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..model import ID_PATTERN

#: ``(size, mtime_ns)``: changes whenever the file is rewritten.
Stamp = tuple[int, int]


def list_records(folder: Path) -> dict[str, Stamp]:
    """Every record in ``folder``: id → ``(size, mtime_ns)``, sorted by id (ids start with the date)."""
    found: list[tuple[str, Stamp]] = []
    try:
        listing = os.scandir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    with listing:
        for entry in listing:
            name = entry.name
            if not name.endswith(".yaml") or name.startswith("."):
                continue
            incident_id = name[:-5]
            if not ID_PATTERN.match(incident_id) or entry.is_symlink():
                continue
            try:
                st = entry.stat()
            except OSError:
                continue
            found.append((incident_id, (st.st_size, st.st_mtime_ns)))
    found.sort()
    return dict(found)

"""A read cache for scans: validated incidents keyed by file name, size and mtime.

It lives in ``.git/incidentctl/`` (or ``.incidentctl-cache/`` outside git), never in tracked files,
and is safe to delete at any time: a missing or unreadable cache just means a cold scan.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import RecordError
from .yamlio import atomic_write_bytes

if TYPE_CHECKING:
    from .model import Incident
    from .store import Repo

CACHE_VERSION = 1
_Key = tuple[int, int]


def cache_path(root: Path) -> Path:
    git_dir = root / ".git"
    if git_dir.is_dir():
        return git_dir / "incidentctl" / "scan-cache.pickle"
    return root / ".incidentctl-cache" / "scan-cache.pickle"


def _stat_key(path: Path) -> _Key | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def load_all(repo: Repo, *, skip_invalid: bool = False) -> list[Incident]:
    from .store import record_problems

    path = cache_path(repo.root)
    config_key = _stat_key(repo.config_path)
    cached: dict[str, tuple[_Key, Incident]] = {}
    try:
        with open(path, "rb") as handle:
            version, stored_config_key, entries = pickle.load(handle)  # noqa: S301 - our own file in .git
        if version == CACHE_VERSION and stored_config_key == config_key:
            cached = entries
    except Exception:  # noqa: BLE001 - any broken cache is just a cold start
        cached = {}

    fresh: dict[str, tuple[_Key, Incident]] = {}
    incidents: list[Incident] = []
    problems: list[str] = []
    changed = False
    folder = repo.incidents_dir
    for incident_id in repo.ids():
        file = folder / f"{incident_id}.yaml"
        key = _stat_key(file)
        if key is None:
            continue
        hit = cached.get(incident_id)
        if hit is not None and hit[0] == key:
            incident = hit[1]
        else:
            changed = True
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(f"{repo.relpath(file)}:1: cannot read: {exc}")
                continue
            parsed, found = record_problems(text, repo.relpath(file), repo.config, incident_id)
            if parsed is None:
                problems.extend(found)
                continue
            incident = parsed
        fresh[incident_id] = (key, incident)
        incidents.append(incident)
    if problems and not skip_invalid:
        raise RecordError("\n".join(problems) + "\n(run `incidentctl lint` to see every problem)")
    if changed or len(fresh) != len(cached):
        try:
            atomic_write_bytes(path, pickle.dumps((CACHE_VERSION, config_key, fresh), protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:
            pass  # a read-only checkout still works, just without the cache
    incidents.sort(key=lambda incident: (incident.started_at, incident.id))
    return incidents


def clear(root: Path) -> None:
    try:
        os.unlink(cache_path(root))
    except FileNotFoundError:
        pass

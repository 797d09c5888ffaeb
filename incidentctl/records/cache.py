"""Read caches for scans, keyed by file name, size, mtime, ctime and inode.

Two caches live in ``.git/incidentctl/`` (or ``.incidentctl-cache/`` outside git), never in tracked
files, and are safe to delete at any time (a missing or unreadable cache just means a cold scan):

- ``summaries``: the few fields ``list`` shows, so a warm ``list`` reads one small file instead of
  every record;
- ``records``: each record's parsed data, so a warm full scan (site, stats, remind) validates
  without parsing YAML again.

Every record is validated on every load either way. A cold scan of many files parses them in two
processes (:func:`incidentctl.records.parallel.parallel_map`): YAML parsing is the cost, and it is CPU-bound.

:func:`cache_dir` is THE place of every cache (scans, the site's, compiled templates, the build lock).
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RecordError
from .codec import atomic_write_bytes
from .listing import RACY_NS, list_records
from .parallel import parallel_map
from .validate import check_file_parsed, validate_record

if TYPE_CHECKING:
    from ..model import Incident
    from ..store import Repo
    from .summaries import SummaryRows

CACHE_VERSION = 4
#: Below this many files to parse, a second process costs more than it saves.
PARALLEL_THRESHOLD = 400
_Key = tuple[int, ...]


def cache_dir(root: Path) -> Path:
    """THE cache folder: ``.git/incidentctl/`` (never tracked), or ``.incidentctl-cache/`` outside git."""
    git_dir = root / ".git"
    return git_dir / "incidentctl" if git_dir.is_dir() else root / ".incidentctl-cache"


def cache_path(root: Path, kind: str = "records") -> Path:
    if kind == "summaries":  # list's own format: records.summaries
        return cache_dir(root) / "scan-summaries.bin"
    return cache_dir(root) / f"scan-{kind}.pickle"


def _stat_key(path: Path) -> _Key | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _read(path: Path, config_key: _Key | None) -> dict[str, tuple[_Key, Any]]:
    try:
        with open(path, "rb") as handle:
            version, stored_config_key, entries = pickle.load(handle)  # noqa: S301 - our own file in .git
    except Exception:  # noqa: BLE001 - any broken cache is just a cold start
        return {}
    if version != CACHE_VERSION or stored_config_key != config_key or not isinstance(entries, dict):
        return {}
    return entries


def _write(path: Path, config_key: _Key | None, entries: dict[str, tuple[_Key, Any]]) -> None:
    try:
        atomic_write_bytes(path, pickle.dumps((CACHE_VERSION, config_key, entries), protocol=pickle.HIGHEST_PROTOCOL))
    except OSError:
        pass  # a read-only checkout still works, just without the cache


# -- parsing --------------------------------------------------------------------------------------

#: What a parser returns per record: ``(id, incident or None, stored value, problems)``.
_Parsed = tuple[str, "Incident | None", Any, list[str]]


def _parse_files(repo: Repo, ids: Sequence[str], summaries_only: bool) -> list[_Parsed]:
    """Parse and validate records through THE record check
    (:func:`incidentctl.records.validate.check_file`): the same wording as every other reader."""
    out: list[_Parsed] = []
    folder = repo.incidents_dir
    for incident_id in ids:
        rel = f"incidents/{incident_id}.yaml"
        incident, data, problems = check_file_parsed(folder / f"{incident_id}.yaml", rel, repo.config, incident_id)
        if incident is None:
            out.append((incident_id, None, None, problems))
        elif summaries_only:
            out.append((incident_id, None, incident.summary_dict(), []))  # the model is not kept
        else:
            out.append((incident_id, incident, data, []))
    return out


def _parse_many(repo: Repo, ids: list[str], summaries_only: bool) -> list[_Parsed]:
    """Parse ``ids``; with many files, half of them in a forked second process (YAML parsing is
    CPU-bound and the machine has cores to spare)."""
    parent = os.getpid()

    def work(share: Sequence[str]) -> list[_Parsed]:
        parsed = _parse_files(repo, share, summaries_only)
        if os.getpid() == parent:
            return parsed
        # In the child: models stay here, the parent rebuilds them from the data (cheaper than pickling models).
        return [(i, None, value, problems) for i, _, value, problems in parsed]

    workers = 2 if (os.cpu_count() or 1) >= 2 else 1
    shares = parallel_map(work, ids, workers=workers, minimum=PARALLEL_THRESHOLD)
    out = shares[0]
    for theirs in shares[1:]:
        for incident_id, incident, data, problems in theirs:
            rebuilt = incident
            if rebuilt is None and data is not None and not summaries_only:
                # Rebuild the child's models from its data (validation is cheap next to parsing).
                rebuilt = _validate(repo, incident_id, data)[0]
            out.append((incident_id, rebuilt, data, problems))
    return out


def _validate(repo: Repo, incident_id: str, data: Any) -> tuple[Incident | None, list[str]]:
    return validate_record(
        data, f"incidents/{incident_id}.yaml", repo.config, incident_id, text_loader=_text_of(repo, incident_id)
    )


def _text_of(repo: Repo, incident_id: str) -> Callable[[], str]:
    """Errors need line numbers: read the text again only when a record is invalid."""
    return lambda: (repo.incidents_dir / f"{incident_id}.yaml").read_text(encoding="utf-8", errors="replace")


def _scan(
    repo: Repo,
    kind: str,
    from_cached: Callable[[str, Any], tuple[Any, list[str]]] | None,
    skip_invalid: bool,
    collect: list[str] | None = None,
) -> list[Any]:
    """The shared scan: reuse cached values whose file is unchanged, parse and validate the rest.

    ``kind`` is ``summaries`` (values are summary dicts, used as cached) or ``records`` (values
    are parsed data; ``from_cached`` turns them back into validated incidents).
    """
    summaries_only = kind == "summaries"
    with _no_gc():
        return _scan_files(repo, kind, from_cached, skip_invalid, summaries_only, collect)


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Bulk loading makes millions of objects and no garbage cycles: the cyclic collector would
    rescan the growing heap again and again for nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _scan_files(
    repo: Repo,
    kind: str,
    from_cached: Callable[[str, Any], tuple[Any, list[str]]] | None,
    skip_invalid: bool,
    summaries_only: bool,
    collect: list[str] | None,
) -> list[Any]:
    path = cache_path(repo.root, kind)
    racy_after = time.time_ns() - RACY_NS
    config_key = _stat_key(repo.config_path)
    if config_key is not None and max(config_key[1], config_key[2]) >= racy_after:
        config_key = None  # a config edited just now: no cache is trusted or kept under it
    cached = _read(path, config_key)
    keys = list_records(repo.incidents_dir)
    fresh: dict[str, tuple[_Key, Any]] = {}
    values: dict[str, Any] = {}
    problems: list[str] = []
    stale = []
    for incident_id, key in keys.items():
        hit = cached.get(incident_id)
        if hit is not None and hit[0] == key:
            if from_cached is None:
                values[incident_id] = hit[1]
                fresh[incident_id] = hit
                continue
            value, found = from_cached(incident_id, hit[1])
            if not found:
                values[incident_id] = value
                fresh[incident_id] = hit
                continue
        stale.append(incident_id)
    for incident_id, incident, stored, found in _parse_many(repo, stale, summaries_only):
        if found:
            problems.extend(found)
            continue
        key = keys[incident_id]
        fresh[incident_id] = (key if max(key[1], key[2]) < racy_after else (), stored)  # () never matches
        values[incident_id] = stored if summaries_only else incident
    if collect is not None:
        collect.extend(problems)
    if problems and not skip_invalid:
        raise RecordError("\n".join(problems) + "\n(run `incidentctl lint` to see every problem)")
    if stale or len(fresh) != len(cached):
        _write(path, config_key, fresh)
    return [values[incident_id] for incident_id in keys if incident_id in values]


def load_all(repo: Repo, *, skip_invalid: bool = False, problems: list[str] | None = None) -> list[Incident]:
    """Every valid incident, oldest first (see :meth:`incidentctl.store.Repo.scan`); the problems of
    the invalid ones are added to ``problems`` when given."""

    def revalidate(incident_id: str, data: Any) -> tuple[Incident | None, list[str]]:
        return _validate(repo, incident_id, data)

    incidents: list[Incident] = _scan(repo, "records", revalidate, skip_invalid, problems)
    incidents.sort(key=lambda incident: (incident.started_at, incident.id))
    return incidents


def summary_rows(repo: Repo) -> SummaryRows:
    """``list``'s view of every valid incident, newest first, as JSON encoded once
    (:mod:`incidentctl.records.summaries`); the invalid records' problems in ``.problems``."""
    from .summaries import summary_rows as load

    with _no_gc():
        return load(repo, cache_path(repo.root, "summaries"))


def summaries(repo: Repo, *, skip_invalid: bool = False, problems: list[str] | None = None) -> list[dict[str, Any]]:
    """``list``'s view of every valid incident (``Incident.summary_dict()``), oldest first."""
    with summary_rows(repo) as rows:
        found = rows.problems
        if found and not skip_invalid:
            raise RecordError("\n".join(found) + "\n(run `incidentctl lint` to see every problem)")
        if problems is not None:
            problems.extend(found)
        return rows.dicts([(0, len(rows))] if len(rows) else [])[::-1]


def clear(root: Path) -> None:
    for path in (cache_path(root, "records"), cache_path(root, "summaries"), cache_dir(root) / "scan-summaries.pickle"):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

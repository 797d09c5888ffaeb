"""The site's own read cache: one small summary per incident record, and a forked helper process.

A rebuild after one ``update`` must not load and make public 10,000 records. The cache keeps, per
record, the :class:`~incidentctl.site.summary.IncidentView` summary (plain tuples of ints and strings,
fast to unpickle) keyed like the scan cache: file name, size and mtime. It also keeps the full
public record of the few incidents the shared pages render in full (open ones, the newest, those
with the newest updates). It lives in ``.git/incidentctl/`` (never tracked) and is safe to delete:
a missing or unreadable cache only means every record is read again.
"""

from __future__ import annotations

import heapq
import os
import pickle
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import IncidentctlError, RecordError
from ..yamlio import atomic_write_bytes
from .summary import IncidentView, describe_incident, is_published, public_record

if TYPE_CHECKING:
    from ..config import Config
    from ..store import Repo

CACHE_VERSION = 1
CACHE_NAME = "site-records.pickle"
#: How many of the newest incidents (by last update, and by start) keep their full record cached:
#: the feed's 200 newest updates come from at most 200 incidents; the API lists the newest 50.
HOT_BY_LAST = 200
HOT_BY_START = 50
#: Below this many records to read or render, a helper process costs more than it saves.
PARALLEL_MIN = 200
#: The same for archive pages of the history (each lists ``history_page_size`` incidents).
PARALLEL_MIN_PAGES = 16

T = TypeVar("T")
R = TypeVar("R")


def record_stamps(repo: Repo) -> dict[str, str]:
    """Every record's id → ``id:size:mtime_ns``, sorted by id (the records ``Repo.ids`` lists).

    One ``scandir`` pass: the type of each entry comes with the listing, so only ``stat`` is a call.
    """
    from ..model import ID_PATTERN

    stamps: list[tuple[str, str]] = []
    try:
        listing = os.scandir(repo.incidents_dir)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    with listing:
        for entry in listing:
            name = entry.name
            if not name.endswith(".yaml") or name.startswith("."):
                continue
            incident_id = name[:-5]
            if not ID_PATTERN.match(incident_id) or entry.is_symlink():  # never a link out of the repo
                continue
            try:
                st = entry.stat()
            except OSError:
                continue
            stamps.append((incident_id, f"{incident_id}:{st.st_size}:{st.st_mtime_ns}"))
    stamps.sort()
    return dict(stamps)


@dataclass
class SummaryCache:
    """What a previous build learnt: ``summaries[id] = (stamp, view tuple or None if unpublished)``."""

    fingerprint: str
    summaries: dict[str, tuple[str, tuple[Any, ...] | None]] = field(default_factory=dict)
    records: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    """Full public records (pickled) of the hot incidents: id → (stamp, bytes)."""


def cache_file(folder: Path) -> Path:
    return folder / CACHE_NAME


def load_cache(folder: Path, fingerprint: str) -> SummaryCache:
    try:
        with open(cache_file(folder), "rb") as handle:
            version, stored, summaries, records = pickle.load(handle)  # noqa: S301 - our own file in .git
    except Exception:  # noqa: BLE001 - any broken cache is just a cold start
        return SummaryCache(fingerprint)
    if version != CACHE_VERSION or stored != fingerprint:
        return SummaryCache(fingerprint)
    return SummaryCache(fingerprint, summaries, records)


def save_cache(folder: Path, cache: SummaryCache) -> None:
    data = pickle.dumps(
        (CACHE_VERSION, cache.fingerprint, cache.summaries, cache.records), protocol=pickle.HIGHEST_PROTOCOL
    )
    try:
        atomic_write_bytes(cache_file(folder), data)
    except OSError:
        pass  # a read-only checkout still builds, just without the cache


def read_incident(repo: Repo, incident_id: str, problems: list[str]) -> Any:
    """Load and validate one record like the scan does; problems are collected, not raised."""
    from ..store import record_problems

    path = repo.incidents_dir / f"{incident_id}.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{repo.relpath(path)}:1: cannot read: {exc}")
        return None
    incident, found = record_problems(text, repo.relpath(path), repo.config, incident_id)
    problems.extend(found)
    return incident


def raise_problems(problems: list[str]) -> None:
    if problems:
        raise RecordError("\n".join(problems) + "\n(run `incidentctl lint` to see every problem)")


def summarize(config: Config, incident: Any, stamp: str) -> tuple[IncidentView, dict[str, Any]] | None:
    """The summary and the full public record of a valid incident (None: nothing public yet)."""
    if not is_published(incident):
        return None
    public = incident.public_view()
    return describe_incident(config, public, stamp), public_record(public)


class HotRecords:
    """Keeps the full records of the newest incidents seen (by last update and by start) and open ones.

    Feed records newest first and few are pickled: an older one rarely displaces a kept one.
    """

    def __init__(self) -> None:
        self.by_last: list[tuple[tuple[int, str], str]] = []
        self.by_start: list[tuple[tuple[int, str], str]] = []
        self.kept: dict[str, tuple[str, bytes]] = {}
        self.open: set[str] = set()

    def offer(self, view: IncidentView, record: dict[str, Any] | bytes) -> None:
        wanted = view.is_open
        for heap, size, key in (
            (self.by_last, HOT_BY_LAST, (view.last, view.id)),
            (self.by_start, HOT_BY_START, (view.started, view.id)),
        ):
            if len(heap) < size:
                heapq.heappush(heap, (key, view.id))
                wanted = True
            elif key > heap[0][0]:
                heapq.heapreplace(heap, (key, view.id))
                wanted = True
        if view.is_open:
            self.open.add(view.id)
        if wanted and view.id not in self.kept:
            blob = record if isinstance(record, bytes) else pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
            self.kept[view.id] = (view.stamp, blob)

    def wanted_ids(self) -> set[str]:
        return {incident_id for _, incident_id in self.by_last} | {i for _, i in self.by_start} | self.open

    def result(self) -> dict[str, tuple[str, bytes]]:
        wanted = self.wanted_ids()
        return {incident_id: kept for incident_id, kept in self.kept.items() if incident_id in wanted}


def parallel_map(
    work: Callable[[Sequence[T]], R], items: Sequence[T], workers: int = 2, minimum: int | None = None
) -> list[R]:
    """``work`` over ``items`` split in ``workers`` interleaved shares, one in this process and the
    others in forked children; the results come back in share order (so output never depends on timing).

    Fork, not a pool: the children inherit the loaded config, templates and caches for free, and
    each share is one round trip. A child's exception is raised here.
    """
    if workers < 2 or len(items) < (PARALLEL_MIN if minimum is None else minimum) or not hasattr(os, "fork"):
        return [work(items)]
    shares = [items[start::workers] for start in range(workers)]
    children: list[tuple[int, int]] = []
    try:
        for share in shares[1:]:
            children.append(_fork(work, share))
        results = [work(shares[0])]
        while children:
            pid, fd = children.pop(0)
            results.append(_collect(pid, fd))
        return results
    finally:
        for pid, fd in children:  # this process failed first: stop and reap the helpers
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            os.close(fd)


def _fork(work: Callable[[Sequence[T]], R], share: Sequence[T]) -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 0
        try:
            os.close(read_fd)
            try:
                payload = pickle.dumps((True, work(share)), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as exc:  # noqa: BLE001 - handed to the parent to raise
                payload = _pickled_error(exc)
            with os.fdopen(write_fd, "wb") as handle:
                handle.write(payload)
        except BaseException:  # noqa: BLE001 - the parent reports a child that died without a result
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    return pid, read_fd


def _pickled_error(exc: BaseException) -> bytes:
    try:
        return pickle.dumps((False, exc), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - an exception that cannot be pickled still gets its message across
        return pickle.dumps((False, IncidentctlError(f"{type(exc).__name__}: {exc}")))


def _collect(pid: int, fd: int) -> Any:
    with os.fdopen(fd, "rb") as handle:
        data = handle.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        raise IncidentctlError(f"site build: the helper process stopped without a result (status {status})")
    ok, value = pickle.loads(data)  # noqa: S301 - from our own child process
    if not ok:
        raise value
    return value

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
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..records.codec import atomic_write_bytes
from ..records.listing import list_records
from ..records.parallel import parallel_map as parallel_map  # the build's: THE one parallel map
from ..records.validate import check_file
from .summary import IncidentView, describe_incident, is_published, public_record

if TYPE_CHECKING:
    from ..config import Config
    from ..model import Incident
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


def record_stamps(repo: Repo) -> dict[str, str]:
    """Every record's id → ``id:size:mtime_ns``, sorted by id (THE listing: :func:`list_records`)."""
    return {
        incident_id: f"{incident_id}:{size}:{mtime}"
        for incident_id, (size, mtime) in list_records(repo.incidents_dir).items()
    }


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
    """Load and validate one record like every reader does; problems are collected, not raised."""
    path = repo.incidents_dir / f"{incident_id}.yaml"
    incident, found = check_file(path, repo.relpath(path), repo.config, incident_id)
    problems.extend(found)
    return incident


def raise_problems(problems: list[str]) -> None:
    """Name each invalid record on stderr; the build goes on with every valid one (SPEC: one
    invalid record never blocks the others)."""
    import sys

    for problem in dict.fromkeys(problems):
        print(problem, file=sys.stderr)


def summarize(config: Config, incident: Any, stamp: str) -> tuple[IncidentView, dict[str, Any]] | None:
    """The summary and the full public record of a valid incident (None: nothing public yet)."""
    if not is_published(incident):
        return None
    public = _public_view(incident)
    return describe_incident(config, public, stamp), public_record(public)


def _public_view(incident: Incident) -> Incident:
    """``incident.public_view()`` for the two readers above, without a copy of every entry.

    ``public_view`` copies each public entry to drop its deliveries; ``describe_incident`` never
    reads deliveries and ``public_record`` writes ``deliveries: {}`` itself, so the entries are
    shared with ``incident`` (read, never changed) and the view is dropped after use. The rest is
    ``public_view``'s: internal entries out, a private postmortem and the reminders too. Only for a
    published incident (at least one public entry).
    """
    entries = [entry for entry in incident.timeline if entry.public]
    postmortem = incident.postmortem if incident.postmortem and incident.postmortem.public else None
    return incident.model_copy(update={"timeline": entries, "postmortem": postmortem, "reminders": None})


class HotRecords:
    """Keeps the full records of the newest incidents seen (by last update and by start), open ones and
    maintenances (the calendar and the maintenance API render every one).

    Feed records newest first and few are pickled: an older one rarely displaces a kept one.
    """

    def __init__(self) -> None:
        self.by_last: list[tuple[tuple[int, str], str]] = []
        self.by_start: list[tuple[tuple[int, str], str]] = []
        self.kept: dict[str, tuple[str, bytes]] = {}
        self.open: set[str] = set()

    def offer(self, view: IncidentView, record: dict[str, Any] | bytes) -> None:
        always = view.is_open or view.is_maintenance  # the shared pages render these in full
        wanted = always
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
        if always:
            self.open.add(view.id)
        if wanted and view.id not in self.kept:
            blob = record if isinstance(record, bytes) else pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
            self.kept[view.id] = (view.stamp, blob)

    def wanted_ids(self) -> set[str]:
        return {incident_id for _, incident_id in self.by_last} | {i for _, i in self.by_start} | self.open

    def result(self) -> dict[str, tuple[str, bytes]]:
        wanted = self.wanted_ids()
        return {incident_id: kept for incident_id, kept in self.kept.items() if incident_id in wanted}

"""The site's own read cache: one small summary per incident record, and a forked helper process.

A rebuild after one ``update`` must not load and make public 10,000 records. The cache keeps, per
record, the :class:`~incidentctl.site.summary.IncidentView` summary (plain tuples of ints and strings)
keyed by the record's stamp (:func:`record_stamps`: file name, size, mtime and ctime, plus a digest of
the bytes for a record written in the clock tick of the last listing). It also keeps the full public
record of the few incidents the shared pages render in full (open ones, the newest, those with the
newest updates). On disk: :mod:`.summarystore`, in ``.git/incidentctl/`` (never tracked), safe to
delete: a missing or unreadable cache only means every record is read again.
"""

from __future__ import annotations

import hashlib
import heapq
import os
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..records.listing import RACY_NS as RACY_NS  # a record changed this close to the listing: digested
from ..records.parallel import parallel_map as parallel_map  # the build's: THE one parallel map
from ..records.validate import check_file
from ..store import INCIDENTS_DIR
from . import summarystore
from .summary import IncidentView, describe_incident, is_published, public_record

if TYPE_CHECKING:
    from ..config import Config
    from ..model import Incident
    from ..store import Repo

#: How many of the newest incidents (by last update, and by start) keep their full record cached:
#: the feed's 200 newest updates come from at most 200 incidents; the API lists the newest 50.
HOT_BY_LAST = 200
HOT_BY_START = 50
#: Below this many records to read or render, a helper process costs more than it saves.
PARALLEL_MIN = 200
#: The same for archive pages of the history (each lists ``history_page_size`` incidents).
PARALLEL_MIN_PAGES = 16
Racy = dict[str, tuple[str, str, str]]
"""Records whose times alone could miss a change: id → (times stamp, digest of the bytes, stamp used)."""


def record_stamps(repo: Repo, racy: Racy | None = None) -> tuple[dict[str, str], Racy]:
    """Every record's id → its stamp, sorted by id: ``id:size:mtime_ns:ctime_ns``; and the racy ones.

    The same records as THE listing (:func:`~incidentctl.records.listing.list_records`: same id
    pattern, no hidden files, no symbolic links). The ctime is in the stamp because no tool can
    set it: an edit that keeps the size and puts the mtime back (``touch -r``, some editors and
    sync tools) still changes it, and so does a checkout.

    A second write in the same clock tick as the listing changes none of the times. So a record
    whose mtime or ctime is within :data:`RACY_NS` of now has its bytes digested (before anything
    parses them) and kept in ``racy`` for the next build; there, a record with the same times but
    another digest gets the stamp ``<times>#<digest>``: a new stamp, so it is read and rendered again.
    """
    import time

    from ..records.listing import record_entries

    known = racy or {}
    racy_now: Racy = {}
    racy_after = time.time_ns() - RACY_NS
    found: list[tuple[str, str]] = []
    for incident_id, entry, st in record_entries(repo.incidents_dir):
        stamp = times = f"{incident_id}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"
        seen = known.get(incident_id)
        recheck = seen is not None and seen[0] == times
        if recheck or st.st_ctime_ns >= racy_after or st.st_mtime_ns >= racy_after:
            digest = _content_digest(entry.path)
            if seen is not None and recheck:
                stamp = seen[2] if seen[1] == digest else f"{times}#{digest}"
            if stamp != times or st.st_ctime_ns >= racy_after or st.st_mtime_ns >= racy_after:
                racy_now[incident_id] = (times, digest, stamp)
        found.append((incident_id, stamp))
    found.sort()
    return dict(found), racy_now


def _content_digest(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            return hashlib.blake2b(handle.read(), digest_size=16).hexdigest()
    except OSError:
        return "unreadable"


def cache_file(folder: Path) -> Path:
    """The site cache's base file (:mod:`.summarystore`: its rows, loaded and saved there)."""
    return folder / summarystore.BASE_NAME


def read_incident(repo: Repo, incident_id: str, problems: list[str]) -> Any:
    """Load and validate one record like every reader does; problems are collected, not raised."""
    # Plain strings (``repo.incidents_dir / name`` and ``repo.relpath``: the same text, two Path objects a record).
    name = f"{INCIDENTS_DIR}/{incident_id}.yaml"
    incident, found = check_file(os.path.join(repo.root, name), name, repo.config, incident_id)
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

"""What a rebuild keeps of the shared view between builds, so it touches only the changed records.

A rebuild after one ``update`` changes one summary among thousands. The shared pages need every
summary in two orders (by start: the history; by last update: the feeds), each component's
incidents (its feed), the components the incidents name, each component's latest update, and the
few incidents that can still change a figure now (open ones, maintenances, those inside the bars'
window: :func:`.view.is_live`). :class:`SharedState` keeps exactly that, as record ids, and is
brought up to date by removing each changed record's old summary and inserting its new one
(:meth:`SharedState.apply`); the summaries themselves stay encoded (:class:`ViewTable`) until a
page needs one. When in doubt (no state, the clock moved back past the window the state was made
for, an order not as expected) the state is made afresh from every summary: the same result.
"""

from __future__ import annotations

import bisect
import marshal
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

from .summary import IncidentView
from .view import is_live

#: The version of :meth:`SharedState.to_data`'s layout (a different one is made afresh).
STATE_VERSION = 1


def encode(view: IncidentView) -> bytes:
    """A summary's cached bytes (decoded by :func:`decode` only when a page needs it). The first
    byte says whether its page's key names ``now`` (:func:`is_timely`), read without decoding."""
    return (b"\x01" if is_timely(view) else b"\x00") + marshal.dumps(view.to_tuple(), 4)


def decode(blob: bytes, stamp: str) -> IncidentView:
    return IncidentView.from_tuple(marshal.loads(memoryview(blob)[1:]), stamp)  # noqa: S302 - our own cache


def is_timely(view: IncidentView) -> bool:
    """Does the page's key name ``now``? An open incident's and a maintenance's do (see
    :meth:`.incremental.Job.page_key`); every other page's key is its record's stamp alone."""
    return view.is_open or view.kind == "maintenance"


def timely(blob: bytes) -> bool:
    """:func:`is_timely` of an encoded summary."""
    return blob[0] == 1


class ViewTable:
    """Every published record's summary by id: cached bytes decoded on first use, or made this build."""

    def __init__(self, blobs: dict[str, tuple[str, bytes]] | None = None) -> None:
        self.blobs: dict[str, tuple[str, bytes]] = blobs if blobs is not None else {}
        """id → (stamp, encoded summary) of the cached summaries still valid."""
        self.made: dict[str, IncidentView] = {}

    def __len__(self) -> int:
        return len(self.blobs) + sum(1 for incident_id in self.made if incident_id not in self.blobs)

    def __contains__(self, incident_id: object) -> bool:
        return incident_id in self.made or incident_id in self.blobs

    def get(self, incident_id: str, default: IncidentView | None = None) -> IncidentView | None:
        view = self.made.get(incident_id)
        if view is None:
            row = self.blobs.get(incident_id)
            if row is None:
                return default
            view = decode(row[1], row[0])
            self.made[incident_id] = view
        return view

    def __getitem__(self, incident_id: str) -> IncidentView:
        view = self.get(incident_id)
        if view is None:
            raise KeyError(incident_id)
        return view

    def __setitem__(self, incident_id: str, view: IncidentView) -> None:
        self.made[incident_id] = view
        self.blobs.pop(incident_id, None)

    def pop(self, incident_id: str, default: IncidentView | None = None) -> IncidentView | None:
        view = self.get(incident_id, default)
        self.made.pop(incident_id, None)
        self.blobs.pop(incident_id, None)
        return view

    def ids(self) -> Iterator[str]:
        yield from self.blobs
        yield from (incident_id for incident_id in self.made if incident_id not in self.blobs)

    def values(self) -> list[IncidentView]:
        """Every summary (each decoded: the full computation only)."""
        return [self[incident_id] for incident_id in self.ids()]

    def stamp(self, incident_id: str) -> str:
        view = self.made.get(incident_id)
        return view.stamp if view is not None else self.blobs[incident_id][0]

    def blob(self, incident_id: str) -> bytes:
        row = self.blobs.get(incident_id)
        return row[1] if row is not None else encode(self.made[incident_id])


class Ordered(Sequence[IncidentView]):
    """Summaries in a given order of ids, each decoded only when read."""

    def __init__(self, ids: list[str], table: ViewTable) -> None:
        self.ids = ids
        self.table = table

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> IncidentView: ...

    @overload
    def __getitem__(self, index: slice) -> Ordered: ...

    def __getitem__(self, index: int | slice) -> IncidentView | Ordered:
        if isinstance(index, slice):
            return Ordered(self.ids[index], self.table)
        return self.table[self.ids[index]]

    def __iter__(self) -> Iterator[IncidentView]:
        table = self.table
        for incident_id in self.ids:
            yield table[incident_id]

    def __reversed__(self) -> Iterator[IncidentView]:
        table = self.table
        for incident_id in reversed(self.ids):
            yield table[incident_id]

    def find(self, incident_id: str) -> IncidentView:
        return self.table[incident_id]

    def stamps(self) -> list[str]:
        """:meth:`ViewTable.stamp` of each (a cached row's stamp is its summary's: read it first)."""
        row, made = self.table.blobs.get, self.table.made
        return [
            kept[0] if (kept := row(incident_id)) is not None else made[incident_id].stamp for incident_id in self.ids
        ]


def finder(views: Sequence[IncidentView]) -> Callable[[str], IncidentView]:
    """Look a summary of ``views`` up by id (without decoding every one of an :class:`Ordered`)."""
    if isinstance(views, Ordered):
        return views.find
    return {view.id: view for view in views}.__getitem__


def stamps_of(views: Sequence[IncidentView]) -> list[str]:
    return views.stamps() if isinstance(views, Ordered) else [view.stamp for view in views]


def _by_start(view: IncidentView) -> tuple[int, str]:
    return (view.started, view.id)


def _by_last(view: IncidentView) -> tuple[int, str]:
    return (view.last, view.id)


@dataclass
class SharedState:
    """The shared view's inputs as ids (see the module): kept between builds, changed row by row."""

    by_start: list[str]
    """Every published record, oldest first by ``(started, id)``."""
    by_last: list[str]
    """The same by ``(last, id)``."""
    touching: dict[str, list[str]]
    """Per component id, the records naming it, by ``(last, id)``."""
    named: dict[str, int]
    """Per component id, how many records name it."""
    updated: dict[str, int]
    """Per component id, its latest public update (microseconds)."""
    live: set[str]
    """The records that can change a figure for a bars' window starting at ``cutoff`` (:func:`.view.is_live`)."""
    cutoff: int

    @classmethod
    def made_from(cls, views: Iterable[IncidentView], cutoff: int) -> SharedState:
        """The state of every summary (the full computation)."""
        every = list(views)
        by_last = sorted(every, key=_by_last)
        touching: dict[str, list[str]] = {}
        named: dict[str, int] = {}
        updated: dict[str, int] = {}
        for view in by_last:
            for cid, _ in view.component_names:
                touching.setdefault(cid, []).append(view.id)
                named[cid] = named.get(cid, 0) + 1
            for cid, at in view.updated:
                if at > updated.get(cid, -(2**62)):
                    updated[cid] = at
        return cls(
            by_start=[view.id for view in sorted(every, key=_by_start)],
            by_last=[view.id for view in by_last],
            touching=touching,
            named=named,
            updated=updated,
            live={view.id for view in every if is_live(view, cutoff)},
            cutoff=cutoff,
        )

    def apply(self, table: ViewTable, old: dict[str, IncidentView], new: Iterable[IncidentView]) -> bool:
        """Replace the summaries ``old`` (by id: their previous summary) by ``new`` (this build's).

        ``table`` holds every current summary. False when the state does not hold what it should
        (then make it afresh).
        """

        def view_of(incident_id: str) -> IncidentView:
            before = old.get(incident_id)
            return before if before is not None else table[incident_id]

        def start_key(incident_id: str) -> tuple[int, str]:
            return _by_start(view_of(incident_id))

        def last_key(incident_id: str) -> tuple[int, str]:
            return _by_last(view_of(incident_id))

        old = dict(old)  # emptied once every old summary is out: the keys below are then the new ones
        stale: dict[str, int] = {}  # component → a latest update the old summaries held
        for view in list(old.values()):
            if not (
                _remove(self.by_start, view.id, _by_start(view), start_key)
                and _remove(self.by_last, view.id, _by_last(view), last_key)
            ):
                return False
            for cid, _ in view.component_names:
                listed = self.touching.get(cid)
                if listed is None or not _remove(listed, view.id, _by_last(view), last_key):
                    return False
                count = self.named[cid] - 1
                if count:
                    self.named[cid] = count
                else:
                    del self.named[cid], self.touching[cid]
            for cid, at in view.updated:
                if at >= self.updated.get(cid, -(2**62)):
                    stale[cid] = at
            self.live.discard(view.id)
        old.clear()
        for view in new:
            bisect.insort(self.by_start, view.id, key=start_key)
            bisect.insort(self.by_last, view.id, key=last_key)
            for cid, _ in view.component_names:
                bisect.insort(self.touching.setdefault(cid, []), view.id, key=last_key)
                self.named[cid] = self.named.get(cid, 0) + 1
            for cid, at in view.updated:
                if at > self.updated.get(cid, -(2**62)):
                    self.updated[cid] = at
            if is_live(view, self.cutoff):
                self.live.add(view.id)
        for cid, at in stale.items():
            if self.updated.get(cid, -(2**62)) <= at:  # the latest update may be gone: find it again
                self._latest_update(table, cid)
        return True

    def _latest_update(self, table: ViewTable, cid: str) -> None:
        """``updated[cid]`` from the records naming ``cid``, newest last update first (an update is
        never later than its record's last one, so the walk stops early)."""
        best: int | None = None
        for incident_id in reversed(self.touching.get(cid, [])):
            view = table[incident_id]
            if best is not None and view.last < best:
                break
            for named, at in view.updated:
                if named == cid and (best is None or at > best):
                    best = at
        if best is None:
            self.updated.pop(cid, None)
        else:
            self.updated[cid] = best

    def holds(self, table: ViewTable) -> bool:
        """Does the state name every summary of ``table`` once in each order, and each component's
        records as often as it counts them? (Linear in ids, no summary decoded: a state that lost or
        gained a record through a fault is refused, and made afresh.)"""
        ids = set(self.by_start)
        if not (len(ids) == len(self.by_start) == len(self.by_last) == len(table)) or ids != set(self.by_last):
            return False
        if ids - table.blobs.keys() - table.made.keys():
            return False
        counts = {cid: len(listed) for cid, listed in self.touching.items()}
        return counts == self.named and self.live <= ids

    def move_cutoff(self, table: ViewTable, cutoff: int) -> bool:
        """The live records for a window starting at ``cutoff``: only a later start (False: earlier)."""
        if cutoff < self.cutoff:
            return False
        if cutoff > self.cutoff:
            self.live = {incident_id for incident_id in self.live if is_live(table[incident_id], cutoff)}
            self.cutoff = cutoff
        return True

    def to_data(self) -> tuple[Any, ...]:
        return (
            STATE_VERSION,
            self.by_start,
            self.by_last,
            self.touching,
            self.named,
            self.updated,
            sorted(self.live),
            self.cutoff,
        )

    @classmethod
    def from_data(cls, data: Any) -> SharedState | None:
        """The state :meth:`to_data` gave, or None if ``data`` is not one."""
        if not isinstance(data, tuple) or len(data) != 8 or data[0] != STATE_VERSION:
            return None
        _, by_start, by_last, touching, named, updated, live, cutoff = data
        shapes = ((by_start, list), (by_last, list), (touching, dict), (named, dict), (updated, dict), (live, list))
        if not all(isinstance(value, kind) for value, kind in shapes) or not isinstance(cutoff, int):
            return None
        if not all(isinstance(listed, list) for listed in touching.values()):
            return None
        return cls(by_start, by_last, touching, named, updated, set(live), cutoff)


def _remove(ids: list[str], incident_id: str, key: tuple[int, str], key_of: Callable[[str], tuple[int, str]]) -> bool:
    """Take ``incident_id`` (whose sort key is ``key``) out of ``ids``; False if it is not where it should be."""
    index = bisect.bisect_left(ids, key, key=key_of)
    if index >= len(ids) or ids[index] != incident_id:
        return False
    del ids[index]
    return True

"""One incident's summary for the status page (:class:`IncidentView`), its cache codec, and its full public record.

A summary is computed once per record version and cached (plain tuples of ints and strings, see
:meth:`IncidentView.to_tuple`): the shared pages are computed from summaries alone. Every input is
an incident's *public* view: internal entries cannot influence any output.
"""

from __future__ import annotations

import dataclasses
from array import array
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..vocabulary import IMPACT_TO_INDICATOR, MAINTENANCE_ACTIVE

if TYPE_CHECKING:
    from ..config import Config
    from ..model import Incident


def severity_indicator(config: Config, severity: str) -> str:
    """The indicator a severity implies when an incident names no component: by name, else by rank."""
    setting = config.severities.get(severity)
    name = (setting.name if setting else severity).lower()
    for word in ("critical", "major", "minor"):
        if word in name:
            return word
    order = list(config.severities)
    position = order.index(severity) if severity in order else len(order)
    return "critical" if position == 0 else "major" if position == 1 else "minor"


def incident_impact(config: Config, incident: Incident) -> str:
    """Statuspage's ``impact`` of an incident: its worst component impact, else its severity.
    A maintenance's is ``maintenance`` (the API never gives an incident that value)."""
    if incident.kind == "maintenance":
        return "maintenance"
    worst = incident.worst_impact
    if worst != "operational":
        return IMPACT_TO_INDICATOR[worst]
    return severity_indicator(config, incident.severity)


@dataclass(slots=True)
class IncidentView:
    """An incident as published, reduced to what the shared pages need (cheap to cache and load).

    ``incident`` is what list templates see as ``item.incident``: a plain dict of the summary
    fields (the same in a full and an incremental build). The incident page and the active cards
    get the full public record instead (:func:`public_record`, attached by :func:`with_record`).
    """

    stamp: str
    """The record's file name, size and mtime: the key of every page made from it."""
    id: str
    title: str
    severity: str
    severity_name: str
    impact: str
    status: str
    is_open: bool
    started: int
    """Times are integer microseconds since the epoch (UTC): fast to pickle, sort and compare."""
    resolved: int | None
    last: int
    component_names: tuple[tuple[str, str], ...]
    """(id, name) of every component the public timeline names, in config order."""
    current: tuple[tuple[str, str], ...]
    """Current impact per component (what an open incident contributes to the page)."""
    spans: tuple[tuple[str, int, int | None, str], ...]
    """(component, start, end, impact) non-operational spans; end None: until the incident ends."""
    updated: tuple[tuple[str, int], ...]
    """Per component, the latest public entry that names it."""
    entry_times: bytes
    """Every public entry's time, in timeline order, as packed int64 (:func:`unpack_times`): the feed
    picks the newest without loading records, and one bytes object unpickles faster than many ints."""
    month: str
    """The local month it started, ``2025-03`` (the history groups by it)."""
    kind: str = "incident"
    """``incident`` or ``maintenance``: the pages never mix them up."""
    scheduled_for: int | None = None
    """A maintenance's planned window (microseconds, like every time here); None on an incident."""
    scheduled_until: int | None = None
    counts_as_downtime: bool = False
    """A maintenance whose time under maintenance lowers the uptime figure."""
    reschedules: int = 0
    """How many public entries moved a maintenance's window (the calendar event's SEQUENCE)."""
    record: dict[str, Any] | None = None
    """The full public record, when attached (:func:`with_record`)."""
    _summary: dict[str, Any] | None = None

    @property
    def is_maintenance(self) -> bool:
        return self.kind == "maintenance"

    @property
    def is_incident(self) -> bool:
        return self.kind != "maintenance"

    @property
    def is_active(self) -> bool:
        """A maintenance in progress or verifying (its components are under maintenance now)."""
        return self.kind == "maintenance" and self.status in MAINTENANCE_ACTIVE

    @property
    def is_upcoming(self) -> bool:
        """A maintenance still scheduled (neither started nor cancelled)."""
        return self.kind == "maintenance" and self.status == "scheduled"

    @property
    def scheduled_for_at(self) -> datetime | None:
        return from_micros(self.scheduled_for) if self.scheduled_for is not None else None

    @property
    def scheduled_until_at(self) -> datetime | None:
        return from_micros(self.scheduled_until) if self.scheduled_until is not None else None

    def phase(self, now_us: int) -> str:
        """Where ``now`` stands against a maintenance's window: ``before``, ``during`` or ``after``
        (``""`` for an incident). A maintenance page shows it, so the page key names it."""
        if self.scheduled_for is None or self.scheduled_until is None:
            return ""
        if now_us < self.scheduled_for:
            return "before"
        return "during" if now_us < self.scheduled_until else "after"

    @property
    def path(self) -> str:
        """The incident page, relative to the site root."""
        return f"incidents/{self.id}.html"

    @property
    def incident(self) -> dict[str, Any]:
        """``item.incident`` in templates: the full record when attached, else the summary fields."""
        if self.record is not None:
            return self.record
        if self._summary is None:
            self._summary = {
                "id": self.id,
                "title": self.title,
                "severity": self.severity,
                "status": self.status,
                "is_open": self.is_open,
                "started_at": from_micros(self.started),
                "resolved_at": from_micros(self.resolved) if self.resolved is not None else None,
                "kind": self.kind,
                "scheduled_for": self.scheduled_for_at,
                "scheduled_until": self.scheduled_until_at,
            }
        return self._summary

    @property
    def started_at(self) -> datetime:
        return from_micros(self.started)

    @property
    def resolved_at(self) -> datetime | None:
        return from_micros(self.resolved) if self.resolved is not None else None

    def to_tuple(self) -> tuple[Any, ...]:
        """The cached form (plain tuples, ints and strings only; the stamp is the cache's key)."""
        return (
            self.id,
            self.title,
            self.severity,
            self.severity_name,
            self.impact,
            self.status,
            self.is_open,
            self.started,
            self.resolved,
            self.last,
            self.component_names,
            self.current,
            self.spans,
            self.updated,
            self.entry_times,
            self.month,
            self.kind,
            self.scheduled_for,
            self.scheduled_until,
            self.counts_as_downtime,
            self.reschedules,
        )

    @classmethod
    def from_tuple(cls, data: tuple[Any, ...], stamp: str) -> IncidentView:
        return cls(stamp, *data)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


_MICRO = timedelta(microseconds=1)


def micros(value: datetime) -> int:
    return (value - _EPOCH) // _MICRO


def unpack_times(packed: bytes) -> array[int]:
    return array("q", packed)


def from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def incident_path(incident_id: str) -> str:
    return f"incidents/{incident_id}.html"


def is_published(incident: Incident) -> bool:
    """Incidents without any public entry were never announced: they appear nowhere."""
    return any(entry.public for entry in incident.timeline)


_SHARED: dict[Any, Any] = {}


def _shared(value: Any) -> Any:
    """One object for every equal small value the summaries repeat (statuses, months, component
    ids and lists): thousands of summaries then hold references, not copies, and the cache's
    encoders write each once per chunk (they keep the sharing on load)."""
    if len(_SHARED) > 100_000:
        _SHARED.clear()  # a long-running process never grows it without bound
    return _SHARED.setdefault(value, value)


def describe_incident(config: Config, public: Incident, stamp: str = "") -> IncidentView:
    """The summary of one incident's public view (``public`` must be ``Incident.public_view()``)."""
    share = _shared
    named: set[str] = set()
    updated: dict[str, int] = {}
    times: list[int] = []
    for entry in public.timeline:
        at = micros(entry.at)
        times.append(at)
        for cid in entry.components:
            named.add(cid)
            if at > updated.get(cid, -(2**62)):
                updated[cid] = at
    table = config.component_table()
    order, names = table.order, table.names
    ids = sorted(named, key=lambda cid: (order.get(cid, len(order)), cid))
    severity = config.severities.get(public.severity)
    resolved_at = public.resolved_at
    return IncidentView(
        id=public.id,
        title=public.title,
        severity=share(public.severity),
        severity_name=share(severity.name if severity else public.severity),
        impact=share(incident_impact(config, public)),
        status=share(public.status),
        is_open=public.is_open,
        started=times[0],
        resolved=micros(resolved_at) if resolved_at is not None else None,
        last=times[-1],
        component_names=share(tuple(share((share(cid), share(names.get(cid, cid)))) for cid in ids)),
        current=share(tuple(share((share(cid), share(impact))) for cid, impact in public.components.items())),
        spans=tuple((share(cid), start, end, share(impact)) for cid, start, end, impact in _impact_intervals(public)),
        updated=tuple((share(cid), at) for cid, at in updated.items()),
        entry_times=array("q", times).tobytes(),
        month=share(f"{public.started_at.astimezone(config.tz):%Y-%m}"),
        stamp=stamp,
        kind=share(public.kind),
        scheduled_for=micros(public.scheduled_for) if public.scheduled_for is not None else None,
        scheduled_until=micros(public.scheduled_until) if public.scheduled_until is not None else None,
        counts_as_downtime=public.is_maintenance and public.counts_as_downtime,
        reschedules=sum(1 for entry in public.timeline if entry.notice == "rescheduled"),
    )


def public_record(public: Incident) -> dict[str, Any]:
    """The full public view as plain data: what the incident page and the active cards render.

    Plain dicts (not models) because the sandbox checks every attribute it reads from an object,
    and a page reads hundreds; the keys are the model's own names, so templates read the same.
    """
    timeline = [
        {
            "at": entry.at,
            "status": entry.status,
            "message": entry.message,
            "visibility": entry.visibility,
            "components": dict(entry.components),
            "next_update_by": entry.next_update_by,
            "author": entry.author,
            "notice": entry.notice,
            "scheduled_for": entry.scheduled_for,
            "scheduled_until": entry.scheduled_until,
            "deliveries": {},
        }
        for entry in public.timeline
    ]
    return {
        "id": public.id,
        "title": public.title,
        "severity": public.severity,
        "commander": public.commander,
        "sample": public.sample,
        "sources": list(public.sources),
        "status": public.status,
        "is_open": public.is_open,
        "started_at": public.started_at,
        "resolved_at": public.resolved_at,
        "components": public.components,
        "worst_impact": public.worst_impact,
        "timeline": timeline,
        "postmortem": public.postmortem.model_dump() if public.postmortem is not None else None,
        "kind": public.kind,
        "scheduled_for": public.scheduled_for,
        "scheduled_until": public.scheduled_until,
        "auto_start": public.auto_start,
        "auto_complete": public.auto_complete,
        "counts_as_downtime": public.counts_as_downtime,
    }


def _impact_intervals(public: Incident) -> tuple[tuple[str, int, int | None, str], ...]:
    """The non-operational spans of one incident: ``(component, start, end, impact)``.

    ``end`` is None for a span still going on: it lasts until the incident ends (resolution, or
    ``max(now, last entry)`` while open), which only the build knows.
    """
    resolved = public.resolved_at
    end_of_incident = micros(resolved) if resolved is not None else None
    spans: list[tuple[str, int, int | None, str]] = []
    open_since: dict[str, tuple[int, str]] = {}
    impact: str
    for entry in public.timeline:
        at = micros(entry.at)
        for component, impact in entry.components.items():
            previous = open_since.pop(component, None)
            if previous is not None and previous[1] != "operational" and at > previous[0]:
                spans.append((component, previous[0], at, previous[1]))
            open_since[component] = (at, impact)
    for component, (since, impact) in open_since.items():
        if impact != "operational" and (end_of_incident is None or end_of_incident > since):
            spans.append((component, since, end_of_incident, impact))
    return tuple(spans)


def with_record(item: IncidentView, record: dict[str, Any]) -> IncidentView:
    """``item`` whose ``incident`` is the full public record (the active cards render its timeline)."""
    return dataclasses.replace(item, record=record, _summary=None)

"""The status page's computed view: overall status, per-component status, 90-day bars, history.

Everything shared by several pages is computed here once per build, in time linear in the number
of incidents, so no page recomputes it (the quadratic trap of page-by-page static generators).
Every input is an incident's *public* view: internal entries cannot influence any output.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import math
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from ..model import IMPACT_RANK

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from ..config import Config
    from ..model import Incident

BAR_DAYS = 90
PAST_SHOWN = 5

#: Statuspage's incident impact / page indicator values, least to most severe.
INDICATORS: tuple[str, ...] = ("none", "maintenance", "minor", "major", "critical")
INDICATOR_RANK = {name: rank for rank, name in enumerate(INDICATORS)}
#: Statuspage's wording for ``status.description``.
INDICATOR_DESCRIPTIONS = {
    "none": "All Systems Operational",
    "maintenance": "Service Under Maintenance",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major Service Outage",
}
#: The banner on the page, in sentence case.
INDICATOR_BANNERS = {
    "none": "All systems operational",
    "maintenance": "Service under maintenance",
    "minor": "Minor service outage",
    "major": "Partial system outage",
    "critical": "Major service outage",
}
IMPACT_TO_INDICATOR = {
    "operational": "none",
    "under_maintenance": "maintenance",
    "degraded_performance": "minor",
    "partial_outage": "major",
    "major_outage": "critical",
}
#: Share of a minute counted as downtime in the uptime figure (Statuspage's weighting).
DOWNTIME_WEIGHT = {"major_outage": 1.0, "partial_outage": 0.3}


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
    """Statuspage's ``impact`` of an incident: its worst component impact, else its severity."""
    worst = incident.worst_impact
    if worst != "operational":
        return IMPACT_TO_INDICATOR[worst]
    return severity_indicator(config, incident.severity)


@dataclass(frozen=True)
class DayIncident:
    id: str
    title: str
    impact: str


@dataclass(frozen=True)
class BarSegment:
    """One or more consecutive days of a component's bar with the same state."""

    first: date
    days: int
    impact: str
    incidents: tuple[DayIncident, ...] = ()
    label: str = ""
    """The mark's tooltip, e.g. ``Mar 02, 2025: Partial outage: API errors`` (made once, not per template call)."""

    @property
    def last(self) -> date:
        return self.first + timedelta(days=self.days - 1)


@dataclass(frozen=True)
class ComponentView:
    id: str
    name: str
    group: str | None
    description: str | None
    position: int
    status: str
    updated_at: datetime | None
    uptime: float
    bar: tuple[BarSegment, ...]
    incident_days: int = 0
    """Days of the bar with incidents."""


@dataclass(frozen=True)
class GroupView:
    id: str
    name: str
    status: str
    position: int
    components: tuple[ComponentView, ...]


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
    record: dict[str, Any] | None = None
    """The full public record, when attached (:func:`with_record`)."""
    _summary: dict[str, Any] | None = None

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


@dataclass(frozen=True)
class HistoryMonth:
    label: str
    key: str
    incidents: tuple[IncidentView, ...]


@dataclass(frozen=True)
class HistoryPage:
    """``history.html`` (the newest incidents) or one archive page (a fixed chunk, oldest first).

    Archive chunks are counted from the oldest incident, so a new incident never moves an old one
    to another page: only the newest chunk and ``history.html`` change when something happens.
    """

    number: int
    """0 for ``history.html``, else the archive chunk (1 = oldest)."""
    path: str
    months: tuple[HistoryMonth, ...]
    incidents: tuple[IncidentView, ...]
    older: str | None
    newer: str | None
    label: str
    """The date range of an archive page, e.g. ``Mar 2023 – May 2023``."""


@dataclass
class SiteView:
    """Everything the pages, the feed and the API render, computed once."""

    config: Config
    now: datetime
    title: str
    indicator: str
    components: list[ComponentView]
    groups: list[GroupView]
    ungrouped: list[ComponentView]
    incidents: list[IncidentView]
    """Newest first."""
    active: list[IncidentView]
    history: list[HistoryPage]
    past: list[IncidentView]
    """The newest resolved incidents (up to :data:`PAST_SHOWN`), for the index page."""
    updated_at: datetime
    days: list[date] = field(default_factory=list)
    records: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    """Full public records (:func:`public_record`) by id: every open incident, the API's latest
    incidents and those with updates in the feed (see :func:`needs_record`)."""

    @property
    def banner(self) -> str:
        return INDICATOR_BANNERS[self.indicator]

    @property
    def description(self) -> str:
        return INDICATOR_DESCRIPTIONS[self.indicator]


def incident_path(incident_id: str) -> str:
    return f"incidents/{incident_id}.html"


def history_path(number: int) -> str:
    return "history.html" if number == 0 else f"history-{number}.html"


def is_published(incident: Incident) -> bool:
    """Incidents without any public entry were never announced: they appear nowhere."""
    return any(entry.public for entry in incident.timeline)


def describe_incident(config: Config, public: Incident, stamp: str = "") -> IncidentView:
    """The summary of one incident's public view (``public`` must be ``Incident.public_view()``)."""
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
    order = {cid: index for index, cid in enumerate(config.component_ids)}
    ids = sorted(named, key=lambda cid: (order.get(cid, len(order)), cid))
    severity = config.severities.get(public.severity)
    resolved_at = public.resolved_at
    return IncidentView(
        id=public.id,
        title=public.title,
        severity=public.severity,
        severity_name=severity.name if severity else public.severity,
        impact=incident_impact(config, public),
        status=public.status,
        is_open=public.is_open,
        started=times[0],
        resolved=micros(resolved_at) if resolved_at is not None else None,
        last=times[-1],
        component_names=tuple((cid, config.component_name(cid)) for cid in ids),
        current=tuple(public.components.items()),
        spans=_impact_intervals(public),
        updated=tuple(updated.items()),
        entry_times=array("q", times).tobytes(),
        month=f"{public.started_at.astimezone(config.tz):%Y-%m}",
        stamp=stamp,
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


def _weighted_downtime(spans: list[tuple[datetime, datetime, str]], start: datetime, end: datetime) -> float:
    """Seconds of downtime in ``[start, end)``: overlapping spans count once, at the worst weight."""
    events: list[tuple[datetime, int, float]] = []
    for span_start, span_end, impact in spans:
        weight = DOWNTIME_WEIGHT.get(impact, 0.0)
        lo, hi = max(span_start, start), min(span_end, end)
        if weight and hi > lo:
            events.append((lo, 1, weight))
            events.append((hi, -1, weight))
    if not events:
        return 0.0
    events.sort(key=lambda event: (event[0], -event[1]))
    active: list[float] = []  # max-heap of weights (negated), lazily deleted
    removed: dict[float, int] = {}
    total = 0.0
    previous: datetime | None = None
    for when, kind, weight in events:
        while active and removed.get(-active[0], 0):
            removed[-active[0]] -= 1
            heapq.heappop(active)
        if previous is not None and active:
            total += (when - previous).total_seconds() * -active[0]
        previous = when
        if kind == 1:
            heapq.heappush(active, -weight)
        else:
            removed[weight] = removed.get(weight, 0) + 1
    return total


def _local_day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def compute_view(
    config: Config, views: Sequence[IncidentView], now: datetime, records: Mapping[str, dict[str, Any]]
) -> SiteView:
    """Compute the whole site's shared state from every published incident's summary.

    ``records`` holds the full public record (:func:`public_record`) of at least every open incident.
    """
    zone = config.tz
    now = now.astimezone(UTC).replace(microsecond=0)
    now_us = micros(now)
    views = sorted(views, key=lambda view: (view.started, view.id), reverse=True)

    today = now.astimezone(zone).date()
    days = [today - timedelta(days=offset) for offset in range(BAR_DAYS - 1, -1, -1)]
    window_start = _local_day_start(days[0], zone)
    window_us = micros(window_start)
    day_index = {day: index for index, day in enumerate(days)}

    # Component ids: configured ones in order, then any others the incidents name (sorted).
    configured = {component.id: component for component in config.components}
    extra = sorted({cid for view in views for cid, _ in view.component_names if cid not in configured})
    ids = [*configured, *extra]

    worst_day: dict[str, list[str]] = {cid: ["operational"] * BAR_DAYS for cid in ids}
    day_incidents: dict[str, list[list[DayIncident]]] = {cid: [[] for _ in range(BAR_DAYS)] for cid in ids}
    spans_by_component: dict[str, list[tuple[datetime, datetime, str]]] = {cid: [] for cid in ids}
    status = dict.fromkeys(ids, "operational")
    updated_at: dict[str, int] = {}
    active: list[IncidentView] = []
    overall = "none"

    for view in reversed(views):  # oldest first, so day lists read in time order
        if view.is_open:
            active.append(view)
            contribution = _current_indicator(config, view)
            if INDICATOR_RANK[contribution] > INDICATOR_RANK[overall]:
                overall = contribution
            for cid, impact in view.current:
                if IMPACT_RANK[impact] > IMPACT_RANK[status[cid]]:
                    status[cid] = impact
        for cid, at in view.updated:
            if at > updated_at.get(cid, -(2**62)):
                updated_at[cid] = at
        end_of_incident = view.resolved if view.resolved is not None else max(now_us, view.last)
        worst_for_incident: dict[tuple[str, int], str] = {}
        for cid, start_us, end_value, impact in view.spans:
            end_us = end_value if end_value is not None else end_of_incident
            # Spans wholly before the window or after now change no figure: skip them early.
            if end_us <= start_us or end_us <= window_us or start_us > now_us:
                continue
            start, end = from_micros(start_us), from_micros(end_us)
            spans_by_component[cid].append((start, end, impact))
            first = max(start, window_start).astimezone(zone).date()
            last = (min(end, now) - timedelta(microseconds=1)).astimezone(zone).date()
            day = first
            while day <= last:
                index = day_index.get(day)
                if index is not None:
                    seen = worst_for_incident.get((cid, index), "operational")
                    if IMPACT_RANK[impact] > IMPACT_RANK[seen]:
                        worst_for_incident[(cid, index)] = impact
                day += timedelta(days=1)
        for (cid, index), impact in worst_for_incident.items():
            if IMPACT_RANK[impact] > IMPACT_RANK[worst_day[cid][index]]:
                worst_day[cid][index] = impact
            day_incidents[cid][index].append(DayIncident(view.id, view.title, impact))

    window_seconds = max((now - window_start).total_seconds(), 1.0)
    components: list[ComponentView] = []
    for position, cid in enumerate(ids, start=1):
        setting = configured.get(cid)
        downtime = _weighted_downtime(spans_by_component[cid], window_start, now)
        uptime = max(0.0, 100.0 * (1.0 - downtime / window_seconds))
        stamp = updated_at.get(cid)
        bar = _segments(days, worst_day[cid], day_incidents[cid])
        components.append(
            ComponentView(
                id=cid,
                name=setting.name if setting else cid,
                group=setting.group if setting else None,
                description=setting.description if setting else None,
                position=position,
                status=status[cid],
                updated_at=from_micros(stamp) if stamp is not None else None,
                uptime=uptime,
                bar=bar,
                incident_days=sum(1 for segment in bar if segment.incidents),
            )
        )

    groups: list[GroupView] = []
    ungrouped: list[ComponentView] = []
    members: dict[str, list[ComponentView]] = {}
    for component in components:
        if component.group:
            if component.group not in members:
                members[component.group] = []
            members[component.group].append(component)
        else:
            ungrouped.append(component)
    for position, (name, children) in enumerate(members.items(), start=len(components) + 1):
        worst = max((child.status for child in children), key=lambda impact: IMPACT_RANK[impact])
        groups.append(
            GroupView(id=group_id(name), name=name, status=worst, position=position, components=tuple(children))
        )

    active.reverse()  # newest first
    settings = config.channels.statuspage
    title = (settings.title if settings and settings.title else None) or f"{config.organization} Status"
    latest = max((view.last for view in views), default=None)
    return SiteView(
        config=config,
        now=now,
        title=title,
        indicator=overall,
        components=components,
        groups=groups,
        ungrouped=ungrouped,
        incidents=views,
        active=[with_record(item, records[item.id]) for item in active],
        history=paginate_history(views, settings.history_page_size if settings else 50),
        past=list(itertools.islice((view for view in views if not view.is_open), PAST_SHOWN)),
        updated_at=from_micros(latest) if latest is not None else now,
        days=days,
        records=records,
    )


def newest_updates(views: Sequence[IncidentView], limit: int) -> list[tuple[int, str, int]]:
    """The newest ``limit`` public updates as ``(time, incident id, 1-based index)``, newest first.

    Reads the summaries only: the incidents are walked by their last update, newest first, and
    the walk stops once no later incident can hold an update among the newest ``limit``.
    """
    by_last = sorted(views, key=lambda view: (view.last, view.id), reverse=True)
    found: list[tuple[int, str, int]] = []
    for view in by_last:
        if len(found) >= limit:
            found.sort(reverse=True)
            del found[limit:]
            if view.last < found[-1][0]:
                break
        found.extend((at, view.id, index) for index, at in enumerate(unpack_times(view.entry_times), start=1))
    found.sort(reverse=True)
    return found[:limit]


def with_record(item: IncidentView, record: dict[str, Any]) -> IncidentView:
    """``item`` whose ``incident`` is the full public record (the active cards render its timeline)."""
    return dataclasses.replace(item, record=record, _summary=None)


def _current_indicator(config: Config, view: IncidentView) -> str:
    """What an open incident contributes to the page banner right now."""
    if not view.current:
        return severity_indicator(config, view.severity)
    worst = max((impact for _, impact in view.current), key=lambda impact: IMPACT_RANK[impact])
    # Components back to operational while the incident is still open (monitoring): still a minor issue.
    return IMPACT_TO_INDICATOR[worst] if worst != "operational" else "minor"


def group_id(name: str) -> str:
    slug = "".join(char if char.isalnum() else "-" for char in name.lower()).strip("-")
    return "group-" + "-".join(part for part in slug.split("-") if part)


def _segments(days: list[date], worst: list[str], incidents: list[list[DayIncident]]) -> tuple[BarSegment, ...]:
    """Runs of quiet days collapse into one segment; each day with incidents is its own."""
    from ..render import IMPACT_LABELS

    segments: list[BarSegment] = []
    run_start: int | None = None
    for index in range(len(days) + 1):
        quiet = index < len(days) and not incidents[index] and worst[index] == "operational"
        if quiet:
            if run_start is None:
                run_start = index
            continue
        if run_start is not None:
            first, last = days[run_start], days[index - 1]
            span = index - run_start
            label = (f"{first:%b %d} – " if span > 1 else "") + f"{last:%b %d, %Y}: no incidents"
            segments.append(BarSegment(first=first, days=span, impact="operational", label=label))
            run_start = None
        if index < len(days):
            named = "; ".join(
                f"{IMPACT_LABELS.get(item.impact, item.impact)}: {item.title}" for item in incidents[index]
            )
            segments.append(
                BarSegment(
                    first=days[index],
                    days=1,
                    impact=worst[index],
                    incidents=tuple(incidents[index]),
                    label=f"{days[index]:%b %d, %Y}: {named if incidents[index] else 'no incidents'}",
                )
            )
    return tuple(segments)


def _month_label(key: str, fmt: str) -> str:
    return date(int(key[:4]), int(key[5:7]), 1).strftime(fmt)


def _months(views: Sequence[IncidentView]) -> tuple[HistoryMonth, ...]:
    months: list[HistoryMonth] = []
    bucket: list[IncidentView] = []
    key = ""
    for view in views:
        if view.month != key:
            if bucket:
                months.append(HistoryMonth(label=_month_label(key, "%B %Y"), key=key, incidents=tuple(bucket)))
            key, bucket = view.month, []
        bucket.append(view)
    if bucket:
        months.append(HistoryMonth(label=_month_label(key, "%B %Y"), key=key, incidents=tuple(bucket)))
    return tuple(months)


def paginate_history(views: list[IncidentView], page_size: int) -> list[HistoryPage]:
    """``history.html`` with the newest ``page_size`` incidents, then archive pages when there are more.

    ``views`` is newest first; every page lists newest first, grouped by month (local time).
    """
    newest = views[:page_size]
    if len(views) <= page_size:
        return [HistoryPage(0, history_path(0), _months(newest), tuple(newest), None, None, "")]
    oldest_first = views[::-1]
    chunks = [oldest_first[start : start + page_size] for start in range(0, len(oldest_first), page_size)]
    count = len(chunks)
    # The first incident history.html leaves out, and the archive chunk that holds it.
    first_hidden = len(views) - 1 - page_size
    main = HistoryPage(
        0, history_path(0), _months(newest), tuple(newest), history_path(first_hidden // page_size + 1), None, ""
    )
    pages = [main]
    for number, chunk in enumerate(chunks, start=1):
        shown = chunk[::-1]
        first, last = chunk[0].month, chunk[-1].month
        label = (
            _month_label(first, "%b %Y")
            if first == last
            else f"{_month_label(first, '%b %Y')} – {_month_label(last, '%b %Y')}"
        )
        pages.append(
            HistoryPage(
                number=number,
                path=history_path(number),
                months=_months(shown),
                incidents=tuple(shown),
                older=history_path(number - 1) if number > 1 else None,
                newer=history_path(number + 1) if number < count else history_path(0),
                label=label,
            )
        )
    return pages


def format_uptime(value: float) -> str:
    """``99.95%``: rounded down, so a bad minute never shows as a clean 100%."""
    if value >= 100.0:
        return "100%"
    return f"{math.floor(value * 100) / 100:.2f}%"

"""The status page's computed view: overall status, per-component status, 90-day bars, history.

Everything shared by several pages is computed here once per build, in time linear in the number
of incidents, so no page recomputes it (the quadratic trap of page-by-page static generators).
Every input is an incident's *public* view: internal entries cannot influence any output.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from ..model import IMPACT_RANK

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from ..config import Config
    from ..model import Incident

BAR_DAYS = 90

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


def current_indicator(config: Config, incident: Incident) -> str:
    """What an open incident contributes to the page banner right now."""
    current = incident.components
    if not current:
        return severity_indicator(config, incident.severity)
    worst = max(current.values(), key=lambda impact: IMPACT_RANK[impact])
    # Components back to operational while the incident is still open (monitoring): still a minor issue.
    return IMPACT_TO_INDICATOR[worst] if worst != "operational" else "minor"


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


@dataclass(frozen=True)
class GroupView:
    id: str
    name: str
    status: str
    position: int
    components: tuple[ComponentView, ...]


@dataclass(frozen=True)
class IncidentView:
    """An incident as published: the public view plus what the pages need about it."""

    incident: Incident
    impact: str
    severity_name: str
    component_names: tuple[tuple[str, str], ...]
    """(id, name) of every component the public timeline names, in config order."""
    path: str
    """The incident page, relative to the site root."""

    @property
    def id(self) -> str:
        return self.incident.id


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
    updated_at: datetime
    days: list[date] = field(default_factory=list)

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


def published(incidents: Sequence[Incident]) -> list[Incident]:
    """The public views of incidents that have at least one public entry (the rest are not announced)."""
    return [incident.public_view() for incident in incidents if any(entry.public for entry in incident.timeline)]


def describe_incident(config: Config, public: Incident) -> IncidentView:
    named: set[str] = set()
    for entry in public.timeline:
        named.update(entry.components)
    order = {cid: index for index, cid in enumerate(config.component_ids)}
    ids = sorted(named, key=lambda cid: (order.get(cid, len(order)), cid))
    severity = config.severities.get(public.severity)
    return IncidentView(
        incident=public,
        impact=incident_impact(config, public),
        severity_name=severity.name if severity else public.severity,
        component_names=tuple((cid, config.component_name(cid)) for cid in ids),
        path=incident_path(public.id),
    )


def _impact_intervals(public: Incident, now: datetime) -> dict[str, list[tuple[datetime, datetime, str]]]:
    """Per component, the non-operational spans of one incident: ``(start, end, impact)``."""
    end_of_incident = public.resolved_at or max(now, public.timeline[-1].at)
    spans: dict[str, list[tuple[datetime, datetime, str]]] = {}
    open_since: dict[str, tuple[datetime, str]] = {}
    impact: str
    for entry in public.timeline:
        for component, impact in entry.components.items():
            previous = open_since.pop(component, None)
            if previous is not None and previous[1] != "operational" and entry.at > previous[0]:
                spans.setdefault(component, []).append((previous[0], entry.at, previous[1]))
            open_since[component] = (entry.at, impact)
    for component, (since, impact) in open_since.items():
        if impact != "operational" and end_of_incident > since:
            spans.setdefault(component, []).append((since, end_of_incident, impact))
    return spans


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


def compute_view(config: Config, incidents: Sequence[Incident], now: datetime) -> SiteView:
    """Compute the whole site's shared state from every incident (raw records; made public here)."""
    zone = config.tz
    now = now.astimezone(UTC).replace(microsecond=0)
    views = [describe_incident(config, public) for public in published(incidents)]
    views.sort(key=lambda view: (view.incident.started_at, view.id), reverse=True)

    today = now.astimezone(zone).date()
    days = [today - timedelta(days=offset) for offset in range(BAR_DAYS - 1, -1, -1)]
    window_start = _local_day_start(days[0], zone)
    day_index = {day: index for index, day in enumerate(days)}

    # Component ids: configured ones in order, then any others the incidents name (sorted).
    configured = {component.id: component for component in config.components}
    extra = sorted({cid for view in views for cid, _ in view.component_names if cid not in configured})
    ids = [*configured, *extra]

    worst_day: dict[str, list[str]] = {cid: ["operational"] * BAR_DAYS for cid in ids}
    day_incidents: dict[str, list[list[DayIncident]]] = {cid: [[] for _ in range(BAR_DAYS)] for cid in ids}
    spans_by_component: dict[str, list[tuple[datetime, datetime, str]]] = {cid: [] for cid in ids}
    status = dict.fromkeys(ids, "operational")
    updated_at: dict[str, datetime | None] = dict.fromkeys(ids)
    active: list[IncidentView] = []
    overall = "none"

    for view in reversed(views):  # oldest first, so day lists read in time order
        public = view.incident
        if public.is_open:
            active.append(view)
            contribution = current_indicator(config, public)
            if INDICATOR_RANK[contribution] > INDICATOR_RANK[overall]:
                overall = contribution
            for cid, impact in public.components.items():
                if IMPACT_RANK[impact] > IMPACT_RANK[status[cid]]:
                    status[cid] = impact
        for entry in public.timeline:
            for cid in entry.components:
                stamp = updated_at[cid]
                if stamp is None or entry.at > stamp:
                    updated_at[cid] = entry.at
        for cid, spans in _impact_intervals(public, now).items():
            spans_by_component[cid].extend(spans)
            worst_for_incident: dict[int, str] = {}
            for start, end, impact in spans:
                if end <= window_start or start > now:
                    continue
                first = max(start, window_start).astimezone(zone).date()
                last = (min(end, now) - timedelta(microseconds=1)).astimezone(zone).date()
                day = first
                while day <= last:
                    index = day_index.get(day)
                    if index is not None:
                        seen = worst_for_incident.get(index, "operational")
                        if IMPACT_RANK[impact] > IMPACT_RANK[seen]:
                            worst_for_incident[index] = impact
                    day += timedelta(days=1)
            for index, impact in worst_for_incident.items():
                if IMPACT_RANK[impact] > IMPACT_RANK[worst_day[cid][index]]:
                    worst_day[cid][index] = impact
                day_incidents[cid][index].append(DayIncident(public.id, public.title, impact))

    window_seconds = max((now - window_start).total_seconds(), 1.0)
    components: list[ComponentView] = []
    for position, cid in enumerate(ids, start=1):
        setting = configured.get(cid)
        downtime = _weighted_downtime(spans_by_component[cid], window_start, now)
        uptime = max(0.0, 100.0 * (1.0 - downtime / window_seconds))
        components.append(
            ComponentView(
                id=cid,
                name=setting.name if setting else cid,
                group=setting.group if setting else None,
                description=setting.description if setting else None,
                position=position,
                status=status[cid],
                updated_at=updated_at[cid],
                uptime=uptime,
                bar=_segments(days, worst_day[cid], day_incidents[cid]),
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
    latest = max((entry.at for view in views for entry in view.incident.timeline), default=None)
    return SiteView(
        config=config,
        now=now,
        title=title,
        indicator=overall,
        components=components,
        groups=groups,
        ungrouped=ungrouped,
        incidents=views,
        active=active,
        history=paginate_history(views, settings.history_page_size if settings else 50, zone),
        updated_at=latest or now,
        days=days,
    )


def group_id(name: str) -> str:
    slug = "".join(char if char.isalnum() else "-" for char in name.lower()).strip("-")
    return "group-" + "-".join(part for part in slug.split("-") if part)


def _segments(days: list[date], worst: list[str], incidents: list[list[DayIncident]]) -> tuple[BarSegment, ...]:
    """Runs of quiet days collapse into one segment; each day with incidents is its own."""
    segments: list[BarSegment] = []
    run_start: int | None = None
    for index in range(len(days) + 1):
        quiet = index < len(days) and not incidents[index] and worst[index] == "operational"
        if quiet:
            if run_start is None:
                run_start = index
            continue
        if run_start is not None:
            segments.append(BarSegment(first=days[run_start], days=index - run_start, impact="operational"))
            run_start = None
        if index < len(days):
            segments.append(
                BarSegment(first=days[index], days=1, impact=worst[index], incidents=tuple(incidents[index]))
            )
    return tuple(segments)


def _months(views: Sequence[IncidentView], zone: ZoneInfo) -> tuple[HistoryMonth, ...]:
    months: list[HistoryMonth] = []
    bucket: list[IncidentView] = []
    key = label = ""
    for view in views:
        local = view.incident.started_at.astimezone(zone)
        month = f"{local:%Y-%m}"
        if month != key:
            if bucket:
                months.append(HistoryMonth(label=label, key=key, incidents=tuple(bucket)))
            key, label, bucket = month, f"{local:%B %Y}", []
        bucket.append(view)
    if bucket:
        months.append(HistoryMonth(label=label, key=key, incidents=tuple(bucket)))
    return tuple(months)


def paginate_history(views: list[IncidentView], page_size: int, zone: ZoneInfo) -> list[HistoryPage]:
    """``history.html`` with the newest ``page_size`` incidents, then archive pages when there are more.

    ``views`` is newest first; every page lists newest first, grouped by month (local time).
    """
    newest = views[:page_size]
    if len(views) <= page_size:
        return [HistoryPage(0, history_path(0), _months(newest, zone), tuple(newest), None, None, "")]
    oldest_first = views[::-1]
    chunks = [oldest_first[start : start + page_size] for start in range(0, len(oldest_first), page_size)]
    count = len(chunks)
    # The first incident history.html leaves out, and the archive chunk that holds it.
    first_hidden = len(views) - 1 - page_size
    main = HistoryPage(
        0, history_path(0), _months(newest, zone), tuple(newest), history_path(first_hidden // page_size + 1), None, ""
    )
    pages = [main]
    for number, chunk in enumerate(chunks, start=1):
        shown = chunk[::-1]
        first = chunk[0].incident.started_at.astimezone(zone)
        last = chunk[-1].incident.started_at.astimezone(zone)
        label = f"{first:%b %Y}" if f"{first:%Y-%m}" == f"{last:%Y-%m}" else f"{first:%b %Y} – {last:%b %Y}"
        pages.append(
            HistoryPage(
                number=number,
                path=history_path(number),
                months=_months(shown, zone),
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

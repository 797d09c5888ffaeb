"""The status page's computed view: overall status, per-component status, 90-day bars, history.

Everything shared by several pages is computed here once per build, in time linear in the number
of incidents, so no page recomputes it (the quadratic trap of page-by-page static generators).
Every input is an incident's *public* summary (:mod:`.summary`): internal entries cannot influence any output.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..vocabulary import IMPACT_RANK, IMPACT_TO_INDICATOR, INDICATOR_BANNERS, INDICATOR_DESCRIPTIONS, INDICATOR_RANK
from .availability import (
    BAR_DAYS,
    MAINTENANCE_DOWNTIME,
    BarSegment,
    DayIncident,
    bar_segments,
    local_day_start,
    weighted_downtime,
)
from .history import HistoryPage, paginate_history
from .ids import unique_group_ids
from .summary import IncidentView, from_micros, micros, severity_indicator, with_record

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from ..config import Config


PAST_SHOWN = 5


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
    """Days of the bar with incidents (maintenance included)."""
    maintenance: str = ""
    """How maintenance in the window counts: ``""`` (none), ``excluded`` (not downtime) or ``counted``
    (a maintenance marked ``counts_as_downtime`` lowered the uptime figure)."""


@dataclass(frozen=True)
class GroupView:
    id: str
    name: str
    status: str
    position: int
    components: tuple[ComponentView, ...]


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
    incidents: Sequence[IncidentView]
    """Every published record (incidents and maintenances), newest first: the history and the feeds."""
    active: list[IncidentView]
    """Open incidents (never a maintenance), newest first."""
    history: list[HistoryPage]
    past: list[IncidentView]
    """The newest resolved incidents (up to :data:`PAST_SHOWN`), for the index page."""
    updated_at: datetime
    days: list[date] = field(default_factory=list)
    maintenances: list[IncidentView] = field(default_factory=list)
    """Every published maintenance, latest window first."""
    active_maintenances: list[IncidentView] = field(default_factory=list)
    """Maintenances in progress or verifying, earliest window first."""
    upcoming: list[IncidentView] = field(default_factory=list)
    """Maintenances still scheduled, earliest window first."""
    records: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    """Full public records (:func:`~.summary.public_record`) by id: every open incident, the API's
    latest incidents and those with updates in the feed."""

    @property
    def banner(self) -> str:
        return INDICATOR_BANNERS[self.indicator]

    @property
    def description(self) -> str:
        return INDICATOR_DESCRIPTIONS[self.indicator]


@dataclass
class Scan:
    """What :func:`compute_view` needs of every summary besides the two orders (see :func:`_scan`)."""

    named: Iterable[str]
    """Every component id the incidents name."""
    updated_at: dict[str, int]
    """Per component, its latest public update."""
    live: list[IncidentView]
    """The summaries :func:`is_live` for this window, newest first by ``(started, id)``."""
    latest: int | None
    """The latest public update of all."""


def compute_view(
    config: Config,
    views: Sequence[IncidentView],
    now: datetime,
    records: Mapping[str, dict[str, Any]],
    scan: Scan | None = None,
) -> SiteView:
    """Compute the whole site's shared state from every published incident's summary.

    ``records`` holds the full public record (:func:`~.summary.public_record`) of at least every open
    incident. With ``scan`` (kept between builds, see :mod:`.state`), ``views`` is already newest first
    by ``(started, id)`` and only the summaries the view shows are read.
    """
    now = now.astimezone(UTC).replace(microsecond=0)
    window = _Window.ending(now, config)
    if scan is None:
        views = sorted(views, key=operator.attrgetter("started", "id"), reverse=True)  # linear when sorted already
        scan = _scan(views, window)
    named, updated_at, live, latest = scan.named, scan.updated_at, scan.live, scan.latest
    ids = _component_ids(config, named)
    tally = _Tally.start(ids)
    tally.updated_at = updated_at
    maintenances = [view for view in live if view.is_maintenance]
    for view in reversed(live):  # oldest first, so day lists read in time order
        tally.add(config, view, window)
    components = _component_views(config, ids, tally, window)
    groups, ungrouped = _group_views(components)
    settings = config.channels.statuspage
    return SiteView(
        config=config,
        now=now,
        title=site_title(config),
        indicator=tally.overall,
        components=components,
        groups=groups,
        ungrouped=ungrouped,
        incidents=views,
        active=[with_record(item, records[item.id]) for item in reversed(tally.active)],  # newest first
        history=paginate_history(views, settings.history_page_size if settings else 50),
        past=list(itertools.islice((view for view in views if view.is_incident and not view.is_open), PAST_SHOWN)),
        updated_at=from_micros(latest) if latest is not None else now,
        days=window.days,
        maintenances=sorted(maintenances, key=_window_key, reverse=True),
        active_maintenances=[
            with_record(item, records[item.id]) for item in sorted(tally.maintenance, key=_window_key)
        ],
        upcoming=[with_record(item, records[item.id]) for item in sorted(tally.upcoming, key=_window_key)],
        records=records,
    )


def _window_key(view: IncidentView) -> tuple[int, int, str]:
    return (view.scheduled_for or view.started, view.scheduled_until or view.last, view.id)


def site_title(config: Config) -> str:
    """``channels.statuspage.title``, else ``<organization> Status``."""
    settings = config.channels.statuspage
    return (settings.title if settings and settings.title else None) or f"{config.organization} Status"


@dataclass(frozen=True)
class _Window:
    """The bars' :data:`~.availability.BAR_DAYS` local days, ending today."""

    now: datetime
    now_us: int
    zone: ZoneInfo
    days: list[date]
    start: datetime
    """Midnight (local) of the first day."""
    start_us: int
    day_index: dict[date, int]

    @classmethod
    def ending(cls, now: datetime, config: Config) -> _Window:
        zone = config.tz
        today = now.astimezone(zone).date()
        days = [today - timedelta(days=offset) for offset in range(BAR_DAYS - 1, -1, -1)]
        start = local_day_start(days[0], zone)
        return cls(
            now=now,
            now_us=micros(now),
            zone=zone,
            days=days,
            start=start,
            start_us=micros(start),
            day_index={day: index for index, day in enumerate(days)},
        )


def is_live(view: IncidentView, start_us: int) -> bool:
    """Can ``view`` change a figure besides its components' latest update, for a bars' window starting
    at ``start_us``? Open incidents and maintenances can, and whatever ended inside the window. Most of
    a long history cannot (resolved before the window); a later ``start_us`` never makes one live again."""
    resolved = view.resolved
    return resolved is None or view.is_open or view.kind == "maintenance" or resolved > start_us or view.last > start_us


def window_start_us(now: datetime, config: Config) -> int:
    """Where the bars' window starts for ``now`` (microseconds; see :func:`is_live`)."""
    return _Window.ending(now.astimezone(UTC).replace(microsecond=0), config).start_us


def _scan(views: Sequence[IncidentView], window: _Window) -> Scan:
    """One lean pass over every summary (``views``: newest first): only the live ones are tallied."""
    named: set[tuple[str, str]] = set()
    updated_at: dict[str, int] = {}
    live: list[IncidentView] = []
    start_us = window.start_us
    floor = -(2**62)
    for view in views:
        named.update(view.component_names)
        for cid, at in view.updated:
            if at > updated_at.get(cid, floor):
                updated_at[cid] = at
        if is_live(view, start_us):
            live.append(view)
    latest = max((view.last for view in views), default=None)
    return Scan({cid for cid, _ in named}, updated_at, live, latest)


def _component_ids(config: Config, named: Iterable[str]) -> list[str]:
    """Configured component ids in order, then any others the incidents name (sorted)."""
    configured = {component.id: component for component in config.components}
    extra = sorted({cid for cid in named if cid not in configured})
    return [*configured, *extra]


@dataclass
class _Tally:
    """What the incidents add up to, per component: status now, worst impact per day, downtime spans."""

    worst_day: dict[str, list[str]]
    day_incidents: dict[str, list[list[DayIncident]]]
    spans: dict[str, list[tuple[datetime, datetime, str]]]
    status: dict[str, str]
    updated_at: dict[str, int] = field(default_factory=dict)
    active: list[IncidentView] = field(default_factory=list)
    """Open incidents, oldest first."""
    maintenance: list[IncidentView] = field(default_factory=list)
    """Maintenances in progress or verifying."""
    upcoming: list[IncidentView] = field(default_factory=list)
    """Maintenances still scheduled."""
    maintenance_seen: dict[str, str] = field(default_factory=dict)
    """Per component with maintenance in the window: ``excluded`` or ``counted`` (see ComponentView)."""
    overall: str = "none"

    @classmethod
    def start(cls, ids: list[str]) -> _Tally:
        return cls(
            worst_day={cid: ["operational"] * BAR_DAYS for cid in ids},
            day_incidents={cid: [[] for _ in range(BAR_DAYS)] for cid in ids},
            spans={cid: [] for cid in ids},
            status=dict.fromkeys(ids, "operational"),
        )

    def add(self, config: Config, view: IncidentView, window: _Window) -> None:
        """Tally one view of :func:`_scan`'s ``live`` (each component's latest update is its ``updated_at``)."""
        if view.is_maintenance:
            self._add_maintenance(view)
        elif view.is_open:
            self._add_open(config, view)
        # Every span of a resolved incident ends by its resolution or last entry: one wholly before
        # the window adds nothing (most of a long history), so its spans are not even looked at.
        if view.resolved is None or max(view.resolved, view.last) > window.start_us:
            self._add_spans(view, window)

    def _add_open(self, config: Config, view: IncidentView) -> None:
        """An open incident sets the banner and the components' current status."""
        self.active.append(view)
        contribution = _current_indicator(config, view)
        if INDICATOR_RANK[contribution] > INDICATOR_RANK[self.overall]:
            self.overall = contribution
        for cid, impact in view.current:
            if IMPACT_RANK[impact] > IMPACT_RANK[self.status[cid]]:
                self.status[cid] = impact

    def _add_maintenance(self, view: IncidentView) -> None:
        """An active maintenance puts its components under maintenance and, alone, the banner at
        ``maintenance`` (any open incident outranks it); a scheduled one changes nothing yet."""
        if view.is_upcoming:
            self.upcoming.append(view)
            return
        if not view.is_active:
            return
        self.maintenance.append(view)
        if INDICATOR_RANK["maintenance"] > INDICATOR_RANK[self.overall]:
            self.overall = "maintenance"
        for cid, impact in view.current:
            if IMPACT_RANK[impact] > IMPACT_RANK[self.status[cid]]:
                self.status[cid] = impact

    def _add_spans(self, view: IncidentView, window: _Window) -> None:
        """An incident's impact spans: downtime for the uptime figure, the worst impact per day for the bars."""
        end_of_incident = view.resolved if view.resolved is not None else max(window.now_us, view.last)
        worst_for_incident: dict[tuple[str, int], str] = {}
        for cid, start_us, end_value, impact in view.spans:
            end_us = end_value if end_value is not None else end_of_incident
            # Spans wholly before the window or after now change no figure: skip them early.
            if end_us <= start_us or end_us <= window.start_us or start_us > window.now_us:
                continue
            start, end = from_micros(start_us), from_micros(end_us)
            if view.is_maintenance:
                # Maintenance is downtime only when marked so; its bar colour is its own either way.
                counted = view.counts_as_downtime
                if counted or self.maintenance_seen.get(cid) != "counted":
                    self.maintenance_seen[cid] = "counted" if counted else "excluded"
                if counted:
                    self.spans[cid].append((start, end, MAINTENANCE_DOWNTIME))
            else:
                self.spans[cid].append((start, end, impact))
            first = max(start, window.start).astimezone(window.zone).date()
            last = (min(end, window.now) - timedelta(microseconds=1)).astimezone(window.zone).date()
            day = first
            while day <= last:
                index = window.day_index.get(day)
                if index is not None:
                    seen = worst_for_incident.get((cid, index), "operational")
                    if IMPACT_RANK[impact] > IMPACT_RANK[seen]:
                        worst_for_incident[(cid, index)] = impact
                day += timedelta(days=1)
        for (cid, index), impact in worst_for_incident.items():
            if IMPACT_RANK[impact] > IMPACT_RANK[self.worst_day[cid][index]]:
                self.worst_day[cid][index] = impact
            self.day_incidents[cid][index].append(DayIncident(view.id, view.title, impact))


def _component_views(config: Config, ids: list[str], tally: _Tally, window: _Window) -> list[ComponentView]:
    configured = {component.id: component for component in config.components}
    window_seconds = max((window.now - window.start).total_seconds(), 1.0)
    components: list[ComponentView] = []
    for position, cid in enumerate(ids, start=1):
        setting = configured.get(cid)
        downtime = weighted_downtime(tally.spans[cid], window.start, window.now)
        uptime = max(0.0, 100.0 * (1.0 - downtime / window_seconds))
        stamp = tally.updated_at.get(cid)
        bar = bar_segments(window.days, tally.worst_day[cid], tally.day_incidents[cid])
        components.append(
            ComponentView(
                id=cid,
                name=setting.name if setting else cid,
                group=setting.group if setting else None,
                description=setting.description if setting else None,
                position=position,
                status=tally.status[cid],
                updated_at=from_micros(stamp) if stamp is not None else None,
                uptime=uptime,
                bar=bar,
                incident_days=sum(1 for segment in bar if segment.incidents),
                maintenance=tally.maintenance_seen.get(cid, ""),
            )
        )
    return components


def _group_views(components: list[ComponentView]) -> tuple[list[GroupView], list[ComponentView]]:
    """The groups (in order of their first component, each with its worst status) and the ungrouped components."""
    groups: list[GroupView] = []
    ungrouped: list[ComponentView] = []
    members: dict[str, list[ComponentView]] = {}
    for component in components:
        if component.group:
            members.setdefault(component.group, []).append(component)
        else:
            ungrouped.append(component)
    ids = unique_group_ids(members)
    for position, (name, children) in enumerate(members.items(), start=len(components) + 1):
        worst = max((child.status for child in children), key=lambda impact: IMPACT_RANK[impact])
        groups.append(GroupView(id=ids[name], name=name, status=worst, position=position, components=tuple(children)))
    return groups, ungrouped


def _current_indicator(config: Config, view: IncidentView) -> str:
    """What an open incident contributes to the page banner right now."""
    if not view.current:
        return severity_indicator(config, view.severity)
    worst = max((impact for _, impact in view.current), key=lambda impact: IMPACT_RANK[impact])
    # Components back to operational while the incident is still open (monitoring): still a minor issue.
    return IMPACT_TO_INDICATOR[worst] if worst != "operational" else "minor"

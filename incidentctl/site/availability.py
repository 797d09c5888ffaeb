"""Availability maths: the 90-day bars and the uptime figure of each component.

Downtime is weighted the way Statuspage does it (:data:`DOWNTIME_WEIGHT`); overlapping incidents
count once, at the worst weight.
"""

from __future__ import annotations

import functools
import heapq
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from ..vocabulary import IMPACT_LABELS

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo


BAR_DAYS = 90


#: Share of a minute counted as downtime in the uptime figure (Statuspage's weighting).
DOWNTIME_WEIGHT = {"major_outage": 1.0, "partial_outage": 0.3, "maintenance_downtime": 1.0}
#: The span impact of a maintenance marked ``counts_as_downtime``: the whole window is downtime.
#: (Maintenance not so marked never enters the uptime figure; ``under_maintenance`` weighs 0.)
MAINTENANCE_DOWNTIME = "maintenance_downtime"


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


def weighted_downtime(spans: list[tuple[datetime, datetime, str]], start: datetime, end: datetime) -> float:
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


def local_day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


@functools.lru_cache(maxsize=4096)
def _day_label(day: date, *, year: bool = True) -> str:
    """``Mar 02, 2025`` (``year=False``: ``Mar 02``): each day's label made once, not per component."""
    return f"{day:%b %d, %Y}" if year else f"{day:%b %d}"


def bar_segments(days: list[date], worst: list[str], incidents: list[list[DayIncident]]) -> tuple[BarSegment, ...]:
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
            first, last = days[run_start], days[index - 1]
            span = index - run_start
            label = (f"{_day_label(first, year=False)} – " if span > 1 else "") + f"{_day_label(last)}: no incidents"
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
                    label=f"{_day_label(days[index])}: {named if incidents[index] else 'no incidents'}",
                )
            )
    return tuple(segments)


def format_uptime(value: float) -> str:
    """``99.95%``: rounded down, so a bad minute never shows as a clean 100%."""
    if value >= 100.0:
        return "100%"
    return f"{math.floor(value * 100) / 100:.2f}%"

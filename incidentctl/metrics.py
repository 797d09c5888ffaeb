"""Figures computed from an incident's timeline: durations, time to identify/mitigate/resolve,
silences, updates on time, impact per component. The postmortem renders them, ``stats`` sums them.

Definitions used by every figure (the rendered postmortem states them too):

- **identified**: the first entry (public or internal) whose status is ``identified`` or later.
- **mitigated**: the earlier of the first ``monitoring``/``resolved`` entry and, when some component
  was worse than ``degraded_performance``, the first entry after which none is.
- **resolved**: when the incident was last resolved. All three are counted from the first entry.
- **impact per component**: time spent in any state other than ``operational``.
- **silence**: a stretch without a public update: from the start to the first public entry,
  between public entries, and from the last one to the resolution (or to now while open).
- **update on time**: a public update posted by the deadline the previous one set (its promised
  ``next_update_by``, else the severity's cadence).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .durations import isoformat_z, utcnow
from .vocabulary import IMPACT_RANK

if TYPE_CHECKING:
    from .config import Config
    from .model import Incident

_MITIGATED_RANK = IMPACT_RANK["degraded_performance"]


@dataclass(frozen=True)
class Silence:
    """A stretch of time without a public update."""

    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def to_json(self) -> dict[str, Any]:
        return {
            "from": isoformat_z(self.start),
            "to": isoformat_z(self.end),
            "seconds": int(self.length.total_seconds()),
        }


@dataclass(frozen=True)
class ComponentImpact:
    """How one component was affected during the incident."""

    component: str
    name: str
    worst: str
    impacted: timedelta
    first_impacted_at: datetime | None
    restored_at: datetime | None
    """When it was last back to operational (None while still impacted)."""


@dataclass(frozen=True)
class IncidentMetrics:
    """Figures computed from an incident's timeline (see the module docstring for definitions)."""

    started_at: datetime
    end: datetime
    """The resolution, or ``now`` while the incident is open."""
    ongoing: bool
    identified_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    public_updates: int
    internal_entries: int
    silences: list[Silence]
    updates_judged: int
    updates_on_time: int
    components: list[ComponentImpact] = field(default_factory=list)

    @property
    def duration(self) -> timedelta:
        return self.end - self.started_at

    @property
    def time_to_identify(self) -> timedelta | None:
        return self.identified_at - self.started_at if self.identified_at else None

    @property
    def time_to_mitigate(self) -> timedelta | None:
        return self.mitigated_at - self.started_at if self.mitigated_at else None

    @property
    def time_to_resolve(self) -> timedelta | None:
        return self.resolved_at - self.started_at if self.resolved_at else None

    @property
    def longest_silence(self) -> Silence | None:
        return max(self.silences, key=lambda silence: silence.length, default=None)

    def to_json(self) -> dict[str, Any]:
        def seconds(value: timedelta | None) -> int | None:
            return int(value.total_seconds()) if value is not None else None

        longest = self.longest_silence
        return {
            "duration_seconds": seconds(self.duration),
            "ongoing": self.ongoing,
            "time_to_identify_seconds": seconds(self.time_to_identify),
            "time_to_mitigate_seconds": seconds(self.time_to_mitigate),
            "time_to_resolve_seconds": seconds(self.time_to_resolve),
            "public_updates": self.public_updates,
            "internal_entries": self.internal_entries,
            "longest_silence": longest.to_json() if longest else None,
            "updates_on_time": self.updates_on_time,
            "updates_judged": self.updates_judged,
            "components": {
                item.component: {"worst": item.worst, "impact_seconds": seconds(item.impacted)}
                for item in self.components
            },
        }


def incident_metrics(incident: Incident, config: Config | None = None, now: datetime | None = None) -> IncidentMetrics:
    """Compute the figures for ``incident`` (``now`` ends the open ones; default: the clock)."""
    timeline = incident.timeline
    resolved_at = incident.resolved_at
    end = resolved_at or max(now or utcnow(), timeline[-1].at)
    started = incident.started_at

    identified_at = next((entry.at for entry in timeline if entry.status != "investigating"), None)
    mitigated_at = next((entry.at for entry in timeline if entry.status in ("monitoring", "resolved")), None)
    state: dict[str, str] = {}
    was_down = False
    for entry in timeline:
        state.update(entry.components)
        worst = max((IMPACT_RANK[impact] for impact in state.values()), default=0)
        if worst > _MITIGATED_RANK:
            was_down = True
        elif was_down:
            if mitigated_at is None or entry.at < mitigated_at:
                mitigated_at = entry.at
            break

    public = incident.public_entries
    points = [started, *(entry.at for entry in public)]
    if end > points[-1]:
        points.append(end)
    silences = [Silence(a, b) for a, b in itertools.pairwise(points) if b > a]

    on_time = judged = 0
    cadence = (
        config.severities[incident.severity].update_every if config and incident.severity in config.severities else None
    )
    for before, after in itertools.pairwise(public):
        if before.status == "resolved":
            continue  # nothing is promised after a resolution
        deadline = before.next_update_by or (before.at + cadence if cadence else None)
        if deadline is None:
            continue
        judged += 1
        on_time += after.at <= deadline

    return IncidentMetrics(
        started_at=started,
        end=end,
        ongoing=resolved_at is None,
        identified_at=identified_at,
        mitigated_at=mitigated_at,
        resolved_at=resolved_at,
        public_updates=len(public),
        internal_entries=len(timeline) - len(public),
        silences=silences,
        updates_judged=judged,
        updates_on_time=on_time,
        components=_component_impacts(incident, config, end),
    )


def _component_impacts(incident: Incident, config: Config | None, end: datetime) -> list[ComponentImpact]:
    since: dict[str, datetime | None] = {}
    total: dict[str, timedelta] = {}
    worst: dict[str, str] = {}
    first: dict[str, datetime] = {}
    restored: dict[str, datetime | None] = {}
    for entry in incident.timeline:
        for component, impact in entry.components.items():
            total.setdefault(component, timedelta(0))
            worst.setdefault(component, "operational")
            if IMPACT_RANK[impact] > IMPACT_RANK[worst[component]]:
                worst[component] = impact
            down_since = since.get(component)
            if impact == "operational":
                if down_since is not None:
                    total[component] += entry.at - down_since
                    restored[component] = entry.at
                since[component] = None
            elif down_since is None:
                since[component] = entry.at
                first.setdefault(component, entry.at)
                restored[component] = None
    for component, down_since in since.items():
        if down_since is not None:
            total[component] += end - down_since
    return [
        ComponentImpact(
            component=component,
            name=config.component_name(component) if config else component,
            worst=worst[component],
            impacted=total[component],
            first_impacted_at=first.get(component),
            restored_at=restored.get(component),
        )
        for component in total
    ]

"""``incidentctl stats``: counts and durations over any period, computed from the records.

Incidents are selected by when they started: ``since <= started_at < until``. Open incidents are
counted, and their impact and silences run to ``now``; times to resolve use resolved ones only.

Maintenances are counted apart (never in the incident figures), selected by their planned start
(``since <= scheduled_for < until``): how many, completed, cancelled, and the planned minutes (their
windows) against the actual minutes (from the start to the completion or cancellation; to ``now``
while one runs).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .durations import isoformat_z, utcnow
from .metrics import IncidentMetrics, incident_metrics

if TYPE_CHECKING:
    from .config import Config
    from .model import Incident

#: How many incidents the "longest silences" list shows.
SILENCES_SHOWN = 5


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


@dataclass
class SeverityStats:
    incidents: int = 0
    open: int = 0
    resolve_seconds: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "incidents": self.incidents,
            "open": self.open,
            "mean_time_to_resolve_seconds": _round(_mean(self.resolve_seconds)),
            "median_time_to_resolve_seconds": _round(_median(self.resolve_seconds)),
        }


@dataclass
class ComponentStats:
    incidents: int = 0
    impact_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"incidents": self.incidents, "impact_minutes": round(self.impact_seconds / 60)}


@dataclass
class MaintenanceStats:
    """Scheduled maintenance, apart from incidents."""

    count: int = 0
    completed: int = 0
    cancelled: int = 0
    planned_seconds: float = 0.0
    actual_seconds: float = 0.0

    def add(self, incident: Incident, now: datetime) -> None:
        assert incident.scheduled_for is not None and incident.scheduled_until is not None
        self.count += 1
        if incident.status == "completed":
            self.completed += 1
        elif incident.status == "cancelled":
            self.cancelled += 1
        self.planned_seconds += (incident.scheduled_until - incident.scheduled_for).total_seconds()
        started = next((entry.at for entry in incident.timeline if entry.status == "in_progress"), None)
        if started is not None:
            self.actual_seconds += max(0.0, ((incident.resolved_at or now) - started).total_seconds())

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "completed": self.completed,
            "cancelled": self.cancelled,
            "open": self.count - self.completed - self.cancelled,
            "planned_minutes": round(self.planned_seconds / 60),
            "actual_minutes": round(self.actual_seconds / 60),
        }


@dataclass
class Stats:
    """Everything ``stats`` reports for one period."""

    since: datetime | None
    until: datetime | None
    now: datetime
    incidents: int = 0
    open: int = 0
    resolve_seconds: list[float] = field(default_factory=list)
    identify_seconds: list[float] = field(default_factory=list)
    mitigate_seconds: list[float] = field(default_factory=list)
    updates: list[int] = field(default_factory=list)
    on_time: int = 0
    judged: int = 0
    per_severity: dict[str, SeverityStats] = field(default_factory=dict)
    per_component: dict[str, ComponentStats] = field(default_factory=dict)
    silences: list[tuple[str, str, IncidentMetrics]] = field(default_factory=list)
    """(incident id, title, metrics) for every incident with a silence, longest first."""
    maintenance: MaintenanceStats = field(default_factory=MaintenanceStats)

    def to_json(self) -> dict[str, Any]:
        return {
            "since": isoformat_z(self.since) if self.since else None,
            "until": isoformat_z(self.until) if self.until else None,
            "now": isoformat_z(self.now),
            "incidents": self.incidents,
            "open": self.open,
            "resolved": self.incidents - self.open,
            "time_to_resolve": _summary(self.resolve_seconds),
            "time_to_identify": _summary(self.identify_seconds),
            "time_to_mitigate": _summary(self.mitigate_seconds),
            "per_severity": {name: item.to_json() for name, item in self.per_severity.items()},
            "per_component": {name: item.to_json() for name, item in self.per_component.items()},
            "updates_per_incident": {
                "mean": _round(_mean([float(n) for n in self.updates]), 2),
                "median": _round(_median([float(n) for n in self.updates]), 2),
                "max": max(self.updates, default=None),
                "total": sum(self.updates),
            },
            "updates_on_time": {"on_time": self.on_time, "judged": self.judged},
            "longest_silences": [
                {"id": incident_id, "title": title, **longest.to_json()}
                for incident_id, title, metrics in self.silences[:SILENCES_SHOWN]
                if (longest := metrics.longest_silence) is not None
            ],
            "maintenance": self.maintenance.to_json(),
        }


def _round(value: float | None, digits: int = 0) -> float | int | None:
    if value is None:
        return None
    return round(value, digits) if digits else round(value)


def _summary(values: list[float]) -> dict[str, Any]:
    return {"count": len(values), "mean_seconds": _round(_mean(values)), "median_seconds": _round(_median(values))}


def compute_stats(
    incidents: Iterable[Incident],
    config: Config,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> Stats:
    """Stats for the incidents that started in ``[since, until)``."""
    moment = now or utcnow()
    result = Stats(since=since, until=until, now=moment)
    for name in config.severities:
        result.per_severity[name] = SeverityStats()
    for component_id in config.component_ids:
        result.per_component[component_id] = ComponentStats()
    for incident in incidents:
        if incident.is_maintenance:
            assert incident.scheduled_for is not None
            if (since is None or incident.scheduled_for >= since) and (until is None or incident.scheduled_for < until):
                result.maintenance.add(incident, moment)
            continue
        if since is not None and incident.started_at < since:
            continue
        if until is not None and incident.started_at >= until:
            continue
        metrics = incident_metrics(incident, config, moment)
        result.incidents += 1
        severity = result.per_severity.setdefault(incident.severity, SeverityStats())
        severity.incidents += 1
        if incident.is_open:
            result.open += 1
            severity.open += 1
        if metrics.time_to_resolve is not None:
            seconds = metrics.time_to_resolve.total_seconds()
            result.resolve_seconds.append(seconds)
            severity.resolve_seconds.append(seconds)
        if metrics.time_to_identify is not None:
            result.identify_seconds.append(metrics.time_to_identify.total_seconds())
        if metrics.time_to_mitigate is not None:
            result.mitigate_seconds.append(metrics.time_to_mitigate.total_seconds())
        result.updates.append(metrics.public_updates)
        result.on_time += metrics.updates_on_time
        result.judged += metrics.updates_judged
        for item in metrics.components:
            component = result.per_component.setdefault(item.component, ComponentStats())
            component.incidents += 1
            component.impact_seconds += item.impacted.total_seconds()
        if metrics.longest_silence is not None:
            result.silences.append((incident.id, incident.title, metrics))
    result.silences.sort(key=lambda row: (-_length(row[2]), row[0]))
    return result


def _length(metrics: IncidentMetrics) -> float:
    longest = metrics.longest_silence
    return longest.length.total_seconds() if longest else 0.0


def format_seconds(value: float | None) -> str:
    from .durations import format_duration

    return "-" if value is None else format_duration(timedelta(seconds=value))

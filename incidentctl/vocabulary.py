"""The words of an incident, in one place: statuses, component impacts, page indicators.

Every module that names, orders or labels a status, an impact or a Statuspage indicator reads it
from here (the record's schema, the CLI, the messages, the postmortem, the status page and its API).
Plain data only: importing this module costs nothing.
"""

from __future__ import annotations

from typing import Literal, get_args

# -- incident statuses ----------------------------------------------------------------------------

IncidentStatus = Literal["investigating", "identified", "monitoring", "resolved"]
#: In the order an incident goes through them.
STATUSES: tuple[str, ...] = get_args(IncidentStatus)

# -- maintenance statuses (Statuspage's scheduled maintenance) --------------------------------------

MaintenanceStatus = Literal["scheduled", "in_progress", "verifying", "completed", "cancelled"]
#: In the order a maintenance goes through them (``cancelled`` ends it at any point before completion).
MAINTENANCE_STATUSES: tuple[str, ...] = get_args(MaintenanceStatus)
#: Maintenance statuses during which its components are ``under_maintenance``.
MAINTENANCE_ACTIVE: frozenset[str] = frozenset({"in_progress", "verifying"})
#: Statuses that end a record: nothing more is promised, nothing is due.
FINISHED_STATUSES: frozenset[str] = frozenset({"resolved", "completed", "cancelled"})

#: Every status a timeline entry may have; which ones a record may use depends on its ``kind``.
Status = Literal[
    "investigating",
    "identified",
    "monitoring",
    "resolved",
    "scheduled",
    "in_progress",
    "verifying",
    "completed",
    "cancelled",
]
ALL_STATUSES: tuple[str, ...] = get_args(Status)

#: A record's kind: an unplanned incident, or planned maintenance.
Kind = Literal["incident", "maintenance"]
KINDS: tuple[str, ...] = get_args(Kind)


def statuses_of(kind: str) -> tuple[str, ...]:
    """The statuses a record of ``kind`` may use, in lifecycle order."""
    return MAINTENANCE_STATUSES if kind == "maintenance" else STATUSES


STATUS_LABELS = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
    "scheduled": "Scheduled",
    "in_progress": "In progress",
    "verifying": "Verifying",
    "completed": "Completed",
    "cancelled": "Cancelled",
}

# -- component impacts ----------------------------------------------------------------------------

Impact = Literal["operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"]
IMPACTS: tuple[str, ...] = get_args(Impact)
#: Impacts from least to most severe; ``under_maintenance`` counts as degraded for rollups.
IMPACT_RANK: dict[str, int] = {
    "operational": 0,
    "under_maintenance": 1,
    "degraded_performance": 2,
    "partial_outage": 3,
    "major_outage": 4,
}
IMPACT_LABELS = {
    "operational": "Operational",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "under_maintenance": "Under maintenance",
}


# -- Statuspage indicators (incident impact / page status) -----------------------------------------

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
#: How the page words an indicator when it names an incident's impact.
INDICATOR_WORDS = {
    "none": "No impact",
    "maintenance": "Maintenance",
    "minor": "Minor impact",
    "major": "Major impact",
    "critical": "Critical impact",
}
#: The indicator a component impact implies.
IMPACT_TO_INDICATOR = {
    "operational": "none",
    "under_maintenance": "maintenance",
    "degraded_performance": "minor",
    "partial_outage": "major",
    "major_outage": "critical",
}

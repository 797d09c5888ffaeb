"""The Statuspage-compatible JSON API (``api/v2/``): Statuspage's field names and values.

Written with :func:`json.dumps`, never a template, so no title can break the JSON. Ids are ours
(component ids, incident ids) because they are stable across builds; Statuspage's are random.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

from ..durations import isoformat_z
from .ids import api_update_id, ordinals
from .summary import IncidentView
from .view import ComponentView, GroupView, SiteView

INCIDENTS_LIMIT = 50
#: Statuspage's incident ``impact`` enum: a maintenance-only incident (components
#: ``under_maintenance``, none down) has no impact there, never ``maintenance``.
STATUSPAGE_IMPACTS = ("none", "minor", "major", "critical")


def _time(value: Any) -> str | None:
    return isoformat_z(value) if value is not None else None


def page_id(view: SiteView) -> str:
    slug = "".join(char if char.isalnum() else "-" for char in view.config.organization.lower())
    return "-".join(part for part in slug.split("-") if part) or "status"


def _url(view: SiteView, path: str) -> str:
    settings = view.config.channels.statuspage
    base = settings.url if settings and settings.url else None
    return f"{base.rstrip('/')}/{path}" if base else path


def page(view: SiteView) -> dict[str, Any]:
    return {
        "id": page_id(view),
        "name": view.title,
        "url": _url(view, ""),
        "time_zone": view.config.timezone,
        "updated_at": isoformat_z(view.updated_at),
    }


def status(view: SiteView) -> dict[str, str]:
    return {"indicator": view.indicator, "description": view.description}


def _first_seen(view: SiteView) -> str:
    oldest = view.incidents[-1].started_at if view.incidents else view.now
    return isoformat_z(oldest)


def component(view: SiteView, item: ComponentView, group_ids: dict[str, str]) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "status": item.status,
        "created_at": _first_seen(view),
        "updated_at": _time(item.updated_at) or _first_seen(view),
        "position": item.position,
        "description": item.description,
        "showcase": True,
        "start_date": None,
        "group_id": group_ids.get(item.group) if item.group else None,
        "page_id": page_id(view),
        "group": False,
        "only_show_if_degraded": False,
    }


def group(view: SiteView, item: GroupView) -> dict[str, Any]:
    stamps = [child.updated_at for child in item.components if child.updated_at is not None]
    return {
        "id": item.id,
        "name": item.name,
        "status": item.status,
        "created_at": _first_seen(view),
        "updated_at": _time(max(stamps)) if stamps else _first_seen(view),
        "position": item.position,
        "description": None,
        "showcase": False,
        "start_date": None,
        "group_id": None,
        "page_id": page_id(view),
        "group": True,
        "only_show_if_degraded": False,
        "components": [child.id for child in item.components],
    }


def components(view: SiteView) -> list[dict[str, Any]]:
    group_ids = {item.name: item.id for item in view.groups}
    listed = [component(view, item, group_ids) for item in view.components]
    listed.extend(group(view, item) for item in view.groups)
    return listed


#: Statuspage's maintenance statuses have no ``cancelled``: a cancelled maintenance ends as
#: ``completed`` there (its last update says it was cancelled; the page and calendar say so too).
API_STATUS = {"cancelled": "completed"}
#: How many maintenances ``scheduled-maintenances.json`` lists (Statuspage: the 50 most recent).
MAINTENANCES_LIMIT = 50


def _update(
    view: SiteView, incident_id: str, ordinal: int, entry: dict[str, Any], before: dict[str, str]
) -> dict[str, Any]:
    affected = [
        {
            "code": cid,
            "name": view.config.component_name(cid),
            "old_status": before.get(cid, "operational"),
            "new_status": impact,
        }
        for cid, impact in entry["components"].items()
    ]
    at = isoformat_z(entry["at"])
    return {
        "id": api_update_id(incident_id, entry["at"], ordinal),
        "status": API_STATUS.get(entry["status"], entry["status"]),
        "body": entry["message"],
        "incident_id": incident_id,
        "created_at": at,
        "updated_at": at,
        "display_at": at,
        "affected_components": affected or None,
        "deliver_notifications": True,
        "custom_tweet": None,
        "tweet_id": None,
    }


Updates = Callable[["SiteView", IncidentView], list[dict[str, Any]]]
"""An incident's ``incident_updates`` (:func:`updates`, or the same kept from an earlier build)."""


def updates(view: SiteView, item: IncidentView) -> list[dict[str, Any]]:
    """An incident's ``incident_updates``, newest first: made from its record and the config alone."""
    timeline = view.records[item.id]["timeline"]
    made = []
    current: dict[str, str] = {}
    for ordinal, entry in zip(ordinals(timeline), timeline, strict=True):
        made.append(_update(view, item.id, ordinal, entry, current))
        current.update(entry["components"])
    made.reverse()  # Statuspage lists the newest update first
    return made


def incident(
    view: SiteView, item: IncidentView, by_id: dict[str, dict[str, Any]], updates_of: Updates = updates
) -> dict[str, Any]:
    """One incident in Statuspage's shape (from its full public record in ``view.records``)."""
    timeline = view.records[item.id]["timeline"]
    monitoring = next((entry["at"] for entry in reversed(timeline) if entry["status"] == "monitoring"), None)
    return {
        "id": item.id,
        "name": item.title,
        "status": item.status,
        "created_at": isoformat_z(item.started_at),
        "updated_at": isoformat_z(timeline[-1]["at"]),
        "monitoring_at": _time(monitoring),
        "resolved_at": _time(item.resolved_at),
        "impact": item.impact if item.impact in STATUSPAGE_IMPACTS else "none",
        "shortlink": _url(view, item.path),
        "started_at": isoformat_z(item.started_at),
        "page_id": page_id(view),
        "incident_updates": updates_of(view, item),
        "components": [by_id[cid] for cid, _ in item.component_names if cid in by_id],
    }


def maintenance(
    view: SiteView, item: IncidentView, by_id: dict[str, dict[str, Any]], updates_of: Updates = updates
) -> dict[str, Any]:
    """One maintenance in Statuspage's scheduled-maintenance shape (an incident with a window)."""
    data = incident(view, item, by_id, updates_of)
    record = view.records[item.id]
    timeline = record["timeline"]
    reminded = next((entry["at"] for entry in timeline if entry.get("notice") == "reminder"), None)
    started = next((entry["at"] for entry in timeline if entry["status"] in ("in_progress", "verifying")), None)
    data.update(
        status=API_STATUS.get(item.status, item.status),
        impact="maintenance",
        started_at=isoformat_z(started) if started is not None else isoformat_z(item.started_at),
        scheduled_for=_time(record["scheduled_for"]),
        scheduled_until=_time(record["scheduled_until"]),
        scheduled_remind_prior=bool(view.config.maintenance.remind_before),
        scheduled_reminded_at=_time(reminded),
        scheduled_auto_in_progress=record["auto_start"],
        scheduled_auto_completed=record["auto_complete"],
    )
    return data


def documents(view: SiteView, updates_of: Updates = updates) -> dict[str, bytes]:
    """Every file under ``api/v2/``, relative path → bytes.

    Incidents and maintenances never mix: ``incidents*.json`` list incidents only (impact none,
    minor, major or critical), ``scheduled-maintenances*.json`` maintenances only (impact
    ``maintenance``); ``summary.json`` has the open incidents and the upcoming and active maintenances.
    """
    listed = components(view)
    by_id = {item["id"]: item for item in listed if not item["group"]}
    head = page(view)
    unresolved = [incident(view, item, by_id, updates_of) for item in view.active]
    newest = list(itertools.islice((item for item in view.incidents if item.is_incident), INCIDENTS_LIMIT))
    latest = [incident(view, item, by_id, updates_of) for item in newest]
    active = [maintenance(view, item, by_id, updates_of) for item in view.active_maintenances]
    upcoming = [maintenance(view, item, by_id, updates_of) for item in view.upcoming]
    recent = [maintenance(view, item, by_id, updates_of) for item in view.maintenances[:MAINTENANCES_LIMIT]]
    docs = {
        "api/v2/summary.json": {
            "page": head,
            "components": listed,
            "incidents": unresolved,
            "scheduled_maintenances": [*active, *upcoming],
            "status": status(view),
        },
        "api/v2/status.json": {"page": head, "status": status(view)},
        "api/v2/components.json": {"page": head, "components": listed},
        "api/v2/incidents.json": {"page": head, "incidents": latest},
        "api/v2/incidents/unresolved.json": {"page": head, "incidents": unresolved},
        "api/v2/scheduled-maintenances.json": {"page": head, "scheduled_maintenances": recent},
        "api/v2/scheduled-maintenances/upcoming.json": {"page": head, "scheduled_maintenances": upcoming},
        "api/v2/scheduled-maintenances/active.json": {"page": head, "scheduled_maintenances": active},
    }
    return {path: dump(data) for path, data in docs.items()}


def dump(data: Any) -> bytes:
    # Compact, like Statuspage's own API, and several times faster: indent=2 forces json's
    # pure-Python encoder, which was a quarter of the rebuild after one update.
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")

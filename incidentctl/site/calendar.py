"""``calendar.ics``: every published maintenance as an iCalendar event (RFC 5545), built with ``icalendar``.

One ``VEVENT`` per maintenance: a stable ``UID`` (its id and the page's), its current window in
UTC (``DTSTART``/``DTEND``), ``STATUS`` ``CONFIRMED`` or ``CANCELLED``, and a ``SEQUENCE`` that grows
with each public reschedule, so calendar apps replace the event instead of adding a second one.
Deterministic (SPEC: same repo and ``--now``, same bytes): ``DTSTAMP`` is the maintenance's last
public update, never the build time. ``icalendar`` is imported only here (the CLI starts fast).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..durations import isoformat_z
from ..vocabulary import IMPACT_LABELS, STATUS_LABELS
from .api import page_id
from .ids import TAG_AUTHORITY
from .summary import IncidentView
from .view import SiteView

CALENDAR = "calendar.ics"
PRODID = "-//incidentctl//status page maintenance calendar//EN"


def event_uid(view: SiteView, item: IncidentView) -> str:
    """Stable across builds and URL changes: the maintenance id and the page id."""
    return f"{item.id}@{page_id(view)}.{TAG_AUTHORITY.replace(',', '-')}"


def _url(view: SiteView, path: str) -> str | None:
    settings = view.config.channels.statuspage
    return f"{settings.url.rstrip('/')}/{path}" if settings and settings.url else None


def _description(view: SiteView, item: IncidentView, record: dict[str, Any]) -> str:
    timeline = record["timeline"]
    lines = [f"Status: {STATUS_LABELS.get(item.status, item.status)}"]
    if item.component_names:
        lines.append("Components: " + ", ".join(name for _, name in item.component_names))
    lines.append(
        "Counted as downtime in the uptime figures."
        if item.counts_as_downtime
        else "Not counted as downtime in the uptime figures."
    )
    first = next((entry["message"] for entry in timeline if entry["message"]), "")
    last = timeline[-1]
    if first:
        lines += ["", first]
    if last["message"] and last["message"] != first:
        lines += [
            "",
            f"{STATUS_LABELS.get(last['status'], last['status'])} ({isoformat_z(last['at'])}): {last['message']}",
        ]
    current = {cid: impact for entry in timeline for cid, impact in entry["components"].items()}
    if current and item.is_active:
        lines.append(
            "Now: " + "; ".join(f"{view.config.component_name(cid)}: {IMPACT_LABELS[i]}" for cid, i in current.items())
        )
    return "\n".join(lines)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(microsecond=0)


def build_calendar(view: SiteView) -> bytes:
    """The ``calendar.ics`` document: the maintenances in order of their window (earliest first)."""
    from icalendar import Calendar, Event

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"{view.title}: scheduled maintenance")
    calendar.add("x-wr-timezone", "UTC")
    for item in sorted(view.maintenances, key=lambda m: (m.scheduled_for or 0, m.id)):
        record = view.records[item.id]
        event = Event()
        event.add("uid", event_uid(view, item))
        changed = _utc(record["timeline"][-1]["at"])
        event.add("dtstamp", changed)
        event.add("created", _utc(item.started_at))
        event.add("last-modified", changed)
        event.add("dtstart", _utc(record["scheduled_for"]))
        event.add("dtend", _utc(record["scheduled_until"]))
        event.add("summary", f"Maintenance: {item.title}")
        event.add("description", _description(view, item, record))
        url = _url(view, item.path)
        if url:
            event.add("url", url)
        event.add("status", "CANCELLED" if item.status == "cancelled" else "CONFIRMED")
        event.add("sequence", item.reschedules)
        event.add("transp", "TRANSPARENT")
        event.add("categories", ["Maintenance"])
        calendar.add_component(event)
    document: bytes = calendar.to_ical()
    return document

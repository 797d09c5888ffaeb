"""Status at a glance for other sites: SVG badges, shields.io endpoint JSON, the widget JSON.

Every file is computed from the shared view (:class:`.view.SiteView`) alone, so a full and an
incremental build give the same bytes. Files:

- ``badge.svg`` and ``components/<id>/badge.svg``: self-contained SVG (no fonts, images or links
  to fetch), with a ``<title>`` and ``role="img"``/``aria-label``, text colours meeting WCAG AA.
- ``api/badge.json`` and ``api/badges/<id>.json``: shields.io's endpoint schema, exactly
  ``schemaVersion``, ``label``, ``message`` and ``color`` (shields rejects any other key).
- ``api/widget.json``: what an embedding site shows: the status, the components, the ongoing
  incidents and the maintenances.

A component under maintenance is shown as maintenance (blue), never as down. Component names are
untrusted: the SVG is written by ElementTree (a real serializer), the JSON by :func:`json.dumps`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

from ..durations import isoformat_z
from ..vocabulary import IMPACT_LABELS
from . import api
from .feed import ComponentFeed, _text, build_feed, component_feed_path, component_updates, feed_components, touching
from .state import finder
from .summary import IncidentView
from .view import ComponentView, SiteView

SVG = "http://www.w3.org/2000/svg"
OVERALL_BADGE = "badge.svg"
OVERALL_SHIELD = "api/badge.json"
WIDGET = "api/widget.json"

#: The label's background (shields' grey) and the text colour on every part of a badge.
LABEL_COLOR = "555555"
TEXT_COLOR = "ffffff"
#: Background per component impact, each dark enough for white text at WCAG AA (4.5:1, see the tests).
IMPACT_COLORS = {
    "operational": "1a7f37",
    "under_maintenance": "0969da",
    "degraded_performance": "9a6700",
    "partial_outage": "bc4c00",
    "major_outage": "cf222e",
}
#: The page indicator's badge message and the impact whose colour it takes.
INDICATOR_BADGES = {
    "none": ("operational", "operational"),
    "maintenance": ("under maintenance", "under_maintenance"),
    "minor": ("minor outage", "degraded_performance"),
    "major": ("partial outage", "partial_outage"),
    "critical": ("major outage", "major_outage"),
}
OVERALL_LABEL = "status"


def component_badge_path(component_id: str) -> str:
    return f"components/{component_id}/badge.svg"


def component_shield_path(component_id: str) -> str:
    return f"api/badges/{component_id}.json"


def overall_badge(view: SiteView) -> tuple[str, str, str]:
    """``(label, message, colour)`` of the whole page."""
    message, impact = INDICATOR_BADGES[view.indicator]
    return OVERALL_LABEL, message, IMPACT_COLORS[impact]


def component_badge(item: ComponentView) -> tuple[str, str, str]:
    """``(label, message, colour)`` of one component: under maintenance is blue, never an outage."""
    status = item.status if item.status in IMPACT_COLORS else "operational"
    return item.name, IMPACT_LABELS[status].lower(), IMPACT_COLORS[status]


# Verdana 11px advance widths (shields' badge font), rounded; ``textLength`` makes the text fit
# exactly, so a fallback font only changes the letter spacing, never the layout.
_NARROW = frozenset(" !'(),./:;I[]fijlrt|")
_WIDE = frozenset("MWmw@%")


def text_width(text: str) -> float:
    width = 0.0
    for char in text:
        if char in _NARROW:
            width += 3.9
        elif char in _WIDE:
            width += 10.5
        elif char.isupper() or char.isdigit():
            width += 7.5
        elif char.isascii():
            width += 6.6
        else:
            width += 8.0
    return round(width, 1)


def _clip(text: str, limit: int = 60) -> str:
    text = " ".join(_text(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def badge_svg(label: str, message: str, color: str) -> bytes:
    """A flat 20px badge: label on grey, message on ``color``; accessible and self-contained."""
    import xml.etree.ElementTree as ET  # only when one is drawn: most builds reuse them all

    label, message = _clip(label), _clip(message)
    summary = f"{label}: {message}"
    left = round(text_width(label) + 12)
    right = round(text_width(message) + 12)
    width = left + right
    svg = ET.Element(
        "svg",
        {
            "xmlns": SVG,
            "width": str(width),
            "height": "20",
            "viewBox": f"0 0 {width} 20",
            "role": "img",
            "aria-label": summary,
        },
    )
    ET.SubElement(svg, "title").text = summary
    shapes = ET.SubElement(svg, "g", {"shape-rendering": "crispEdges"})
    ET.SubElement(shapes, "rect", {"width": str(left), "height": "20", "fill": f"#{LABEL_COLOR}"})
    ET.SubElement(shapes, "rect", {"x": str(left), "width": str(right), "height": "20", "fill": f"#{color}"})
    texts = ET.SubElement(
        svg,
        "g",
        {
            "fill": f"#{TEXT_COLOR}",
            "text-anchor": "middle",
            "font-family": "Verdana,Geneva,DejaVu Sans,sans-serif",
            "font-size": "11",
            "aria-hidden": "true",
        },
    )
    for x, length, text in ((left / 2, left - 12, label), (left + right / 2, right - 12, message)):
        attributes = {"x": f"{x:g}", "y": "14", "textLength": str(length), "lengthAdjust": "spacingAndGlyphs"}
        ET.SubElement(texts, "text", attributes).text = text
    return ET.tostring(svg, encoding="unicode").encode("utf-8") + b"\n"


def shield(label: str, message: str, color: str) -> bytes:
    """shields.io's endpoint badge: these four keys only (shields rejects any other)."""
    data = {"schemaVersion": 1, "label": _clip(label), "message": _clip(message), "color": color}
    return api.dump(data)


def _url(view: SiteView, path: str) -> str:
    settings = view.config.channels.statuspage
    return f"{settings.url.rstrip('/')}/{path}" if settings and settings.url else path


def _ongoing(view: SiteView, item: IncidentView) -> dict[str, Any]:
    last = view.records[item.id]["timeline"][-1]
    current = dict(item.current)
    return {
        "id": item.id,
        "name": item.title,
        "status": item.status,
        "impact": item.impact,
        "started_at": isoformat_z(item.started_at),
        "updated_at": isoformat_z(last["at"]),
        "next_update_by": isoformat_z(last["next_update_by"]) if last["next_update_by"] else None,
        "url": _url(view, item.path),
        "components": [
            {"id": cid, "name": name, "status": current.get(cid, "operational")} for cid, name in item.component_names
        ],
    }


def _maintenance(view: SiteView, item: IncidentView) -> dict[str, Any]:
    record = view.records[item.id]
    current = dict(item.current)
    return {
        "id": item.id,
        "name": item.title,
        "status": item.status,
        "impact": "maintenance",
        "scheduled_for": isoformat_z(record["scheduled_for"]),
        "scheduled_until": isoformat_z(record["scheduled_until"]),
        "updated_at": isoformat_z(record["timeline"][-1]["at"]),
        "counts_as_downtime": item.counts_as_downtime,
        "url": _url(view, item.path),
        "components": [
            {"id": cid, "name": name, "status": current.get(cid, "operational")} for cid, name in item.component_names
        ],
    }


def widget(view: SiteView) -> dict[str, Any]:
    """``api/widget.json``: the page's status, its components and what is going on now."""
    with_files = {item.id for item in feed_components(view)}
    components = []
    for item in view.components:
        _, message, color = component_badge(item)
        entry: dict[str, Any] = {"id": item.id, "name": item.name, "status": item.status, "message": message}
        entry["color"] = color
        if item.id in with_files:
            entry["badge"] = component_badge_path(item.id)
            entry["feed"] = component_feed_path(item.id)
        components.append(entry)
    ongoing = [_ongoing(view, incident) for incident in view.active]
    _, message, color = overall_badge(view)
    return {
        "page": api.page(view),
        "status": {**api.status(view), "message": message, "color": color},
        "components": components,
        "ongoing_incidents": ongoing,
        "in_progress_maintenances": [_maintenance(view, item) for item in view.active_maintenances],
        "scheduled_maintenances": [_maintenance(view, item) for item in view.upcoming],
    }


def files(
    view: SiteView,
    load: Callable[[str], dict[str, Any]] | None = None,
    feeds: dict[str, ComponentFeed] | None = None,
) -> Iterator[tuple[str, list[str] | None, Callable[[], bytes]]]:
    """Every at-a-glance file as ``(path, key parts, render)``: component feeds and badges, then the overall ones.

    A component feed's key parts name its updates and their records' stamps, so an unchanged feed
    is reused without reading a record; a badge's (SVG and shields.io JSON) are its label, message
    and colour; the widget, computed from the view, is always rendered.
    ``load`` reads the full record of an incident the view does not hold; ``feeds``: every
    component's incidents and updates (:func:`~.feed.component_feeds`), when known already.
    """
    listed = touching(view.incidents) if feeds is None else {cid: found for cid, (found, _) in feeds.items()}
    find = finder(view.incidents)

    def record(incident_id: str) -> dict[str, Any]:
        found = view.records.get(incident_id)
        if found is None and load is not None:
            found = load(incident_id)
        if found is None:
            raise KeyError(incident_id)
        return found

    for item in feed_components(view):
        incidents = listed.get(item.id, [])
        known = feeds.get(item.id) if feeds is not None else None
        updates = known[1] if known is not None else component_updates(incidents)
        parts = [f"{at}:{incident_id}:{index}:{find(incident_id).stamp}" for at, incident_id, index in updates]
        if not updates:
            parts.append(isoformat_z(view.updated_at))  # an empty feed's <updated>
        render = functools.partial(build_feed, view, item, incidents, record, updates)
        yield component_feed_path(item.id), parts, render
        # A badge is its label, message and colour alone: those are its key (reused while they stay).
        badge = component_badge(item)
        yield component_badge_path(item.id), list(badge), functools.partial(badge_svg, *badge)
        yield component_shield_path(item.id), list(badge), functools.partial(shield, *badge)
    overall = overall_badge(view)
    yield OVERALL_BADGE, list(overall), functools.partial(badge_svg, *overall)
    yield OVERALL_SHIELD, list(overall), functools.partial(shield, *overall)
    yield WIDGET, None, lambda: api.dump(widget(view))

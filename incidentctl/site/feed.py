"""``feed.atom``: one Atom entry per public update, written by ElementTree (a real serializer)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from ..durations import isoformat_z
from ..promises import promise_time
from ..vocabulary import IMPACT_LABELS, STATUS_LABELS
from .api import page_id
from .ids import atom_entry_id, feed_id, ordinal_at
from .summary import IncidentView, unpack_times
from .view import SiteView

ATOM = "http://www.w3.org/2005/Atom"
#: The feed carries the newest updates only; the history page links everything.
FEED_LIMIT = 200
# XML 1.0 forbids most control characters; incident text is untrusted and may hold them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


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


def _text(value: str) -> str:
    return _XML_INVALID.sub("", value)


def build_feed(view: SiteView) -> bytes:
    """The Atom document: deterministic (no build time; ``updated`` is the newest update's time)."""
    ET.register_namespace("", ATOM)
    settings = view.config.channels.statuspage
    base = settings.url.rstrip("/") + "/" if settings and settings.url else None

    by_id = {item.id: item for item in view.incidents}
    updates = [
        (at, by_id[incident_id], index, view.records[incident_id]["timeline"][index - 1])
        for at, incident_id, index in newest_updates(view.incidents, FEED_LIMIT)
    ]

    feed = ET.Element(f"{{{ATOM}}}feed")
    if base:
        feed.set("{http://www.w3.org/XML/1998/namespace}base", base)
    ET.SubElement(feed, f"{{{ATOM}}}id").text = feed_id(page_id(view))
    ET.SubElement(feed, f"{{{ATOM}}}title").text = _text(view.title)
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = isoformat_z(view.updated_at)
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = _text(view.config.organization)
    ET.SubElement(feed, f"{{{ATOM}}}link", {"rel": "self", "href": "feed.atom", "type": "application/atom+xml"})
    ET.SubElement(feed, f"{{{ATOM}}}link", {"rel": "alternate", "href": "index.html", "type": "text/html"})
    for _, item, index, entry in updates:
        node = ET.SubElement(feed, f"{{{ATOM}}}entry")
        timeline = view.records[item.id]["timeline"]
        ET.SubElement(node, f"{{{ATOM}}}id").text = atom_entry_id(
            page_id(view), item.id, entry["at"], ordinal_at(timeline, index - 1)
        )
        ET.SubElement(node, f"{{{ATOM}}}title").text = _text(
            f"{STATUS_LABELS.get(entry['status'], entry['status'])}: {item.title}"
        )
        ET.SubElement(node, f"{{{ATOM}}}updated").text = isoformat_z(entry["at"])
        ET.SubElement(node, f"{{{ATOM}}}published").text = isoformat_z(entry["at"])
        ET.SubElement(node, f"{{{ATOM}}}link", {"rel": "alternate", "href": item.path, "type": "text/html"})
        lines = [entry["message"]] if entry["message"] else []
        for cid, impact in entry["components"].items():
            lines.append(f"{view.config.component_name(cid)}: {IMPACT_LABELS.get(impact, impact)}")
        if entry["next_update_by"] is not None:
            lines.append(f"Next update by {promise_time(entry['next_update_by'], entry['at'], view.config.tz)}")
        ET.SubElement(node, f"{{{ATOM}}}content", {"type": "text"}).text = _text("\n".join(lines))
    ET.indent(feed)
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document + b"\n"

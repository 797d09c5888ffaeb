"""``feed.atom`` and ``components/<id>/feed.atom``: one Atom entry per public update, written by
ElementTree (a real serializer). One builder for both: a component's feed is the site feed narrowed
to the incidents touching that component."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from typing import Any

from ..durations import format_duration, isoformat_z
from ..promises import promise_time
from ..render import local_time
from ..vocabulary import IMPACT_LABELS, STATUS_LABELS
from .api import page_id
from .ids import atom_entry_id, feed_id, ordinals
from .state import finder
from .summary import IncidentView, from_micros, unpack_times
from .view import ComponentView, SiteView

ATOM = "http://www.w3.org/2005/Atom"
#: The feed carries the newest updates only; the history page links everything.
FEED_LIMIT = 200
#: A component's feed carries fewer: readers and Slack's ``/feed`` only look at the newest.
COMPONENT_FEED_LIMIT = 50
# XML 1.0 forbids most control characters; incident text is untrusted and may hold them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def newest_updates(views: Sequence[IncidentView], limit: int, *, by_last: bool = False) -> list[tuple[int, str, int]]:
    """The newest ``limit`` public updates as ``(time, incident id, 1-based index)``, newest first.

    Reads the summaries only: the incidents are walked by their last update, newest first, and
    the walk stops once no later incident can hold an update among the newest ``limit``
    (``by_last``: ``views`` is in that order already, by ``(last, id)`` descending).
    """
    ordered = views if by_last else sorted(views, key=operator.attrgetter("last", "id"), reverse=True)
    found: list[tuple[int, str, int]] = []
    for view in ordered:
        if len(found) >= limit:
            found.sort(reverse=True)
            del found[limit:]
            if view.last < found[-1][0]:
                break
        found.extend((at, view.id, index) for index, at in enumerate(unpack_times(view.entry_times), start=1))
    found.sort(reverse=True)
    return found[:limit]


def touching(views: Sequence[IncidentView]) -> dict[str, list[IncidentView]]:
    """The incidents whose public timeline names each component, by component id (one pass)."""
    found: dict[str, list[IncidentView]] = {}
    for view in views:
        for cid, _ in view.component_names:
            found.setdefault(cid, []).append(view)
    return found


def feed_components(view: SiteView) -> list[ComponentView]:
    """The components that get a feed (and badges): every one whose id is safe as a path segment."""
    from ..model import ID_PATTERN

    return [item for item in view.components if ID_PATTERN.match(item.id)]


def component_feed_path(component_id: str) -> str:
    return f"components/{component_id}/feed.atom"


def component_updates(listed: Sequence[IncidentView]) -> list[tuple[int, str, int]]:
    """The updates a component feed shows (its incidents' newest ones): what its key is made of."""
    return newest_updates(listed, COMPONENT_FEED_LIMIT)


ComponentFeed = tuple[Sequence[IncidentView], list[tuple[int, str, int]]]
"""The incidents touching a component (newest update first) and the updates its feed shows."""


def component_feeds(by_last: Sequence[IncidentView]) -> dict[str, ComponentFeed]:
    """Per component with a safe id, its incidents and feed updates: ``by_last`` is every incident
    by ``(last, id)`` newest first, so each component's list is in that order and needs no sort."""
    from ..model import ID_PATTERN

    return {
        cid: (listed, newest_updates(listed, COMPONENT_FEED_LIMIT, by_last=True))
        for cid, listed in touching(by_last).items()
        if ID_PATTERN.match(cid)
    }


def component_feed_ids(views: Sequence[IncidentView]) -> set[str]:
    """The incidents some component feed shows (their records are worth keeping in the cache)."""
    from ..model import ID_PATTERN

    found: set[str] = set()
    for cid, listed in touching(views).items():
        if ID_PATTERN.match(cid):
            found.update(incident_id for _, incident_id, _ in component_updates(listed))
    return found


def _text(value: str) -> str:
    return _XML_INVALID.sub("", value)


def build_feed(
    view: SiteView,
    component: ComponentView | None = None,
    incidents: Sequence[IncidentView] | None = None,
    record: Callable[[str], dict[str, Any]] | None = None,
    picked: list[tuple[int, str, int]] | None = None,
) -> bytes:
    """The Atom document: deterministic (no build time; ``updated`` is the newest update's time).

    With ``component``: that component's feed (``incidents``: those touching it, see :func:`touching`),
    at ``components/<id>/feed.atom``; its links climb back to the site root when no URL is configured.
    ``record`` gives an incident's full public record (default: ``view.records``). Entry ids are the
    same in every feed an entry appears in, and never move (derived from the incident id and ``at``).
    """
    import xml.etree.ElementTree as ET  # only when one is drawn: most builds reuse them all

    ET.register_namespace("", ATOM)
    settings = view.config.channels.statuspage
    base = settings.url.rstrip("/") + "/" if settings and settings.url else None
    page = page_id(view)
    self_path = component_feed_path(component.id) if component is not None else "feed.atom"
    # With a URL, xml:base makes every link resolve from the site root; without one, links are
    # relative to the feed's own place.
    root = "" if base or component is None else "../../"
    get_record = record or view.records.__getitem__

    find = finder(view.incidents if incidents is None else incidents)
    if picked is None:
        picked = newest_updates(view.incidents, FEED_LIMIT) if incidents is None else component_updates(incidents)
    updates = [
        (at, find(incident_id), index, get_record(incident_id)["timeline"][index - 1])
        for at, incident_id, index in picked
    ]

    feed = ET.Element(f"{{{ATOM}}}feed")
    if base:
        feed.set("{http://www.w3.org/XML/1998/namespace}base", base)
    if component is None:
        ET.SubElement(feed, f"{{{ATOM}}}id").text = feed_id(page)
        ET.SubElement(feed, f"{{{ATOM}}}title").text = _text(view.title)
        ET.SubElement(feed, f"{{{ATOM}}}updated").text = isoformat_z(view.updated_at)
    else:
        ET.SubElement(feed, f"{{{ATOM}}}id").text = feed_id(f"{page}/components/{component.id}")
        ET.SubElement(feed, f"{{{ATOM}}}title").text = _text(f"{view.title}: {component.name}")
        newest = updates[0][0] if updates else None
        ET.SubElement(feed, f"{{{ATOM}}}updated").text = isoformat_z(
            from_micros(newest) if newest is not None else view.updated_at
        )
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = _text(view.config.organization)
    ET.SubElement(feed, f"{{{ATOM}}}link", {"rel": "self", "href": root + self_path, "type": "application/atom+xml"})
    ET.SubElement(feed, f"{{{ATOM}}}link", {"rel": "alternate", "href": root + "index.html", "type": "text/html"})
    numbered: dict[str, list[int]] = {}  # per incident: every entry's ordinal, in one pass
    for _, item, index, entry in updates:
        node = ET.SubElement(feed, f"{{{ATOM}}}entry")
        if item.id not in numbered:
            numbered[item.id] = ordinals(get_record(item.id)["timeline"])
        ET.SubElement(node, f"{{{ATOM}}}id").text = atom_entry_id(
            page, item.id, entry["at"], numbered[item.id][index - 1]
        )
        label = STATUS_LABELS.get(entry["status"], entry["status"])
        if item.is_maintenance:
            label = f"Maintenance {label.lower()}"
        ET.SubElement(node, f"{{{ATOM}}}title").text = _text(f"{label}: {item.title}")
        ET.SubElement(node, f"{{{ATOM}}}updated").text = isoformat_z(entry["at"])
        ET.SubElement(node, f"{{{ATOM}}}published").text = isoformat_z(entry["at"])
        ET.SubElement(node, f"{{{ATOM}}}link", {"rel": "alternate", "href": root + item.path, "type": "text/html"})
        lines = [entry["message"]] if entry["message"] else []
        if entry.get("scheduled_for") is not None and entry.get("scheduled_until") is not None:
            start, end = entry["scheduled_for"], entry["scheduled_until"]
            lines.append(
                f"Scheduled: {local_time(start, view.config.tz)} to {local_time(end, view.config.tz)}"
                f" ({format_duration(end - start)})"
            )
        for cid, impact in entry["components"].items():
            lines.append(f"{view.config.component_name(cid)}: {IMPACT_LABELS.get(impact, impact)}")
        if entry["next_update_by"] is not None:
            lines.append(f"Next update by {promise_time(entry['next_update_by'], entry['at'], view.config.tz)}")
        ET.SubElement(node, f"{{{ATOM}}}content", {"type": "text"}).text = _text("\n".join(lines))
    ET.indent(feed)
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document + b"\n"

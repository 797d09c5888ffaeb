"""Ids that do not move (SPEC "Ids that do not move").

An entry's id derives from its incident's id and its own ``at`` (never its position, never the
page URL), so backfilling an entry or setting ``statuspage.url`` later changes no other id and no
feed reader is notified twice. Two entries of one incident at the same instant are told apart by
their order among the entries at that instant only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from ..durations import isoformat_z

#: The tag URI authority (RFC 4151): fixed, so the ids survive a change of the page's URL.
TAG_AUTHORITY = "incidentctl,2024"


def entry_key(incident_id: str, at: datetime, ordinal: int = 1) -> str:
    """``<incident id>/<at, UTC ISO>`` (``#<n>`` for the n-th entry at one instant, n > 1)."""
    key = f"{incident_id}/{isoformat_z(at)}"
    return key if ordinal == 1 else f"{key}#{ordinal}"


def ordinal_at(timeline: Sequence[dict[str, Any]], index: int) -> int:
    """1 + how many earlier entries of ``timeline`` share entry ``index``'s (0-based) ``at``."""
    at = isoformat_z(timeline[index]["at"])
    return 1 + sum(1 for entry in timeline[:index] if isoformat_z(entry["at"]) == at)


def ordinals(timeline: Sequence[dict[str, Any]]) -> list[int]:
    """:func:`ordinal_at` of every entry of ``timeline``, in one pass."""
    seen: dict[str, int] = {}
    found: list[int] = []
    for entry in timeline:
        at = isoformat_z(entry["at"])
        seen[at] = count = seen.get(at, 0) + 1
        found.append(count)
    return found


def atom_entry_id(page: str, incident_id: str, at: datetime, ordinal: int = 1) -> str:
    """The Atom ``<id>`` of an entry: ``tag:incidentctl,2024:<page>/<incident>/<at>``."""
    return f"tag:{TAG_AUTHORITY}:{page}/{entry_key(incident_id, at, ordinal)}"


def feed_id(page: str) -> str:
    """The Atom feed's own ``<id>``: the same before and after ``statuspage.url`` is set."""
    return f"tag:{TAG_AUTHORITY}:{page}/feed"


def api_update_id(incident_id: str, at: datetime, ordinal: int = 1) -> str:
    """The API's ``incident_updates[].id``: a short hash, like Statuspage's 12-character ids."""
    return hashlib.sha256(entry_key(incident_id, at, ordinal).encode("utf-8")).hexdigest()[:12]


def slug(text: str) -> str:
    cleaned = "".join(char if char.isalnum() else "-" for char in text.lower())
    return "-".join(part for part in cleaned.split("-") if part)


def unique_group_ids(names: Iterable[str]) -> dict[str, str]:
    """Group name → an id unique among them: ``group-<slug>``, ``-2``, ``-3``… on a collision,
    ``group-<hash>`` when the name has no letter or digit (emoji only)."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        if name in ids:
            continue
        base = slug(name) or hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
        candidate, n = f"group-{base}", 1
        while candidate in taken:
            n += 1
            candidate = f"group-{base}-{n}"
        taken.add(candidate)
        ids[name] = candidate
    return ids

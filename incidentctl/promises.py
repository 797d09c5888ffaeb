"""The one way every message words a promised next update (Slack, X, the status page, the feed).

SPEC: a message that promises a next update prints its date as well as its time whenever the promise
is not on the same local day as the entry (a promise of 01:00 made at 23:30 is tomorrow, and says so).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def promise_time(value: Any, at: Any = None, tz: ZoneInfo | str = "UTC") -> str:
    """``14:30 EST`` on the entry's own local day, else ``Tue Dec 31, 01:00 EST`` (with the year when it differs)."""
    if value is None:
        return ""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    promised = _as_datetime(value).astimezone(zone)
    made = _as_datetime(at).astimezone(zone) if at is not None else None
    clock = promised.strftime("%H:%M %Z")
    if made is not None and made.date() == promised.date():
        return clock
    day = f"{promised:%a %b} {promised.day}"
    if made is None or made.year != promised.year:
        day += f" {promised.year}"
    return f"{day}, {clock}"

"""Durations and timestamps as people type and read them: ``30m``, ``4h 38m``, ISO 8601."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from .errors import UsageError

_DURATION = re.compile(r"(\d+)\s*([wdhms])", re.IGNORECASE)
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """Parse ``90s``, ``30m``, ``4h``, ``1h30m``, ``2d`` or a bare number of minutes."""
    raw = text.strip().replace(" ", "")
    if raw.isdigit():
        return timedelta(minutes=int(raw))
    pos = 0
    seconds = 0
    for match in _DURATION.finditer(raw):
        if match.start() != pos:
            break
        seconds += int(match.group(1)) * _UNITS[match.group(2).lower()]
        pos = match.end()
    if pos != len(raw) or not raw:
        raise UsageError(f"invalid duration {text!r}: use e.g. 30m, 4h, 1h30m, 2d")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta | float | int | None) -> str:
    """Render a duration the way people say it: ``4h 38m``, ``2d 3h``, ``45s``."""
    if value is None:
        return "-"
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        parts = [f"{days}d"] + ([f"{hours}h"] if hours else [])
    elif hours:
        parts = [f"{hours}h"] + ([f"{minutes}m"] if minutes else [])
    elif minutes:
        parts = [f"{minutes}m"]
    else:
        parts = [f"{secs}s"]
    return sign + " ".join(parts)


def utcnow() -> datetime:
    """Now, aware, in UTC, to the second (records never carry microseconds)."""
    return datetime.now(UTC).replace(microsecond=0)


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO 8601 timestamp from the command line; naive times are rejected, never guessed."""
    raw = text.strip()
    if raw.lower() == "now":
        return utcnow()
    try:
        value = datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        raise UsageError(f"invalid timestamp {text!r}: use ISO 8601, e.g. 2024-12-12T00:00:00Z") from None
    if value.tzinfo is None:
        raise UsageError(f"timestamp {text!r} has no time zone: add Z or an offset, e.g. 2024-12-11T19:00:00-05:00")
    return value.astimezone(UTC)


def parse_date(text: str) -> datetime:
    """Parse ``YYYY-MM-DD`` (midnight UTC) or a full timestamp, for ``--since``-style options."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        return parse_timestamp(text)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def parse_deadline(text: str, base: datetime) -> datetime:
    """A ``--next-update`` value: a duration counted from ``base`` or an absolute timestamp."""
    stripped = text.strip()
    if stripped and (stripped[0].isdigit() and not re.match(r"^\d{4}-\d{2}-\d{2}", stripped)):
        return base + parse_duration(stripped)
    return parse_timestamp(stripped)


def isoformat_z(value: datetime) -> str:
    """``2024-12-12T00:00:00Z``: the one spelling used in records and JSON."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

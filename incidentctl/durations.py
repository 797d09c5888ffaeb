"""Durations and timestamps as people type and read them: ``30m``, ``4h 38m``, ``5bd``, ISO 8601.

Also the calendar rules deadlines use: business days and the end of a local day.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from .errors import InputError, UsageError

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

_DURATION = re.compile(r"(\d+)\s*([wdhms])", re.IGNORECASE)
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """Parse ``90s``, ``30m``, ``4h``, ``1h30m``, ``2d`` or a bare number of minutes."""
    raw = text.strip().replace(" ", "")
    if len(raw) > 40:
        raise UsageError(f"invalid duration {text[:40]!r}...: too long")
    seconds = 0
    if raw.isdigit():
        seconds = int(raw) * 60
    else:
        pos = 0
        for match in _DURATION.finditer(raw):
            if match.start() != pos:
                break
            seconds += int(match.group(1)) * _UNITS[match.group(2).lower()]
            pos = match.end()
        if pos != len(raw) or not raw:
            raise UsageError(f"invalid duration {text!r}: use e.g. 30m, 4h, 1h30m, 2d")
    if seconds > MAX_DURATION_SECONDS:
        raise UsageError(f"duration {text!r} is too long (at most {MAX_DURATION_SECONDS // 86400 // 365} years)")
    return timedelta(seconds=seconds)


#: The longest duration anyone means (100 years): longer ones are typos that would overflow dates.
MAX_DURATION_SECONDS = 100 * 365 * 86400


def check_year(value: datetime, what: str) -> datetime:
    """Refuse a time outside the years 1970–9999 (SPEC), with exit 1."""
    from .model import MAX_YEAR, MIN_YEAR

    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise InputError(f"{what}: year {value.year} is outside {MIN_YEAR}–{MAX_YEAR} (a typo in the year?)")
    return value


def add(moment: datetime, delta: timedelta, what: str) -> datetime:
    """``moment + delta``, refused (exit 1) rather than overflowing past year 9999."""
    try:
        result = moment + delta
    except OverflowError:
        raise InputError(f"{what}: the time would be past the year 9999") from None
    return check_year(result, what)


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
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise InputError(f"timestamp {text!r}: the year must be between 1970 and 9999") from None
    return check_year(utc, f"timestamp {text!r}")


def parse_date(text: str) -> datetime:
    """Parse ``YYYY-MM-DD`` (midnight UTC) or a full timestamp, for ``--since``-style options."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        return parse_timestamp(text)
    return check_year(datetime(day.year, day.month, day.day, tzinfo=UTC), f"date {text!r}")


def parse_deadline(text: str, base: datetime) -> datetime:
    """A ``--next-update`` value: a duration counted from ``base`` or an absolute timestamp."""
    stripped = text.strip()
    if stripped and (stripped[0].isdigit() and not re.match(r"^\d{4}-\d{2}-\d{2}", stripped)):
        return add(base, parse_duration(stripped), f"--next-update {text!r}")
    return parse_timestamp(stripped)


def isoformat_z(value: datetime) -> str:
    """``2024-12-12T00:00:00Z``: the one spelling used in records and JSON."""
    utc = value.astimezone(UTC)
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}Z"  # strftime writes year 224 as "224"


# -- due periods and business days ----------------------------------------------------------------


def parse_due_period(text: str) -> int | timedelta:
    """A ``postmortem_due`` value: ``5bd`` gives 5 (business days), ``3d`` a duration (72 hours)."""
    stripped = text.strip()
    if stripped.endswith("bd") and stripped[:-2].isdigit():
        return int(stripped[:-2])
    return parse_duration(stripped)


def is_business_day(day: date) -> bool:
    """Monday to Friday (public holidays are not known to incidentctl)."""
    return day.weekday() < 5


def add_business_days(moment: datetime, days: int, tz: ZoneInfo) -> datetime:
    """``days`` business days after ``moment``, counted on local dates in ``tz``.

    The rule: take ``moment``'s local date and wall-clock time in ``tz``; step forward one calendar
    day at a time, counting only Monday–Friday, until ``days`` have been counted; the result is
    that date at the same wall-clock time. So a resolution on Friday 17:00 with ``5bd`` is due the
    next Friday 17:00, and one on Saturday 10:00 is due the Friday after (Monday is day 1). A wall
    time that does not exist on the due date (a spring-forward gap) resolves to the offset before
    the change, i.e. one hour later on the clock.
    """
    if days < 0:
        raise ValueError("business days must not be negative")
    local = moment.astimezone(tz)
    day = local.date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if is_business_day(day):
            counted += 1
    wall = datetime.combine(day, local.time().replace(tzinfo=None), tzinfo=tz)
    return wall.astimezone(UTC)


def add_due_period(moment: datetime, period: str, tz: ZoneInfo) -> datetime:
    """``moment`` plus a ``postmortem_due`` value: ``5bd`` (business days) or a duration (``3d``)."""
    parsed = parse_due_period(period)
    if isinstance(parsed, int):
        return add_business_days(moment, parsed, tz)
    return moment + parsed


def end_of_local_day(day: date, tz: ZoneInfo) -> datetime:
    """The instant the local date ``day`` ends in ``tz`` (midnight after it), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=tz).astimezone(UTC)

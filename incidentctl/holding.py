"""Holding updates: a public "no new information" entry when a promised update is overdue (opt-in per severity).

A severity with ``holding_update: {after: 10m}`` gets one when the promise of the incident's latest public
entry (its ``next_update_by``) is ``after`` late and nobody posted since: ``tick --publish`` writes it from
``templates/holding.txt.j2``, ``automatic: true``, ``notice: holding``, the status unchanged, and a new
promise of ``update_every``. Its time is the lapsed promise plus ``after`` (not the moment ``tick`` ran), so
two schedulers build the same entry and the second finds it there. A human public update makes a new
promise (nothing is due for the old one); while a snooze lasts nothing is posted, and a snooze that ends
later than the due time moves it to the end of the snooze. A scheduler that was down for whole cycles posts
one holding update for the current cycle, not one per missed cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from .durations import isoformat_z

if TYPE_CHECKING:
    from .config import Config
    from .model import Entry, Incident
    from .tick import Due

TEMPLATE = "holding.txt.j2"


@dataclass(frozen=True)
class Holding:
    """The holding update an incident is heading for: the promise that would lapse and when it goes out."""

    promise: datetime
    at: datetime

    @property
    def key(self) -> str:
        return f"holding:{isoformat_z(self.promise)}"


def next_holding(incident: Incident, config: Config, now: datetime | None = None) -> Holding | None:
    """When ``incident`` gets a holding update if nobody posts (None: holding updates off, nothing promised,
    finished). With ``now``, the incident as it stood then (later entries ignored)."""
    if incident.is_maintenance or incident.sample:
        return None
    setting = config.severities.get(incident.severity)
    if setting is None or setting.holding_update is None:
        return None
    timeline = [entry for entry in incident.timeline if now is None or entry.at <= now]
    if not timeline or timeline[-1].status == "resolved":
        return None
    public = [entry for entry in timeline if entry.public]
    if not public or public[-1].next_update_by is None:
        return None
    promise = public[-1].next_update_by
    at = promise + setting.holding_update.after
    every = setting.update_every
    if now is not None and every.total_seconds() > 0 and now >= at + every:
        # The scheduler was down for whole cycles: one holding update for the current cycle, not a burst of them.
        at += ((now - at) // every) * every
    snoozed = incident.reminders.snoozed_until if incident.reminders else None
    if snoozed is not None and snoozed > at:
        at = snoozed  # acknowledged: quiet until the snooze ends
    return Holding(promise, at)


def holding_entry(incident: Incident, config: Config, holding: Holding) -> Entry:
    """The holding entry for ``holding`` (rendered with the repo's template, else the packaged one)."""
    from .model import Delivery, Entry
    from .render import message_context
    from .templating import templates_for

    setting = config.severities[incident.severity]
    status = [entry for entry in incident.timeline if entry.at <= holding.at][-1].status
    entry = Entry(
        at=holding.at,
        status=status,
        message="",
        next_update_by=holding.at + setting.update_every,
        automatic=True,
        notice="holding",
        author="incidentctl",
    )
    view = incident.public_view()
    view = view.model_copy(update={"timeline": [*[e for e in view.timeline if e.at <= holding.at], entry]})
    context = message_context(view, entry, config)
    text = templates_for(config.root, config).render(TEMPLATE, **context, promised=holding.promise).strip()
    deliveries = {channel: Delivery() for channel in config.configured_channels()}
    return entry.model_copy(update={"message": " ".join(text.split()), "deliveries": deliveries})


def due_actions(incident: Incident, config: Config, now: datetime) -> list[Due]:
    """The holding update due on ``incident`` at ``now``, if any; re-decided under the lock by ``build``."""
    from .tick import Due

    found = next_holding(incident, config, now)
    if found is None or found.at > now:
        return []
    snoozed = incident.reminders.snoozed_until if incident.reminders else None
    if snoozed is not None and snoozed > now:
        return []

    def build(current: Incident, settings: Config, moment: datetime) -> Entry | None:
        again = next_holding(current, settings, moment)
        if again != found or found.at > moment:
            return None  # someone posted, snoozed, or another ticker wrote it first
        return holding_entry(current, settings, found)

    summary = f"holding update (the update promised by {isoformat_z(found.promise)} is late)"
    return [Due(incident.id, found.key, found.at, summary, build)]


def clock_lines(incident: Incident, config: Config, now: datetime) -> list[str]:
    """What the responder is told after opening or updating an incident: the promise, when the reminder
    fires and when a holding update would go out."""
    from .remind import next_update_due
    from .render import offset_time

    if not incident.is_open or incident.is_maintenance:
        return []
    severity = config.severities.get(incident.severity)
    if severity is None:
        return []
    tz = config.tz
    due = next_update_due(incident, severity)
    if due is None:
        return []
    public = incident.public_entries
    promised = public[-1].next_update_by if public else None
    what = "next public update promised by" if promised is not None else "next public update due by"
    line = f"{incident.id}: {what} {offset_time(due, tz)} ({_relative(due, now)})"
    snoozed = incident.reminders.snoozed_until if incident.reminders else None
    if snoozed is not None and snoozed > due:
        line += f"; reminders snoozed until {offset_time(snoozed, tz)}"
    else:
        line += "; the reminder (`remind --notify`) fires then"
    holding = next_holding(incident, config)
    if holding is not None:
        line += f"; a holding update goes out at {offset_time(holding.at, tz)} ({_relative(holding.at, now)}) unless you post first"
    elif severity.holding_update is None:
        line += "; no holding update (off for this severity)"
    return [line]


def _relative(when: datetime, now: datetime) -> str:
    from .durations import format_duration

    delta = when - now
    if delta.total_seconds() >= 0:
        return f"in {format_duration(delta)}"
    return f"overdue by {format_duration(-delta)}"

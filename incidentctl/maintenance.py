"""Scheduled maintenance: schedule, start, complete, cancel, reschedule; and what ``tick`` applies when due.

A maintenance is a record of ``kind: maintenance`` (see :mod:`incidentctl.model`). Every writing function
here is one transaction (one commit), like :mod:`incidentctl.lifecycle`, and takes ``propose`` (SPEC
"Review through git").

Automation (``tick``, :func:`due_actions`), all of it deterministic so that two schedulers in two clones
write identical entries (the merge driver unions entries with equal time and text):

- **auto-start** (``auto_start``, default on): at ``scheduled_for`` an ``in_progress`` entry dated exactly
  ``scheduled_for`` (or the last entry's time, when that is later), components ``under_maintenance``.
- **auto-complete** (``auto_complete``, default on): at ``scheduled_until`` a ``completed`` entry dated
  exactly ``scheduled_until``, components ``operational``. A tick late past the end starts, then completes.
- **reminders** (``maintenance.remind_before``, default 24h and 1h): a public ``scheduled`` entry with
  ``notice: reminder`` dated ``scheduled_for - lead``, while the maintenance is still scheduled and has not
  reached its start; only the latest lead due is sent, a lead already sent since the window last changed is
  never sent again, and a lead longer than the notice given (the window was announced less than ``lead``
  before its start) is never sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .durations import format_duration, isoformat_z, utcnow
from .errors import InputError, UsageError
from .model import Delivery, Entry, Incident
from .vocabulary import FINISHED_STATUSES, MAINTENANCE_ACTIVE

if TYPE_CHECKING:
    from .config import Config
    from .lifecycle import Change
    from .store import Repo
    from .tick import Due

DEFAULT_MESSAGES = {
    "scheduled": "Scheduled maintenance.",
    "in_progress": "Maintenance has started.",
    "verifying": "Maintenance is being verified.",
    "completed": "Maintenance has been completed.",
    "cancelled": "This maintenance has been cancelled.",
}


def lead_label(lead: timedelta) -> str:
    """A ``remind_before`` lead as recorded in ``reminder_before``: ``24h``, ``1h``, ``90m``, ``2d``, ``45s``."""
    seconds = int(lead.total_seconds())
    if seconds % 86400 == 0 and seconds >= 2 * 86400:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def reminder_message(lead: timedelta) -> str:
    """``Reminder: this maintenance starts in 24 hours.`` (the same text in every clone: tick's entries merge)."""
    label = lead_label(lead)
    number, unit = int(label[:-1]), {"d": "day", "h": "hour", "m": "minute", "s": "second"}[label[-1]]
    return f"Reminder: this maintenance starts in {number} {unit}{'' if number == 1 else 's'}."


def rescheduled_message(start: datetime, end: datetime, config: Config) -> str:
    from .render import local_time

    return (
        f"The maintenance window has moved to {local_time(start, config.tz)} – {local_time(end, config.tz)} "
        f"({format_duration(end - start)})."
    )


# -- window and checks ------------------------------------------------------------------------------


def window(
    start: datetime, end: datetime | None = None, duration: timedelta | None = None
) -> tuple[datetime, datetime]:
    """``--start`` with ``--end`` or ``--duration`` (exactly one), refused unless the end is after the start."""
    if (end is None) == (duration is None):
        raise UsageError("give --end or --duration (one of them)")
    if end is None:
        assert duration is not None
        end = start + duration
    if end <= start:
        raise InputError(f"the window ends ({isoformat_z(end)}) before it starts ({isoformat_z(start)})")
    return start, end


def _check_components(repo: Repo, components: Sequence[str]) -> list[str]:
    known = repo.config.component_ids
    for component in components:
        if "=" in component:
            raise UsageError(
                f"--component {component!r}: give the id only (a maintenance sets it under_maintenance while it runs)"
            )
        if known and component not in known:
            raise InputError(f"--component {component!r}: unknown component (known: {', '.join(known)})")
    return list(dict.fromkeys(components))


def _message(text: str | None, default: str) -> str:
    from .lifecycle import _message as clean_message

    return clean_message(text or "") or default


def _pending(repo: Repo) -> dict[str, Delivery]:
    return {channel: Delivery() for channel in repo.config.configured_channels()}


def _load_maintenance(repo: Repo, incident_id: str) -> Incident:
    incident = repo.load(repo.resolve_id(incident_id))
    if not incident.is_maintenance:
        raise InputError(f"{incident.id} is an incident, not a maintenance; use `incidentctl update`/`resolve`")
    return incident


def _when(at: datetime | None, incident: Incident | None = None) -> datetime:
    from .lifecycle import _when as entry_time

    when = entry_time(at)
    if incident is not None and when < incident.timeline[-1].at:
        raise InputError(
            f"--at {isoformat_z(when)} is before the maintenance's last entry ({isoformat_z(incident.timeline[-1].at)})"
        )
    return when


# -- writing -----------------------------------------------------------------------------------------


def schedule_maintenance(
    repo: Repo,
    title: str,
    *,
    start: datetime,
    end: datetime,
    components: Sequence[str] = (),
    message: str | None = None,
    auto_start: bool | None = None,
    auto_complete: bool | None = None,
    counts_as_downtime: bool = False,
    incident_id: str | None = None,
    now: datetime | None = None,
    propose: bool = False,
) -> Change:
    """Schedule a maintenance: a record whose first entry is ``scheduled``, with the window announced on it."""
    from .errors import RecordError
    from .lifecycle import change_of, clean_title, new_id
    from .propose import proposer

    title = clean_title(title)
    start, end = window(start, end)
    when = now or utcnow()
    if end <= when:
        raise InputError(f"the window ends in the past ({isoformat_z(end)}; now is {isoformat_z(when)})")
    ids = _check_components(repo, components)
    text = _message(message, DEFAULT_MESSAGES["scheduled"])
    settings = repo.config.maintenance
    with repo.transaction(propose=propose) as tx:
        store = tx.repo  # with --propose: the default branch's tip, not the checkout
        if incident_id is not None:
            if store.record_path(incident_id).exists():
                raise RecordError(f"{incident_id!r} already exists")
        else:
            incident_id = new_id(store, title, start)
        entry = Entry(
            at=when,
            status="scheduled",
            message=text,
            components=dict.fromkeys(ids, "operational"),
            scheduled_for=start,
            scheduled_until=end,
            review="reviewed" if propose else None,
            review_by=proposer(repo.root) if propose else None,
            deliveries=_pending(store),
        )
        incident = Incident.model_validate(
            {
                "id": incident_id,
                "kind": "maintenance",
                "title": title,
                "scheduled_for": start,
                "scheduled_until": end,
                "auto_start": settings.auto_start if auto_start is None else auto_start,
                "auto_complete": settings.auto_complete if auto_complete is None else auto_complete,
                "counts_as_downtime": counts_as_downtime,
                "timeline": [entry],
            }
        )
        summary = f"maintenance scheduled ({isoformat_z(start)} to {isoformat_z(end)})"
        tx.message = f"{incident.id}: {summary}"
        tx.save(incident)
    return change_of(tx, incident, summary)


#: ``maintenance start|complete|cancel``: the status each moves to and the statuses it may leave.
MOVES: dict[str, tuple[str, frozenset[str]]] = {
    "start": ("in_progress", frozenset({"scheduled"})),
    "complete": ("completed", frozenset(MAINTENANCE_ACTIVE)),
    "cancel": ("cancelled", frozenset({"scheduled", *MAINTENANCE_ACTIVE})),
}


def _refusal(incident: Incident, action: str) -> str:
    status = incident.status
    if status in FINISHED_STATUSES:
        return f"{incident.id} is already {status}; nothing to {action}"
    if action == "start":
        return f"{incident.id} is already {status.replace('_', ' ')}"
    if action == "complete":  # still scheduled
        return f"{incident.id} has not started; `incidentctl maintenance start {incident.id}` or `cancel` it"
    return f"cannot {action} {incident.id} while it is {status}"


def components_for(incident: Incident, status: str) -> dict[str, str]:
    """The components an entry moving ``incident`` to ``status`` sets: under maintenance while it runs,
    operational once it is over; nothing when the status keeps them as they are."""
    active_before = incident.status in MAINTENANCE_ACTIVE
    if status in MAINTENANCE_ACTIVE and not active_before:
        return dict.fromkeys(incident.components, "under_maintenance")
    if status not in MAINTENANCE_ACTIVE and active_before:
        return dict.fromkeys(incident.components, "operational")
    return {}


def move_maintenance(
    repo: Repo,
    incident_id: str,
    action: str,
    *,
    message: str | None = None,
    at: datetime | None = None,
    propose: bool = False,
) -> Change:
    """``maintenance start|complete|cancel``: one entry moving the maintenance on (one commit)."""
    from .lifecycle import change_of, insert_entry

    status, allowed = MOVES[action]
    with repo.transaction(propose=propose) as tx:
        incident = _load_maintenance(tx.repo, incident_id)
        if incident.status not in allowed:
            raise InputError(_refusal(incident, action))
        when = _when(at, incident)
        entry = Entry(
            at=when,
            status=status,
            message=_message(message, DEFAULT_MESSAGES[status]),
            components=components_for(incident, status),
            deliveries=_pending(repo),
        )
        changed = incident.model_copy(update={"timeline": insert_entry(incident.timeline, entry)})
        summary = status.replace("_", " ")
        tx.message = f"{changed.id}: {summary}"
        tx.save(changed)
    return change_of(tx, changed, summary)


def reschedule_maintenance(
    repo: Repo,
    incident_id: str,
    *,
    start: datetime | None,
    end: datetime | None = None,
    duration: timedelta | None = None,
    message: str | None = None,
    at: datetime | None = None,
    propose: bool = False,
) -> Change:
    """Move the window: while scheduled, start and end; while in progress, only the end (one commit)."""
    from .lifecycle import change_of, insert_entry

    with repo.transaction(propose=propose) as tx:
        incident = _load_maintenance(tx.repo, incident_id)
        assert incident.scheduled_for is not None and incident.scheduled_until is not None
        if not incident.is_open:
            raise InputError(f"{incident.id} is already {incident.status}; its window cannot move")
        new_start = start or incident.scheduled_for
        if incident.is_active and new_start != incident.scheduled_for:
            raise InputError(f"{incident.id} is {incident.status.replace('_', ' ')}: only its end may move (--end)")
        new_start, new_end = window(new_start, end, duration)
        when = _when(at, incident)
        if new_end <= when:
            raise InputError(f"the new window ends in the past ({isoformat_z(new_end)}; now is {isoformat_z(when)})")
        if (new_start, new_end) == (incident.scheduled_for, incident.scheduled_until):
            raise InputError(f"{incident.id} is already scheduled for that window")
        entry = Entry(
            at=when,
            status=incident.status,
            message=_message(message, rescheduled_message(new_start, new_end, repo.config)),
            notice="rescheduled",
            scheduled_for=new_start,
            scheduled_until=new_end,
            deliveries=_pending(repo),
        )
        changed = incident.model_copy(
            update={
                "timeline": insert_entry(incident.timeline, entry),
                "scheduled_for": new_start,
                "scheduled_until": new_end,
            }
        )
        changed = Incident.model_validate(changed.model_dump(by_alias=True))  # the window checks again
        summary = f"rescheduled ({isoformat_z(new_start)} to {isoformat_z(new_end)})"
        tx.message = f"{changed.id}: {summary}"
        tx.save(changed)
    return change_of(tx, changed, summary)


# -- what tick applies -------------------------------------------------------------------------------


def window_announced_at(incident: Incident) -> datetime:
    """When the current window was announced: the last entry carrying a window (else the first entry)."""
    for entry in reversed(incident.timeline):
        if entry.scheduled_for is not None:
            return entry.at
    return incident.started_at


def reminders_sent(incident: Incident) -> set[str]:
    """The ``remind_before`` leads sent since the window last changed."""
    since = window_announced_at(incident)
    return {
        entry.reminder_before
        for entry in incident.timeline
        if entry.notice == "reminder" and entry.reminder_before and entry.at >= since
    }


def reminder_leads(incident: Incident, config: Config) -> list[timedelta]:
    """The leads that apply to this window (shorter than the notice given), longest first."""
    assert incident.scheduled_for is not None
    notice = incident.scheduled_for - window_announced_at(incident)
    return [lead for lead in config.maintenance.remind_before if lead < notice]


def reminder_due(incident: Incident, config: Config, now: datetime) -> timedelta | None:
    """The reminder lead to send at ``now``: the latest due, unless it was sent (else None)."""
    if incident.status != "scheduled" or incident.scheduled_for is None or now >= incident.scheduled_for:
        return None
    due = [lead for lead in reminder_leads(incident, config) if incident.scheduled_for - lead <= now]
    if not due:
        return None
    latest = min(due)
    return None if lead_label(latest) in reminders_sent(incident) else latest


@dataclass(frozen=True)
class _Plan:
    key: str
    at: datetime
    summary: str
    entry: Entry


def _plans(incident: Incident, config: Config, now: datetime) -> list[_Plan]:
    """What is due on ``incident`` at ``now``, each with the entry it writes (in order)."""
    if not incident.is_maintenance or incident.sample or not incident.is_open:
        return []
    start, end = incident.scheduled_for, incident.scheduled_until
    assert start is not None and end is not None
    last = incident.timeline[-1].at
    deliveries = {channel: Delivery() for channel in config.configured_channels()}
    plans = []
    lead = reminder_due(incident, config, now)
    if lead is not None:
        label = lead_label(lead)
        at = start - lead
        plans.append(
            _Plan(
                f"reminder:{label}",
                at,
                f"maintenance reminder ({label} before)",
                Entry(
                    at=at,
                    status="scheduled",
                    message=reminder_message(lead),
                    automatic=True,
                    notice="reminder",
                    reminder_before=label,
                    deliveries=deliveries,
                ),
            )
        )
    starts = incident.status == "scheduled" and incident.auto_start and now >= start
    if starts:
        at = max(start, last)
        plans.append(
            _Plan(
                "start",
                at,
                "maintenance started",
                Entry(
                    at=at,
                    status="in_progress",
                    message=DEFAULT_MESSAGES["in_progress"],
                    components=components_for(incident, "in_progress"),
                    automatic=True,
                    deliveries=dict(deliveries),
                ),
            )
        )
    running = incident.status in MAINTENANCE_ACTIVE or starts
    if running and incident.auto_complete and now >= end:
        at = max(end, last)
        plans.append(
            _Plan(
                "complete",
                at,
                "maintenance completed",
                Entry(
                    at=at,
                    status="completed",
                    message=DEFAULT_MESSAGES["completed"],
                    components=dict.fromkeys(incident.components, "operational"),
                    automatic=True,
                    deliveries=dict(deliveries),
                ),
            )
        )
    return plans


def _build(key: str) -> Callable[[Incident, Config, datetime], Entry | None]:
    def build(current: Incident, config: Config, now: datetime) -> Entry | None:
        """Re-decided on the record as it is under the lock: ``key``'s entry if it is still due there."""
        return next((plan.entry for plan in _plans(current, config, now) if plan.key == key), None)

    return build


def due_actions(incident: Incident, config: Config, now: datetime) -> list[Due]:
    """Auto-start, auto-complete and reminder notices due on ``incident`` at ``now``."""
    from .tick import Due

    return [
        Due(incident.id, plan.key, plan.at, plan.summary, _build(plan.key)) for plan in _plans(incident, config, now)
    ]

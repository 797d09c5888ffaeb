"""Reminders: when the next public update is due, when a postmortem is due, overdue action items.

Rules (documented in the README and ``remind --help``):

- **Update due** (open incidents): at the ``next_update_by`` promised in the last *public* entry,
  else at that entry's time plus the severity's ``update_every``. A promise wins whether it is
  earlier or later than the cadence. Internal entries never reset the clock. With no public entry
  at all, the clock runs from the start of the incident. All of this is absolute (UTC) time, so
  a DST change never moves a deadline.
- **Postmortem due** (resolved incidents whose severity requires one, until the postmortem's
  required fields are filled in): ``postmortem_due`` after the resolution. ``3d`` is a duration
  (72 hours); ``5bd`` is business days: see :func:`incidentctl.durations.add_business_days`.
- **Action item due**: an action item that is not ``done``/``wontfix`` is due at the end of its
  ``due`` date in the configured time zone (local midnight after it).
- A snooze (``incidentctl snooze ID 30m``) sets ``reminders.snoozed_until``: until then the
  incident's reminders are listed as snoozed, not due, and never posted.
- ``remind --notify`` posts a reminder again only when it was not posted for the same deadline
  yet, or when the last post is older than the severity's ``update_every`` (update reminders) or a
  day (postmortem and action-item reminders, which are days late, not minutes).
- ``--now`` evaluates each incident as it stood then: entries after it are ignored.
- Sample incidents (``sample: true``, replayed public outages) never remind.
- **Maintenance start due**: a maintenance still ``scheduled`` once its ``scheduled_for`` passed (with
  ``auto_start`` off, or no ``tick`` running): start it or move it.
- **Maintenance notice due**: a ``maintenance.remind_before`` lead (default 24h and 1h before the start)
  passed and its public reminder notice was not written (no ``tick`` ran): due at ``start - lead``, the latest
  lead only, and only until the start. A maintenance never has update or postmortem reminders.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from .durations import add_due_period, end_of_local_day, format_duration, isoformat_z, parse_duration
from .errors import UsageError
from .model import missing_postmortem_fields

if TYPE_CHECKING:
    from .config import Config, Severity
    from .lifecycle import Change
    from .model import Incident
    from .store import Repo

Reason = Literal["update_due", "postmortem_due", "action_item_due", "maintenance_start_due", "maintenance_notice_due"]
#: Maintenance reminders are re-posted at most this often.
MAINTENANCE_REPOST = timedelta(hours=1)
#: Postmortem and action-item reminders are re-posted at most this often.
SLOW_REPOST = timedelta(days=1)


@dataclass(frozen=True)
class Reminder:
    """One thing that is (or will be) due for one incident."""

    incident_id: str
    title: str
    severity: str
    reason: Reason
    due_at: datetime
    key: str
    """Identifies the reminder in ``reminders.notified`` (``update_due``, ``action_item_due.2``)."""
    detail: str = ""
    commander: str | None = None
    snoozed_until: datetime | None = None
    holding_at: datetime | None = None
    """``update_due``: when ``tick --publish`` posts a holding update if nobody updates (holding updates on)."""

    def overdue_by(self, now: datetime) -> timedelta:
        return now - self.due_at

    def to_json(self, now: datetime) -> dict[str, Any]:
        """The ``remind --json`` shape (the documented keys first, then details)."""
        return {
            "id": self.incident_id,
            "severity": self.severity,
            "due_at": isoformat_z(self.due_at),
            "overdue_by_seconds": int(self.overdue_by(now).total_seconds()),
            "reason": self.reason,
            "title": self.title,
            "detail": self.detail,
            "commander": self.commander,
            "snoozed_until": isoformat_z(self.snoozed_until) if self.snoozed_until else None,
            "holding_update_at": isoformat_z(self.holding_at) if self.holding_at else None,
        }


@dataclass
class ReminderReport:
    """Everything ``remind`` found at ``now``."""

    now: datetime
    due: list[Reminder] = field(default_factory=list)
    snoozed: list[Reminder] = field(default_factory=list)
    upcoming: list[Reminder] = field(default_factory=list)
    """Update reminders of open incidents that are not due yet (soonest first)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "now": isoformat_z(self.now),
            "due": [item.to_json(self.now) for item in self.due],
            "snoozed": [item.to_json(self.now) for item in self.snoozed],
            "upcoming": [item.to_json(self.now) for item in self.upcoming],
        }


# -- what is due --------------------------------------------------------------------------------------


def next_update_due(incident: Incident, severity: Severity) -> datetime | None:
    """When the next public update is due, or None when the incident is resolved."""
    if not incident.is_open:
        return None
    public = incident.public_entries
    if not public:
        return incident.started_at + severity.update_every
    last = public[-1]
    if last.next_update_by is not None:
        return last.next_update_by
    return last.at + severity.update_every


def postmortem_due(incident: Incident, config: Config) -> datetime | None:
    """When the postmortem is due, or None when none is required (or it is written; or it is a maintenance)."""
    if incident.is_maintenance:
        return None
    severity = config.severities.get(incident.severity)
    resolved = incident.resolved_at
    if severity is None or not severity.postmortem_required or resolved is None:
        return None
    if not missing_postmortem_fields(incident.postmortem):
        return None
    return add_due_period(resolved, severity.postmortem_due, config.tz)


def maintenance_reminders(incident: Incident, config: Config, now: datetime | None) -> list[Reminder]:
    """A scheduled maintenance's start (once passed) and the reminder notice ``tick`` should have written."""
    from .maintenance import lead_label, reminder_due

    start = incident.scheduled_for
    if incident.sample or incident.status != "scheduled" or start is None:
        return []
    common: dict[str, Any] = {
        "incident_id": incident.id,
        "title": incident.title,
        "severity": incident.severity,
        "commander": incident.commander,
        "snoozed_until": incident.reminders.snoozed_until if incident.reminders else None,
    }
    found = [
        Reminder(
            reason="maintenance_start_due",
            due_at=start,
            key="maintenance_start_due",
            detail="the maintenance has not started"
            + ("" if incident.auto_start else " (auto-start is off)")
            + f": `incidentctl maintenance start {incident.id}` (or reschedule or cancel it)",
            **common,
        )
    ]
    lead = reminder_due(incident, config, now) if now is not None else None
    if lead is not None:
        label = lead_label(lead)
        found.append(
            Reminder(
                reason="maintenance_notice_due",
                due_at=start - lead,
                key=f"maintenance_notice_due.{label}",
                detail=f"the {label} reminder notice was not posted: run `incidentctl tick --publish`",
                **common,
            )
        )
    return found


def reminders_for(incident: Incident, config: Config, now: datetime | None = None) -> list[Reminder]:
    """Every reminder ``incident`` has, due or not (the caller compares with now; maintenance notices
    need ``now``: only the latest lead due then is one)."""
    if incident.is_maintenance:
        return maintenance_reminders(incident, config, now)
    severity = config.severities.get(incident.severity)
    if severity is None or incident.sample:
        return []
    snoozed = incident.reminders.snoozed_until if incident.reminders else None
    common: dict[str, Any] = {
        "incident_id": incident.id,
        "title": incident.title,
        "severity": incident.severity,
        "commander": incident.commander,
        "snoozed_until": snoozed,
    }
    found = []
    update_at = next_update_due(incident, severity)
    if update_at is not None:
        from .holding import next_holding

        holding = next_holding(incident, config)
        found.append(
            Reminder(
                reason="update_due",
                due_at=update_at,
                key="update_due",
                detail="next public update",
                holding_at=holding.at if holding is not None else None,
                **common,
            )
        )
    pm_at = postmortem_due(incident, config)
    if pm_at is not None:
        missing = missing_postmortem_fields(incident.postmortem)
        detail = "postmortem not started" if incident.postmortem is None else "postmortem missing " + ", ".join(missing)
        found.append(Reminder(reason="postmortem_due", due_at=pm_at, key="postmortem_due", detail=detail, **common))
    if incident.postmortem is not None:
        for index, item in enumerate(incident.postmortem.action_items):
            if item.due is None or item.status in ("done", "wontfix"):
                continue
            owner = f" (owner: {item.owner})" if item.owner else ""
            found.append(
                Reminder(
                    reason="action_item_due",
                    due_at=end_of_local_day(item.due, config.tz),
                    key=f"action_item_due.{index}",
                    detail=f"action item {item.title!r}{owner} was due {item.due.isoformat()}",
                    **common,
                )
            )
    return found


def as_of(incident: Incident, now: datetime) -> Incident | None:
    """The incident as it stood at ``now``: later entries dropped (None if it had not started).

    So ``remind --now`` answers "what was due then?" for a backfilled or replayed incident.
    """
    if incident.timeline[-1].at <= now:
        return incident
    entries = [entry for entry in incident.timeline if entry.at <= now]
    if not entries:
        return None
    return incident.model_copy(update={"timeline": entries})


def find_reminders(incidents: Iterable[Incident], config: Config, now: datetime) -> ReminderReport:
    """Sort every reminder into due / snoozed / upcoming at ``now`` (most overdue first)."""
    report = ReminderReport(now=now)
    for recorded in incidents:
        incident = as_of(recorded, now)
        if incident is None:
            continue
        for item in reminders_for(incident, config, now):
            if item.due_at > now:
                if item.reason == "update_due":
                    report.upcoming.append(item)
            elif item.snoozed_until is not None and item.snoozed_until > now:
                report.snoozed.append(item)
            else:
                report.due.append(item)
    report.due.sort(key=lambda item: (item.due_at, item.incident_id, item.key))
    report.snoozed.sort(key=lambda item: (item.due_at, item.incident_id, item.key))
    report.upcoming.sort(key=lambda item: (item.due_at, item.incident_id))
    return report


def check_reminders(repo: Repo, now: datetime) -> tuple[ReminderReport, list[str]]:
    """Reminders for every valid record in ``repo``, and the problems of the invalid records skipped
    (``path:line: message``, the wording of every other command).

    One broken record must not silence the reminders of every other incident.
    """
    problems: list[str] = []
    incidents = repo.scan(skip_invalid=True, problems=problems)
    return find_reminders(incidents, repo.config, now), problems


# -- noise control ----------------------------------------------------------------------------------


def repost_interval(reminder: Reminder, config: Config) -> timedelta:
    if reminder.reason.startswith("maintenance_"):
        return MAINTENANCE_REPOST
    severity = config.severities.get(reminder.severity)
    if reminder.reason == "update_due" and severity is not None:
        return severity.update_every
    return max(SLOW_REPOST, severity.update_every if severity else SLOW_REPOST)


def should_notify(reminder: Reminder, incident: Incident, config: Config, now: datetime) -> bool:
    """Post unless it was posted for this deadline already, less than one interval ago."""
    if reminder.snoozed_until is not None and reminder.snoozed_until > now:
        return False
    last = incident.reminders.notified.get(reminder.key) if incident.reminders else None
    if last is None or last < reminder.due_at:
        return True
    return now - last >= repost_interval(reminder, config)


def snooze(repo: Repo, incident_id: str, duration: str, *, now: datetime | None = None) -> Change:
    """Silence an incident's reminders for ``duration`` (``0`` ends a snooze); one commit."""
    from .durations import utcnow
    from .lifecycle import change_of
    from .model import Reminders

    span = parse_duration(duration)
    if span > timedelta(days=30):
        raise UsageError(f"snooze {duration!r}: at most 30d (reminders exist so nobody goes silent)")
    when = now or utcnow()
    summary = f"snoozed reminders for {format_duration(span)}" if span else "reminders no longer snoozed"
    with repo.transaction() as tx:
        incident = repo.load(repo.resolve_id(incident_id))
        current = incident.reminders or Reminders()
        until = when + span if span else None
        changed = incident.model_copy(update={"reminders": current.model_copy(update={"snoozed_until": until})})
        tx.message = f"{changed.id}: {summary}"
        tx.save(changed)
    return change_of(tx, changed, summary)


def record_notified(repo: Repo, incident_id: str, keys: Sequence[str], at: datetime) -> Change:
    """Remember that reminders ``keys`` were posted at ``at`` (one commit)."""
    from .lifecycle import change_of
    from .model import Reminders

    summary = f"reminded ({', '.join(sorted({key.split('.')[0] for key in keys}))})"
    with repo.transaction(f"{incident_id}: {summary}") as tx:
        incident = repo.load(incident_id)
        current = incident.reminders or Reminders()
        notified = {**current.notified, **dict.fromkeys(keys, at)}
        changed = incident.model_copy(update={"reminders": current.model_copy(update={"notified": notified})})
        tx.save(changed)
    return change_of(tx, changed, summary)


# -- text ---------------------------------------------------------------------------------------------


def describe(reminder: Reminder, now: datetime, tz: ZoneInfo) -> str:
    """One line for the terminal: what, which incident, since when."""
    from .render import offset_time

    late = reminder.overdue_by(now)
    when = offset_time(reminder.due_at, tz)
    if late >= timedelta(0):
        timing = (
            f"due {when}, overdue by {format_duration(late)}" if late >= timedelta(minutes=1) else f"due now ({when})"
        )
    else:
        timing = f"due {when}, in {format_duration(-late)}"
    if reminder.reason == "action_item_due" and late >= timedelta(0):
        timing = f"overdue by {format_duration(late)}"
    label = {
        "update_due": "update due",
        "postmortem_due": "postmortem due",
        "action_item_due": "action item due",
        "maintenance_start_due": "maintenance start due",
        "maintenance_notice_due": "maintenance notice due",
    }[reminder.reason]
    extra = f": {reminder.detail}" if reminder.reason != "update_due" else ""
    if reminder.holding_at is not None:
        timing += f"; holding update {'at' if reminder.holding_at > now else 'due since'} {offset_time(reminder.holding_at, tz)}"
    return f"{reminder.incident_id} [{reminder.severity}] {label}{extra} ({timing})"

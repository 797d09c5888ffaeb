"""``remind --notify``: post due reminders in each incident's Slack thread, through the Slack channel's
public API (:func:`incidentctl.channels.slack.reminder_sender`, :meth:`SlackSender.post_in_thread`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .durations import format_duration
from .remind import Reminder, ReminderReport, record_notified, should_notify

if TYPE_CHECKING:
    from .config import Config
    from .lifecycle import Change
    from .model import Incident
    from .store import Repo


def mention(incident: Incident, fallback: str | None) -> str:
    """Who a reminder pings: the commander (a Slack user id becomes a real mention), else ``fallback``
    (the configured ``mention`` of the Slack settings), else nobody."""
    from .render import escape_mrkdwn

    commander = (incident.commander or "").strip()
    if commander:
        if re.fullmatch(r"<[@!][A-Za-z0-9^|_-]+>", commander):
            return commander
        if re.fullmatch(r"[UW][A-Z0-9]{6,}", commander):
            return f"<@{commander}>"
        return escape_mrkdwn(commander)
    return fallback or ""


def reminder_text(
    reminder: Reminder, incident: Incident, config: Config, now: datetime, fallback_mention: str | None = None
) -> str:
    """The Slack message (mrkdwn) for one reminder: what is due, since when, and the command to run."""
    from .render import escape_mrkdwn, offset_time

    title = escape_mrkdwn(incident.title)
    late = format_duration(max(reminder.overdue_by(now), timedelta(0)))
    when = offset_time(reminder.due_at, config.tz)
    who_ = mention(incident, fallback_mention)
    who = f"{who_}: " if who_ else ""
    if reminder.reason == "update_due":
        return (
            f":alarm_clock: {who}a public update on *{title}* ({incident.severity}) was due at {when}; "
            f"overdue by {late}. Post one with `incidentctl update {incident.id} --message ... --publish`, "
            f"or quiet this with `incidentctl snooze {incident.id} 30m`."
        )
    if reminder.reason == "postmortem_due":
        return (
            f":memo: {who}the postmortem of *{title}* ({incident.severity}) was due at {when}; overdue by {late} "
            f"({escape_mrkdwn(reminder.detail)}). Start it with `incidentctl postmortem {incident.id} --init`."
        )
    return f":ballot_box_with_check: {who}*{title}*: {escape_mrkdwn(reminder.detail)}; overdue by {late}."


@dataclass
class NotifyOutcome:
    """What ``remind --notify`` did."""

    slack_configured: bool
    posted: list[Reminder] = field(default_factory=list)
    recently_posted: list[Reminder] = field(default_factory=list)
    failed: list[tuple[Reminder, str]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)


def notify(repo: Repo, report: ReminderReport) -> NotifyOutcome:
    """Post each due reminder to its incident's Slack thread (the channel when there is no thread).

    Reminders posted for the same deadline less than an interval ago are skipped (see
    :func:`~incidentctl.remind.should_notify`); what was posted is recorded in ``reminders.notified``,
    one commit per incident. A failing post never stops the others, except when Slack itself is
    unusable (bad token, unknown channel): then the rest are reported failed without trying.
    """
    from .channels.base import SendError, current_retry_policy
    from .channels.slack import reminder_sender

    config = repo.config
    sender = reminder_sender(repo, current_retry_policy().start())
    if sender is None:
        return NotifyOutcome(slack_configured=False)
    outcome = NotifyOutcome(slack_configured=True)
    fatal: str | None = None
    grouped: dict[str, list[Reminder]] = {}
    for item in report.due:
        grouped.setdefault(item.incident_id, []).append(item)
    for incident_id, items in grouped.items():
        incident = repo.load(incident_id)
        posted_keys = []
        for item in items:
            if not should_notify(item, incident, config, report.now):
                outcome.recently_posted.append(item)
                continue
            if fatal is not None:
                outcome.failed.append((item, fatal))
                continue
            text = reminder_text(item, incident, config, report.now, sender.mention)
            try:
                sender.post_in_thread(incident, text)
            except SendError as exc:
                outcome.failed.append((item, str(exc)))
                if exc.fatal:
                    fatal = str(exc)
                continue
            outcome.posted.append(item)
            posted_keys.append(item.key)
        if posted_keys:
            outcome.changes.append(record_notified(repo, incident_id, posted_keys, report.now))
    return outcome

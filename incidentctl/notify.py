"""``remind --notify``: post due reminders in each incident's Slack thread, through the Slack channel's
public API (:func:`incidentctl.channels.slack.reminder_sender`, :meth:`SlackSender.post_in_thread`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .durations import format_duration
from .remind import Reminder, ReminderReport, should_notify

if TYPE_CHECKING:
    from .config import Config
    from .errors import PushError
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
    if reminder.reason in ("maintenance_start_due", "maintenance_notice_due"):
        return f":wrench: {who}maintenance *{title}*: {escape_mrkdwn(reminder.detail)} (due {when}; overdue by {late})."
    return f":ballot_box_with_check: {who}*{title}*: {escape_mrkdwn(reminder.detail)}; overdue by {late}."


@dataclass
class NotifyOutcome:
    """What ``remind --notify`` did."""

    slack_configured: bool
    posted: list[Reminder] = field(default_factory=list)
    recently_posted: list[Reminder] = field(default_factory=list)
    failed: list[tuple[Reminder, str]] = field(default_factory=list)
    unusable: str | None = None
    """Slack is configured in incidentctl.yaml but not usable: what is missing (exit 3, never silent)."""
    released: list[Reminder] = field(default_factory=list)
    """Claimed, then the post failed: the claim was taken back so the next run posts it."""
    notes: list[str] = field(default_factory=list)
    push_error: PushError | None = None
    """The push of the claims (and of anything an earlier command stranded) failed: exit 4."""


CLAIM_ROUNDS = 12


def notify(repo: Repo, now: datetime) -> tuple[ReminderReport, list[str], NotifyOutcome]:
    """Check reminders and post each due one to its incident's Slack thread (the channel when there is
    no thread): returns the report, the invalid records skipped, and what was posted.

    Under the per-repo lock it first catches up with the remote, THEN decides (a clone that has not
    pulled would re-post reminders or ignore snoozes made elsewhere). Each reminder to post is claimed
    first: its ``reminders.notified`` mark is committed and, with ``git.push``, pushed with one attempt;
    a rejected claim is dropped, the clone catches up and decides again. Only then it posts. A post
    that fails releases its claim (the mark goes back) and is reported. Reminders posted for the same
    deadline less than an interval ago are skipped (:func:`~incidentctl.remind.should_notify`).
    """
    from . import gitops
    from .channels.base import SendError, current_retry_policy
    from .channels.registry import find_channel, missing_secrets_message
    from .channels.slack import CHANNEL, reminder_sender
    from .config import channel_enabled
    from .delivery.claims import claimant, uses_claims
    from .remind import check_reminders

    config = repo.config
    outcome = NotifyOutcome(slack_configured=config.channels.raw(CHANNEL) is not None)
    if outcome.slack_configured and not channel_enabled(config, CHANNEL):
        channel = find_channel(CHANNEL)
        outcome.unusable = missing_secrets_message(channel) if channel is not None else f"{CHANNEL}: not installed"
    sender = reminder_sender(repo, current_retry_policy().start()) if outcome.unusable is None else None
    with repo.transaction(None) as tx:
        if tx.sync_error:
            outcome.notes.append(f"could not catch up with {config.git.remote}: {tx.sync_error}")
        claims: dict[str, tuple[Incident, list[Reminder]]] = {}
        for _round in range(CLAIM_ROUNDS):
            report, skipped = check_reminders(repo, now)
            if sender is None:
                break
            claims = {}
            recently: list[Reminder] = []
            for item in report.due:
                incident = repo.load(item.incident_id)
                if not should_notify(item, incident, config, report.now):
                    recently.append(item)
                    continue
                claims.setdefault(item.incident_id, (incident, []))[1].append(item)
            outcome.recently_posted = recently
            if not claims:
                break
            paths = [
                tx.save(_marked(incident, [item.key for item in items], report.now))
                for incident, items in claims.values()
            ]
            count = sum(len(items) for _i, items in claims.values())
            # The claimant in the message: two clones' marks are byte-identical, their commits must not be.
            keys = ", ".join(sorted({item.key.split(".")[0] for _i, items in claims.values() for item in items}))
            subject = f"{next(iter(claims))}: reminded ({keys})" if len(claims) == 1 else f"reminders: {count} posted"
            sha = tx.commit(f"{subject}\n\nclaimed by {claimant(repo.root)}")
            if sha is None or not uses_claims(repo):
                break
            verdict = gitops.try_push(repo.root, config.git.remote)
            if verdict is None:
                break
            if verdict != "rejected":
                outcome.notes.append(f"could not push the reminder claim ({verdict}); posting anyway")
                break
            gitops.drop_last_commit(repo.root, paths)
            tx.commits.remove(sha)
            gitops.catch_up(repo.root, config.git.remote)
        else:
            outcome.notes.append("gave up claiming reminders after repeated rejected pushes; the next run tries again")
            claims = {}
        fatal: str | None = None
        for incident_id, (incident, items) in claims.items():
            failed_keys: list[str] = []
            for item in items:
                if fatal is not None:
                    outcome.failed.append((item, fatal))
                    failed_keys.append(item.key)
                    continue
                assert sender is not None
                text = reminder_text(item, incident, config, report.now, sender.mention)
                try:
                    sender.post_in_thread(incident, text)
                except SendError as exc:
                    outcome.failed.append((item, str(exc)))
                    failed_keys.append(item.key)
                    if exc.fatal:
                        fatal = str(exc)
                    continue
                outcome.posted.append(item)
            if failed_keys:  # release: put the marks back as they were before the claim
                current = repo.load(incident_id)
                released = _released(current, incident, failed_keys)
                tx.save(released)
                tx.commit(f"{incident_id}: reminder not posted (claim released)", [incident_id])
                outcome.released.extend(item for item in items if item.key in failed_keys)
    outcome.notes.extend(note for note in tx.notes if note not in outcome.notes)
    outcome.push_error = tx.push_error
    return report, skipped, outcome


def _marked(incident: Incident, keys: list[str], at: datetime) -> Incident:
    from .model import Reminders

    current = incident.reminders or Reminders()
    notified = {**current.notified, **dict.fromkeys(keys, at)}
    return incident.model_copy(update={"reminders": current.model_copy(update={"notified": notified})})


def _released(current: Incident, before: Incident, keys: list[str]) -> Incident:
    from .model import Reminders

    reminders = current.reminders or Reminders()
    previous = before.reminders.notified if before.reminders else {}
    notified = dict(reminders.notified)
    for key in keys:
        if key in previous:
            notified[key] = previous[key]
        else:
            notified.pop(key, None)
    released = reminders.model_copy(update={"notified": notified})
    if before.reminders is None and not notified and released.snoozed_until is None:
        return current.model_copy(update={"reminders": None})  # as it was before the claim
    return current.model_copy(update={"reminders": released})

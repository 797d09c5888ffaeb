"""``remind``: who owes an update, a postmortem or an action item, and when (``--notify`` posts to Slack)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ..common import open_repo
from ..output import note, print_json

if TYPE_CHECKING:
    from datetime import datetime

    from ...errors import IncidentctlError
    from ...remind import ReminderReport
    from ...store import Repo

DEFAULT_WATCH_INTERVAL = "1m"


def remind(
    ctx: typer.Context,
    interval: Annotated[
        str | None,
        typer.Argument(help="With --watch: how often to check (default 1m).", metavar="INTERVAL", show_default=False),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(
            "--now", help="Evaluate at this instant (ISO 8601), e.g. for tests or backfills.", show_default=False
        ),
    ] = None,
    notify: Annotated[
        bool, typer.Option("--notify", help="Post each due reminder to the incident's Slack thread (and print it).")
    ] = False,
    fail_if_due: Annotated[
        bool, typer.Option("--fail-if-due", help="Exit 5 when anything is due (for schedulers).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Check again every INTERVAL until Ctrl-C (a terminal during an incident).")
    ] = False,
) -> None:
    """List what is due: public updates, postmortems, action items.

    An update is due at the time the last public entry promised (--next-update), else at that
    entry plus the severity's update_every; internal entries do not reset the clock. Postmortems
    are due postmortem_due after resolution (3d = 72 hours, 5bd = business days). Exit status: 0
    (even when something is due), 5 with --fail-if-due when something is due, 3 when a Slack post
    failed, 4 when the record of a post could not be pushed.
    """
    from ...durations import parse_duration, parse_timestamp
    from ...errors import UsageError

    if interval is not None and not watch:
        raise UsageError(f"unexpected argument {interval!r}: INTERVAL goes with --watch (e.g. remind --watch 2m)")
    if watch:
        if now is not None or as_json or fail_if_due:
            raise UsageError("--watch runs until Ctrl-C: it does not combine with --now, --json or --fail-if-due")
        period = parse_duration(interval or DEFAULT_WATCH_INTERVAL)
        if period.total_seconds() < 10:
            raise UsageError("--watch INTERVAL must be at least 10s")
        _watch(ctx, period.total_seconds(), notify)
        return
    when = parse_timestamp(now) if now else None
    due, error = _run_once(open_repo(ctx), when, notify=notify, as_json=as_json)
    if error is not None:
        raise error
    if fail_if_due and due:
        from ...errors import DueError

        raise DueError(f"{due} reminder{'s' if due != 1 else ''} due")


def _run_once(repo: Repo, when: datetime | None, *, notify: bool, as_json: bool) -> tuple[int, IncidentctlError | None]:
    """Check (and notify) and print; return how many are due and the error for the exit status."""
    from ...durations import utcnow
    from ...errors import DeliveryError
    from ...notify import notify as notify_slack
    from ...remind import check_reminders

    if notify:
        report, skipped, outcome = notify_slack(repo, when or utcnow())
    else:
        report, skipped = check_reminders(repo, when or utcnow())
        outcome = None
    for problem in skipped:
        note(f"warning: {problem} (record skipped; run `incidentctl lint`)")
    if as_json:
        data = report.to_json()
        if outcome is not None:
            data["notify"] = {
                "slack_configured": outcome.slack_configured,
                "unusable": outcome.unusable,
                "posted": [item.to_json(report.now) for item in outcome.posted],
                "recently_posted": [item.to_json(report.now) for item in outcome.recently_posted],
                "failed": [{**item.to_json(report.now), "error": message} for item, message in outcome.failed],
            }
        print_json(data)
    else:
        _print(report, repo)
    due = len(report.due)
    if outcome is None:
        return due, None
    for remark in outcome.notes:
        note(f"note: {remark}")
    if outcome.unusable is not None:
        note(f"incidentctl: Slack not used: {outcome.unusable}; reminders printed only")
        return due, outcome.push_error or DeliveryError("Slack is configured but not usable; no reminder was posted")
    if not outcome.slack_configured:
        note(
            "note: Slack is not configured (channels.slack in incidentctl.yaml and SLACK_BOT_TOKEN); reminders printed only"
        )
        return due, outcome.push_error
    if not as_json:
        for item in outcome.posted:
            note(f"posted to Slack: {item.incident_id} {item.reason}")
        for item in outcome.recently_posted:
            note(f"not re-posted (posted recently): {item.incident_id} {item.reason}")
    for item, message in outcome.failed:
        note(f"failed to post {item.incident_id} {item.reason}: {message} (claim released; the next run tries again)")
    if outcome.push_error is not None:
        note(f"incidentctl: {outcome.push_error}")
    if outcome.failed:
        return due, DeliveryError(
            f"{len(outcome.failed)} reminder(s) could not be posted to Slack; the next run tries again"
        )
    return due, outcome.push_error


def _print(report: ReminderReport, repo: Repo) -> None:
    from ...remind import describe
    from ...render import offset_time

    tz = repo.config.tz
    out = typer.echo
    if report.due:
        out(f"{len(report.due)} due at {offset_time(report.now, tz)}:")
        for item in report.due:
            out(f"  {describe(item, report.now, tz)}")
    else:
        out(f"Nothing due at {offset_time(report.now, tz)}.")
    if report.snoozed:
        out("Snoozed:")
        for item in report.snoozed:
            until = offset_time(item.snoozed_until, tz) if item.snoozed_until else ""
            out(f"  {describe(item, report.now, tz)} [snoozed until {until}]")
    if report.upcoming:
        out("Next updates:")
        for item in report.upcoming:
            out(f"  {describe(item, report.now, tz)}")


def _watch(ctx: typer.Context, seconds: float, notify: bool) -> None:
    import time

    note(f"checking every {seconds:g}s; Ctrl-C to stop")
    try:
        while True:
            _due, error = _run_once(open_repo(ctx), None, notify=notify, as_json=False)
            if error is not None:
                note(f"incidentctl: {error}")
            typer.echo("")
            time.sleep(seconds)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def register(app: typer.Typer) -> None:
    app.command("remind")(remind)

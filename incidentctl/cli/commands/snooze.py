"""``snooze``: silence an incident's reminders for a while."""

from __future__ import annotations

from typing import Annotated

import typer

from ..common import complete_incident_id, open_repo, report_change
from ..output import note


def snooze(
    ctx: typer.Context,
    incident_id: Annotated[
        str, typer.Argument(help="Incident id or prefix.", autocompletion=complete_incident_id, show_default=False)
    ],
    duration: Annotated[str, typer.Argument(help="How long, e.g. 30m (0 ends a snooze).", show_default=False)],
) -> None:
    """Silence an incident's reminders for a while (recorded in the incident, committed)."""
    from ...remind import snooze as snooze_incident
    from ...render import offset_time

    repo = open_repo(ctx)
    change = snooze_incident(repo, incident_id, duration)
    reminders = change.incident.reminders
    until = reminders.snoozed_until if reminders else None
    if until is not None:
        note(f"{change.incident.id}: reminders snoozed until {offset_time(until, repo.config.tz)}")
    else:
        note(f"{change.incident.id}: reminders no longer snoozed")
    report_change(change)


def register(app: typer.Typer) -> None:
    app.command("snooze")(snooze)

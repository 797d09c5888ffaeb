"""``remind`` and ``snooze`` (filled in by the reminders work)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import IncidentctlError
from .common import complete_incident_id


def remind(
    ctx: typer.Context,
    now: Annotated[str | None, typer.Option("--now", help="Evaluate at this instant (ISO 8601).", show_default=False)] = None,
    notify: Annotated[bool, typer.Option("--notify", help="Post each due reminder to the incident's Slack thread.")] = False,
    fail_if_due: Annotated[bool, typer.Option("--fail-if-due", help="Exit 5 when anything is due.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """List open incidents whose next public update is due, and postmortems that are due."""
    raise IncidentctlError("remind is not implemented yet")


def snooze(
    ctx: typer.Context,
    incident_id: Annotated[str, typer.Argument(help="Incident id or prefix.", autocompletion=complete_incident_id, show_default=False)],
    duration: Annotated[str, typer.Argument(help="How long, e.g. 30m.", show_default=False)],
) -> None:
    """Silence reminders for an incident for a while."""
    raise IncidentctlError("snooze is not implemented yet")


def register(app: typer.Typer) -> None:
    app.command("remind")(remind)
    app.command("snooze")(snooze)

"""``publish`` (filled in by the publishing work)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import IncidentctlError
from .common import complete_channel, complete_incident_id


def publish(
    ctx: typer.Context,
    incident_id: Annotated[str | None, typer.Argument(help="Incident id or prefix (default: all incidents).", autocompletion=complete_incident_id, show_default=False)] = None,
    channel: Annotated[list[str] | None, typer.Option("--channel", help="Only this channel (repeatable).", autocompletion=complete_channel, show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what each channel would receive; send nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Deliver every public entry not yet delivered, on every enabled channel."""
    raise IncidentctlError("publish is not implemented yet")


def publish_after_change(ctx: typer.Context, incident_id: str) -> int:
    """``--publish`` on new/update/resolve: publish one incident; return the exit code."""
    raise IncidentctlError("publish is not implemented yet")


def register(app: typer.Typer) -> None:
    app.command("publish")(publish)

"""``postmortem`` (filled in by the postmortem work)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import IncidentctlError
from .common import complete_incident_id


def postmortem(
    ctx: typer.Context,
    incident_id: Annotated[str, typer.Argument(help="Incident id or prefix.", autocompletion=complete_incident_id, show_default=False)],
    output: Annotated[str | None, typer.Option("--output", "-o", help="Write the Markdown here instead of stdout.", show_default=False)] = None,
) -> None:
    """Render the postmortem (Markdown) from the record."""
    raise IncidentctlError("postmortem is not implemented yet")


def register(app: typer.Typer) -> None:
    app.command("postmortem")(postmortem)

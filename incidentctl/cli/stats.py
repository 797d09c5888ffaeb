"""``stats`` (filled in by the stats work)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import IncidentctlError


def stats(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option("--since", help="Only incidents started on or after this date.", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Counts and durations: per severity, per component, time to resolve, silences."""
    raise IncidentctlError("stats is not implemented yet")


def register(app: typer.Typer) -> None:
    app.command("stats")(stats)

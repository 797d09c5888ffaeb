"""``site build`` / ``site serve`` (filled in by the status page work)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import IncidentctlError

site_app = typer.Typer(help="Build or preview the static status page.", no_args_is_help=True)


@site_app.command("build")
def build(
    ctx: typer.Context,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Output folder (default: channels.statuspage.output).", show_default=False)] = None,
    now: Annotated[str | None, typer.Option("--now", help="Build as of this instant (the 90-day bars end here).", show_default=False)] = None,
) -> None:
    """Build the static status page."""
    raise IncidentctlError("site build is not implemented yet")


@site_app.command("serve")
def serve(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", "-p", help="Port on 127.0.0.1.")] = 8000,
) -> None:
    """Build and preview the status page on http://127.0.0.1:PORT/."""
    raise IncidentctlError("site serve is not implemented yet")


def register(app: typer.Typer) -> None:
    app.add_typer(site_app, name="site")

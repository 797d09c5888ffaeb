"""``site build`` / ``site serve``: thin wrappers over :mod:`incidentctl.site`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..common import open_repo
from ..output import note

site_app = typer.Typer(help="Build or preview the static status page.", no_args_is_help=True)


@site_app.command("build")
def build(
    ctx: typer.Context,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Output folder (default: channels.statuspage.output).", show_default=False),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option("--now", help="Build as of this instant (the 90-day bars end here).", show_default=False),
    ] = None,
) -> None:
    """Build the static status page (index.html, incident pages, history, feed.atom, api/v2/)."""
    from ...durations import parse_timestamp
    from ...site import build_site

    moment = parse_timestamp(now) if now else None
    repo = open_repo(ctx, only_channel="statuspage")  # the status page's settings only
    folder = build_site(repo, Path(output) if output else None, moment)
    typer.echo(str(folder))
    note(f"status page built: open {folder / 'index.html'}")


@site_app.command("serve")
def serve(
    ctx: typer.Context,
    port: Annotated[
        int, typer.Option("--port", "-p", help="Port on 127.0.0.1 (0 picks a free one).", min=0, max=65535)
    ] = 8000,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Output folder (default: channels.statuspage.output).", show_default=False),
    ] = None,
) -> None:
    """Build the status page and preview it on http://127.0.0.1:PORT/ until interrupted."""
    from ...site import build_site
    from ...site.serve import make_server

    repo = open_repo(ctx)
    folder = build_site(repo, Path(output) if output else None)
    server = make_server(folder, port)
    host, bound = server.server_address[:2]
    note(f"serving {folder} on http://{host!s}:{bound}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def register(app: typer.Typer) -> None:
    app.add_typer(site_app, name="site")

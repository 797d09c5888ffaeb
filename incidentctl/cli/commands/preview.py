"""``preview``: what each channel would receive for the public entries added since a ref (a PR comment)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..common import complete_channel, open_repo
from ..output import note, print_json


def preview(
    ctx: typer.Context,
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            help="Compare with this git ref (default: the default branch, origin/main when the remote is known).",
            show_default=False,
        ),
    ] = None,
    channel: Annotated[
        list[str] | None,
        typer.Option(
            "--channel", help="Only this channel (repeatable).", autocompletion=complete_channel, show_default=False
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document (the payloads as sent).")] = False,
) -> None:
    """Show exactly what each configured channel would receive for the public entries added since --base.

    The same renderer as `publish`; no network, no secrets needed. Slack is shown as a reader sees it
    (--json gives the payloads).
    """
    from ...preview import preview as run_preview
    from ...preview import preview_lines

    repo = open_repo(ctx)
    report = run_preview(repo, base, channel or None)
    for problem in report.problems:
        note(problem)
    if as_json:
        print_json(report.to_json())
        return
    for line in preview_lines(report):
        typer.echo(line)


def register(app: typer.Typer) -> None:
    app.command("preview")(preview)

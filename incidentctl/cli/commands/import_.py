"""``import statuspage``: bring a Statuspage page's incident history into the repo (one commit)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..common import open_repo
from ..output import note, print_json

import_app = typer.Typer(
    help="Import incident history from another status page.", no_args_is_help=True, rich_markup_mode=None
)


@import_app.command("statuspage")
def statuspage(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Argument(
            help="The page's root URL (https://status.example.com) or a folder holding a saved api/v2/incidents.json.",
            show_default=False,
            metavar="URL_OR_DIR",
        ),
    ],
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only incidents created on or after this date (2024-01-31).", show_default=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was imported as JSON.")] = False,
) -> None:
    """Import a Statuspage page's incidents (not yet imported ones only; one commit); prints the new ids."""
    from ...importer import import_statuspage, parse_since

    when = parse_since(since) if since else None
    repo = open_repo(ctx)
    result = import_statuspage(repo, source, since=when)
    if as_json:
        print_json(
            {
                "page": result.page,
                "imported": [
                    {
                        "id": incident.id,
                        "kind": incident.kind,
                        "from": incident.imported_from.id if incident.imported_from else None,
                    }
                    for incident in result.imported
                ],
                "already_imported": result.already_imported,
                "skipped_maintenances": result.skipped_maintenances,
                "unknown_components": result.unknown_components,
                "problems": result.problems,
                "commit": result.commit,
            }
        )
    else:
        for incident in result.imported:
            typer.echo(incident.id)
    summary = f"imported {result.counted()} from statuspage {result.page}"
    if result.already_imported:
        summary += f" ({result.already_imported} already imported)"
    note(summary)
    if result.skipped_before_since:
        note(f"note: {result.skipped_before_since} incidents before --since {since} skipped")
    if result.skipped_maintenances:
        note(
            f"note: {result.skipped_maintenances} scheduled maintenance{'s' if result.skipped_maintenances != 1 else ''}"
            " skipped (no scheduled_for/scheduled_until window)"
        )
    if result.unknown_components:
        note(
            f"note: components not in incidentctl.yaml were dropped: {', '.join(result.unknown_components)} "
            "(add them under `components:` with the same name and import again into a fresh repo to keep them)"
        )
    for problem in result.problems:
        note(f"note: {problem}")
    for remark in result.notes:
        note(f"note: {remark}")
    if result.push_error is not None:
        raise result.push_error


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")

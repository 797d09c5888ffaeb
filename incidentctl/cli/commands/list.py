"""``list``: incidents, newest first, as a table or JSON."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..common import complete_severity, open_repo
from ..options import JsonOpt
from ..output import _safe, print_incident_table, print_json, print_json_lines

if TYPE_CHECKING:
    from ...config import Config


def list_incidents(
    ctx: typer.Context,
    open_only: Annotated[bool, typer.Option("--open", help="Only incidents not yet resolved.")] = False,
    severity: Annotated[
        str | None,
        typer.Option("--severity", help="Only this severity.", autocompletion=complete_severity, show_default=False),
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option("--kind", help="Only incidents or only maintenances (default: both).", show_default=False),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List incidents and maintenances, newest first."""
    repo = open_repo(ctx)
    if severity is not None and severity not in repo.config.severities:
        from ...errors import UsageError

        raise UsageError(f"--severity {severity!r}: unknown severity (known: {', '.join(repo.config.severities)})")
    if kind is not None and kind not in ("incident", "maintenance"):
        from ...errors import UsageError

        raise UsageError(f"--kind {kind!r}: must be incident or maintenance")
    with repo.summary_rows() as summaries:
        for problem in summaries.problems:  # one invalid record never hides the others: named, skipped
            typer.echo(problem, err=True)
        selected = summaries.select(open_only=open_only, severity=severity, kind=kind)
        if as_json and not sys.stdout.isatty():
            # Cached JSON bytes, one incident a line: no encoder runs (100,000 incidents in well under a second).
            print_json_lines(summaries.json_pieces(selected))
            return
        rows = summaries.dicts(selected)
    if as_json:
        print_json(rows)  # for a person at a terminal: indented
        return
    incidents = [row for row in rows if row.get("kind", "incident") == "incident"]
    maintenances = [row for row in rows if row.get("kind") == "maintenance"]
    if incidents or not maintenances:
        print_incident_table(incidents, repo.config)
    if maintenances:
        if incidents:
            typer.echo("")
        _print_maintenances(maintenances, repo.config)


def _print_maintenances(rows: list[dict[str, Any]], config: Config) -> None:
    """Maintenances with their window in the configured zone (and its length)."""
    from datetime import datetime

    from ...durations import format_duration
    from ...render import offset_time

    table = [("ID", "STATUS", "WINDOW", "DURATION", "TITLE")]
    for row in rows:
        start = datetime.fromisoformat(row["scheduled_for"])
        end = datetime.fromisoformat(row["scheduled_until"])
        table.append(
            (
                row["id"],
                row["status"],
                f"{offset_time(start, config.tz)} to {offset_time(end, config.tz)}",
                format_duration(end - start),
                _safe(" ".join(str(row["title"]).split())),
            )
        )
    widths = [max(len(line[n]) for line in table) for n in range(4)]
    for line in table:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(line[:4], widths, strict=True)) + "  " + line[4])


def register(app: typer.Typer) -> None:
    app.command("list")(list_incidents)

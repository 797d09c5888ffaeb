"""``list``: incidents, newest first, as a table or JSON."""

from __future__ import annotations

from typing import Annotated

import typer

from ..common import complete_severity, open_repo
from ..options import JsonOpt
from ..output import print_incident_table, print_json


def list_incidents(
    ctx: typer.Context,
    open_only: Annotated[bool, typer.Option("--open", help="Only incidents not yet resolved.")] = False,
    severity: Annotated[
        str | None,
        typer.Option("--severity", help="Only this severity.", autocompletion=complete_severity, show_default=False),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List incidents, newest first."""
    repo = open_repo(ctx)
    if severity is not None and severity not in repo.config.severities:
        from ...errors import UsageError

        raise UsageError(f"--severity {severity!r}: unknown severity (known: {', '.join(repo.config.severities)})")
    problems: list[str] = []
    summaries = repo.summaries(skip_invalid=True, problems=problems)
    for problem in problems:  # one invalid record never hides the others: named, skipped
        typer.echo(problem, err=True)
    rows = [
        row
        for row in reversed(summaries)
        if (not open_only or row["status"] != "resolved") and (severity is None or row["severity"] == severity)
    ]
    if as_json:
        print_json(rows)
        return
    print_incident_table(rows, repo.config)


def register(app: typer.Typer) -> None:
    app.command("list")(list_incidents)

"""What the commands print: JSON documents, remarks on stderr, the incident table and the incident view.

Colour comes from rich through :func:`incidentctl.display.console`: ``NO_COLOR`` turns it off,
and so does output that is not a terminal (piped output is never wrapped either).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import typer

from ..display import STATUS_STYLE, console, print_incident, severity_style

if TYPE_CHECKING:
    from ..config import Config

__all__ = ["console", "note", "print_incident", "print_incident_table", "print_json"]


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def note(message: str) -> None:
    """A human-facing remark on stderr (stdout stays for data such as the new id)."""
    typer.echo(message, err=True)


def print_incident_table(rows: list[dict[str, Any]], config: Config) -> None:
    """``incidentctl list``: one row per incident summary (``Repo.summaries()``)."""
    from ..durations import format_duration, utcnow

    if not rows:
        typer.echo("No incidents. Open one with: incidentctl new TITLE --severity sev2")
        return
    from datetime import datetime

    from rich.markup import escape
    from rich.table import Table

    from ..render import offset_time

    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("ID", "SEV", "STATUS", "STARTED", "DURATION", "TITLE"):
        if column == "TITLE":
            table.add_column(column, min_width=24, overflow="fold")
        else:
            table.add_column(column, no_wrap=True)
    now = utcnow()
    for row in rows:
        started = datetime.fromisoformat(row["started_at"])
        resolved = datetime.fromisoformat(row["resolved_at"]) if row["resolved_at"] else None
        table.add_row(
            row["id"],
            f"[{severity_style(config, row['severity'])}]{row['severity']}[/]",
            f"[{STATUS_STYLE.get(row['status'], '')}]{row['status']}[/]",
            offset_time(started, config.tz),
            format_duration((resolved or now) - started) + ("" if resolved else "+"),
            escape(row["title"]),
        )
    console().print(table)

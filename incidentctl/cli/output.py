"""What the commands print: JSON documents, remarks on stderr, the incident table and the incident view.

Colour comes from rich through :func:`incidentctl.display.console`: ``NO_COLOR`` turns it off,
and so does output that is not a terminal (piped output is never wrapped either).
"""

from __future__ import annotations

import json
import re
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

    width = table_width()
    ids = [_safe(row["id"]) for row in rows]
    id_width = max(len("ID"), *(len(value) for value in ids))
    sev_width = max(len("SEV"), *(len(row["severity"]) for row in rows))
    status_width = max(len("STATUS"), *(len(row["status"]) for row in rows))
    now = utcnow()
    started = [datetime.fromisoformat(row["started_at"]) for row in rows]
    started_text = [offset_time(moment, config.tz) for moment in started]
    durations = []
    for row, moment in zip(rows, started, strict=True):
        resolved = datetime.fromisoformat(row["resolved_at"]) if row["resolved_at"] else None
        durations.append(format_duration((resolved or now) - moment) + ("" if resolved else "+"))
    started_width = max(len("STARTED"), *(len(text) for text in started_text))
    duration_width = max(len("DURATION"), *(len(text) for text in durations))
    # Ids and statuses are never cut; the title gets what is left (at least MIN_TITLE, cut with an
    # ellipsis); STARTED, then DURATION, make room for it on narrow terminals.
    fixed = id_width + sev_width + status_width + 3
    show_duration = show_started = True
    if width is not None:
        room = width - fixed
        show_started = room - started_width - 1 - duration_width - 1 >= MIN_TITLE
        show_duration = room - (started_width + 1 if show_started else 0) - duration_width - 1 >= MIN_TITLE
    table = Table(box=None, header_style="bold", pad_edge=False, collapse_padding=True)
    table.add_column("ID", no_wrap=True, min_width=id_width)
    table.add_column("SEV", no_wrap=True, min_width=sev_width)
    table.add_column("STATUS", no_wrap=True, min_width=status_width)
    if show_started:
        table.add_column("STARTED", no_wrap=True, min_width=started_width)
    if show_duration:
        table.add_column("DURATION", no_wrap=True, min_width=duration_width)
    table.add_column("TITLE", no_wrap=True, overflow="ellipsis", min_width=1)
    for index, row in enumerate(rows):
        cells = [
            ids[index],
            f"[{severity_style(config, row['severity'])}]{escape(row['severity'])}[/]",
            f"[{STATUS_STYLE.get(row['status'], '')}]{escape(row['status'])}[/]",
        ]
        if show_started:
            cells.append(started_text[index])
        if show_duration:
            cells.append(durations[index])
        cells.append(escape(_safe(row["title"])))
        table.add_row(*cells)
    out = console()
    if width is not None:
        out.width = width
    out.print(table, crop=True, soft_wrap=False)


#: The narrowest title column worth showing before STARTED and DURATION give way.
MIN_TITLE = 16

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _safe(text: str) -> str:
    """Control characters shown as ``\\x1b``, never sent to the terminal (defence: records are cleaned on input)."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def table_width() -> int | None:
    """The width tables fit: ``COLUMNS`` when set, else the terminal's; None (no limit) when piped."""
    import os
    import shutil

    value = os.environ.get("COLUMNS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None

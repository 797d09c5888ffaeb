"""What the commands print: JSON documents, remarks on stderr, the incident table and the incident view.

Colour comes from rich through :func:`incidentctl.display.console`: ``NO_COLOR`` turns it off,
and so does output that is not a terminal (piped output is never wrapped either).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import typer

from ..display import STATUS_STYLE, console, print_incident, severity_style

if TYPE_CHECKING:
    from ..config import Config

__all__ = ["console", "note", "print_incident", "print_incident_table", "print_json", "print_json_lines"]


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def print_json_lines(pieces: Iterable[bytes]) -> None:
    """A JSON array of elements already encoded (UTF-8, separated by ``,\\n``), one element a line:
    ``[``, the elements, ``]`` (``[]`` when there are none). The bytes go to stdout as they are."""
    out = sys.stdout
    binary = getattr(out, "buffer", None) if (out.encoding or "").lower().replace("-", "") == "utf8" else None
    if binary is not None:
        out.flush()  # anything written as text before goes first
    first = True
    for piece in pieces:
        if first:
            piece = b"[\n" + piece
            first = False
        if binary is None:
            out.write(piece.decode("utf-8"))
        else:
            binary.write(piece)
    if binary is not None:
        binary.write(b"[]\n" if first else b"\n]\n")
        binary.flush()
    else:
        out.write("[]\n" if first else "\n]\n")


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

    from rich.text import Text

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
    # Laid out by hand (rich's table squeezes every column when the terminal is narrow).
    columns: list[tuple[str, int]] = [("ID", id_width), ("SEV", sev_width), ("STATUS", status_width)]
    if show_started:
        columns.append(("STARTED", started_width))
    if show_duration:
        columns.append(("DURATION", duration_width))
    used = sum(w for _, w in columns) + len(columns)
    title_room = None if width is None else max(width - used, 1)
    out = console()
    if width is not None:
        out.width = max(width, used + 1)
    header = Text(" ".join(name.ljust(w) for name, w in columns) + " TITLE", style="bold")
    out.print(header, soft_wrap=True, crop=False)
    for index, row in enumerate(rows):
        line = Text()
        cells: list[tuple[str, str]] = [
            (ids[index], ""),
            (_safe(row["severity"]), severity_style(config, row["severity"])),
            (_safe(row["status"]), STATUS_STYLE.get(row["status"], "")),
        ]
        if show_started:
            cells.append((started_text[index], ""))
        if show_duration:
            cells.append((durations[index], ""))
        for (value, style), (_, cell_width) in zip(cells, columns, strict=True):
            line.append(value.ljust(cell_width), style=style or None)
            line.append(" ")
        title = Text(_safe(row["title"]))
        if title_room is not None:
            title.truncate(title_room, overflow="ellipsis")  # by terminal cells: wide characters count 2
        line.append_text(title)
        out.print(line, soft_wrap=True, crop=False)


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

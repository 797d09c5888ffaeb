"""``tick``: apply what is due (maintenance auto-start/complete and reminders, holding updates); for schedulers."""

from __future__ import annotations

from typing import Annotated

import typer

from ..common import open_repo
from ..output import note, print_json


def tick(
    ctx: typer.Context,
    now: Annotated[
        str | None,
        typer.Option("--now", help="Apply what is due at this instant (ISO 8601); default: now.", show_default=False),
    ] = None,
    publish: Annotated[bool, typer.Option("--publish", help="Publish every record tick changed.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Apply what is due: start and complete maintenances, post their reminders and holding updates.

    Each change is one commit. Safe to run from several schedulers at once: a change another run
    already made is not made again. Exit status: 0, 3 when a delivery failed (with --publish), 4 when
    a commit could not be pushed.
    """
    from ...durations import parse_timestamp, utcnow
    from ...tick import run

    repo = open_repo(ctx)
    moment = parse_timestamp(now) if now else utcnow()
    report = run(repo, moment)
    for problem in report.problems:
        note(problem)
    publishing = publish and bool(report.changed_ids)
    if as_json:
        if not publishing:
            print_json(report.to_json())
    else:
        applied = [item for item in report.applied if not item.skipped]
        for item in applied:
            typer.echo(f"{item.incident_id}: {item.summary}")
        if not applied:
            note(f"nothing due at {moment:%Y-%m-%dT%H:%M:%SZ}")
    if report.push_error is not None:
        raise report.push_error
    if publishing:
        from ..publish import publish_ids

        code = publish_ids(ctx, report.changed_ids, report.to_json() if as_json else None)
        if code:
            raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("tick")(tick)

"""``maintenance schedule|start|complete|cancel|reschedule``: planned work, announced before it starts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ..common import complete_component, open_repo
from ..options import IdArg
from ..output import note
from .incidents import AtOpt, ProposeOpt, PublishOpt, _after_change, _at, _check_propose, _resolve_for_write

if TYPE_CHECKING:
    from datetime import datetime, timedelta

app = typer.Typer(
    name="maintenance",
    help="Scheduled maintenance: schedule it, start, complete, cancel or move it (tick automates start and end).",
    no_args_is_help=True,
)

MessageOpt = Annotated[
    str | None,
    typer.Option("--message", "-m", help="The public text (a default is written when omitted).", show_default=False),
]
StartOpt = Annotated[
    str | None,
    typer.Option("--start", help="When it starts (ISO 8601 with a zone).", show_default=False),
]
EndOpt = Annotated[str | None, typer.Option("--end", help="When it ends (ISO 8601 with a zone).", show_default=False)]
DurationOpt = Annotated[
    str | None,
    typer.Option("--duration", help="How long it lasts (e.g. 2h, 90m), instead of --end.", show_default=False),
]


def _window(
    start: str | None, end: str | None, duration: str | None
) -> tuple[datetime | None, datetime | None, timedelta | None]:
    from ...durations import parse_duration, parse_timestamp
    from ...errors import UsageError

    if end is not None and duration is not None:
        raise UsageError("give --end or --duration, not both")
    return (
        parse_timestamp(start) if start else None,
        parse_timestamp(end) if end else None,
        parse_duration(duration) if duration else None,
    )


def _read(message: str | None) -> str | None:
    from ..common import read_message

    return read_message(message, what="the maintenance notice", required=False) if message == "-" else message


@app.command("schedule")
def schedule(
    ctx: typer.Context,
    title: Annotated[str, typer.Argument(help="What users see, e.g. 'Database upgrade'.", show_default=False)],
    start: StartOpt = None,
    end: EndOpt = None,
    duration: DurationOpt = None,
    component: Annotated[
        list[str] | None,
        typer.Option(
            "--component",
            "-c",
            help="A component under maintenance while it runs (repeatable).",
            autocompletion=complete_component,
            show_default=False,
        ),
    ] = None,
    message: MessageOpt = None,
    auto_start: Annotated[
        bool | None,
        typer.Option(
            "--auto-start/--no-auto-start", help="tick starts it at --start (default: config).", show_default=False
        ),
    ] = None,
    auto_complete: Annotated[
        bool | None,
        typer.Option(
            "--auto-complete/--no-auto-complete",
            help="tick completes it at its end (default: config).",
            show_default=False,
        ),
    ] = None,
    counts_as_downtime: Annotated[
        bool, typer.Option("--counts-as-downtime", help="Its time lowers the status page's uptime figures.")
    ] = False,
    publish: PublishOpt = False,
    propose: ProposeOpt = False,
) -> None:
    """Schedule a maintenance and print its id."""
    from ...errors import UsageError
    from ...maintenance import schedule_maintenance, window

    if start is None:
        raise UsageError("--start is required")
    begin, finish, span = _window(start, end, duration)
    assert begin is not None
    begin, finish = window(begin, finish, span)
    _check_propose(propose, publish)
    repo = open_repo(ctx)
    change = schedule_maintenance(
        repo,
        title,
        start=begin,
        end=finish,
        components=component or [],
        message=_read(message),
        auto_start=auto_start,
        auto_complete=auto_complete,
        counts_as_downtime=counts_as_downtime,
        propose=propose,
    )
    typer.echo(change.incident.id)
    _after_change(ctx, change, publish, branch_on_stdout=False)  # stdout: the id only (SPEC)


def _move(
    ctx: typer.Context, incident_id: str, action: str, message: str | None, at: str | None, publish: bool
) -> None:
    from ...maintenance import move_maintenance

    repo = open_repo(ctx)
    full_id = _resolve_for_write(repo, incident_id)
    change = move_maintenance(repo, full_id, action, message=_read(message), at=_at(at))
    note(f"{change.incident.id}: {change.summary}")
    _after_change(ctx, change, publish)


@app.command("start")
def start_command(
    ctx: typer.Context, incident_id: IdArg, message: MessageOpt = None, at: AtOpt = None, publish: PublishOpt = False
) -> None:
    """Start a maintenance: its components go under maintenance."""
    _move(ctx, incident_id, "start", message, at, publish)


@app.command("complete")
def complete_command(
    ctx: typer.Context, incident_id: IdArg, message: MessageOpt = None, at: AtOpt = None, publish: PublishOpt = False
) -> None:
    """Complete a maintenance: its components are operational again."""
    _move(ctx, incident_id, "complete", message, at, publish)


@app.command("cancel")
def cancel_command(
    ctx: typer.Context, incident_id: IdArg, message: MessageOpt = None, at: AtOpt = None, publish: PublishOpt = False
) -> None:
    """Cancel a maintenance (not once it is completed)."""
    _move(ctx, incident_id, "cancel", message, at, publish)


@app.command("reschedule")
def reschedule_command(
    ctx: typer.Context,
    incident_id: IdArg,
    start: StartOpt = None,
    end: EndOpt = None,
    duration: DurationOpt = None,
    message: MessageOpt = None,
    publish: PublishOpt = False,
) -> None:
    """Move a maintenance's window (while it runs, only its end); the notice says where it moved."""
    from ...maintenance import reschedule_maintenance

    begin, finish, span = _window(start, end, duration)
    repo = open_repo(ctx)
    full_id = _resolve_for_write(repo, incident_id)
    change = reschedule_maintenance(repo, full_id, start=begin, end=finish, duration=span, message=_read(message))
    note(f"{change.incident.id}: {change.summary}")
    _after_change(ctx, change, publish)


def register(root: typer.Typer) -> None:
    root.add_typer(app)

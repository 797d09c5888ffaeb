"""``new``, ``update``, ``resolve``, ``list``, ``show``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from .common import (
    complete_component,
    complete_incident_id,
    complete_severity,
    complete_status,
    console,
    note,
    open_repo,
    print_json,
    read_message,
    report_change,
)

if TYPE_CHECKING:
    from ..config import Config
    from ..model import Incident

IdArg = Annotated[
    str,
    typer.Argument(
        help="Incident id or a unique prefix of it.", autocompletion=complete_incident_id, show_default=False
    ),
]
ComponentOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--component",
        "-c",
        help="Affected component and its impact, ID=IMPACT (repeatable).",
        autocompletion=complete_component,
        show_default=False,
    ),
]
MessageOpt = Annotated[
    str | None,
    typer.Option(
        "--message",
        "-m",
        help="The update text; '-' reads stdin; omitted on a terminal opens $EDITOR.",
        show_default=False,
    ),
]
NextUpdateOpt = Annotated[
    str | None,
    typer.Option(
        "--next-update",
        help="When the next update is promised: a duration from the entry's time (30m) or a timestamp.",
        show_default=False,
    ),
]
AtOpt = Annotated[
    str | None, typer.Option("--at", help="Backfill: when this happened (ISO 8601 with a zone).", show_default=False)
]
PublishOpt = Annotated[bool, typer.Option("--publish", help="Publish to every enabled channel right after the change.")]
StatusOpt = Annotated[
    str | None,
    typer.Option(
        "--status",
        "-s",
        help="investigating, identified, monitoring or resolved.",
        autocompletion=complete_status,
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]

STATUS_STYLE = {
    "investigating": "bold red",
    "identified": "bold yellow",
    "monitoring": "bold blue",
    "resolved": "green",
}
SEVERITY_STYLE = ["bold white on red", "bold red", "yellow", "cyan", "dim"]
IMPACT_STYLE = {
    "operational": "green",
    "degraded_performance": "yellow",
    "partial_outage": "dark_orange",
    "major_outage": "bold red",
    "under_maintenance": "blue",
}


def _at(value: str | None):  # type: ignore[no-untyped-def]
    from ..durations import parse_timestamp

    return parse_timestamp(value) if value else None


def _resolve_for_write(repo, incident_id: str) -> str:  # type: ignore[no-untyped-def]
    """The full id; with ``git.push`` an id this clone has not seen yet may arrive with the sync
    the write does first, so it is resolved again there."""
    from ..errors import IncidentNotFoundError

    try:
        return str(repo.resolve_id(incident_id))
    except IncidentNotFoundError:
        if repo.config.git.push:
            return incident_id
        raise


def _after_change(ctx: typer.Context, change, publish: bool) -> None:  # type: ignore[no-untyped-def]
    from ..errors import PushError

    push_error: PushError | None = change.push_error
    change.push_error = None
    report_change(change)
    if publish:
        from .publish import publish_after_change

        code = publish_after_change(ctx, change.incident.id)
        if push_error is None and code:
            raise typer.Exit(code)
    if push_error is not None:
        raise push_error


def new(
    ctx: typer.Context,
    title: Annotated[str, typer.Argument(help="What users see, e.g. 'API unavailable'.", show_default=False)],
    severity: Annotated[
        str,
        typer.Option(
            "--severity",
            help="Severity id from incidentctl.yaml (sev1, sev2, sev3 by default).",
            autocompletion=complete_severity,
            show_default=False,
        ),
    ],
    component: ComponentOpt = None,
    status: StatusOpt = "investigating",
    message: MessageOpt = None,
    next_update: NextUpdateOpt = None,
    at: AtOpt = None,
    commander: Annotated[
        str | None, typer.Option("--commander", help="Incident commander (named in reminders).", show_default=False)
    ] = None,
    incident_id: Annotated[
        str | None, typer.Option("--id", help="Use this id instead of YYYY-MM-DD-slug.", show_default=False)
    ] = None,
    publish: PublishOpt = False,
) -> None:
    """Open an incident and print its id."""
    from ..lifecycle import open_incident, parse_component_impacts

    repo = open_repo(ctx)
    components = parse_component_impacts(component or [], repo)
    when = _at(at)
    text = read_message(message, what=f"the first public update for {title!r}")
    change = open_incident(
        repo,
        title,
        severity=severity,
        components=components,
        status=status or "investigating",
        message=text or "",
        next_update=next_update,
        at=when,
        commander=commander,
        incident_id=incident_id,
    )
    typer.echo(change.incident.id)
    _after_change(ctx, change, publish)


def update(
    ctx: typer.Context,
    incident_id: IdArg,
    message: MessageOpt = None,
    status: StatusOpt = None,
    component: ComponentOpt = None,
    internal: Annotated[
        bool, typer.Option("--internal", help="An internal note: kept in the record and postmortem, never published.")
    ] = False,
    next_update: NextUpdateOpt = None,
    at: AtOpt = None,
    severity: Annotated[
        str | None,
        typer.Option("--severity", help="Change the severity.", autocompletion=complete_severity, show_default=False),
    ] = None,
    publish: PublishOpt = False,
) -> None:
    """Add an entry to an incident's timeline."""
    from ..lifecycle import add_update, parse_component_impacts

    repo = open_repo(ctx)
    full_id = _resolve_for_write(repo, incident_id)
    components = parse_component_impacts(component or [], repo)
    when = _at(at)
    text = read_message(message, what=f"the update for {full_id}")
    change = add_update(
        repo,
        full_id,
        message=text or "",
        status=status,
        components=components,
        internal=internal,
        next_update=next_update,
        at=when,
        severity=severity,
    )
    note(f"{change.incident.id}: {change.summary}")
    _after_change(ctx, change, publish)


def resolve(
    ctx: typer.Context,
    incident_id: IdArg,
    message: MessageOpt = None,
    at: AtOpt = None,
    publish: PublishOpt = False,
) -> None:
    """Resolve an incident: every affected component back to operational."""
    from ..lifecycle import DEFAULT_RESOLVE_MESSAGE, resolve_incident

    repo = open_repo(ctx)
    full_id = _resolve_for_write(repo, incident_id)
    when = _at(at)
    text = read_message(message, what=f"the resolution of {full_id}", initial=DEFAULT_RESOLVE_MESSAGE, required=False)
    change = resolve_incident(repo, full_id, message=text, at=when)
    note(f"{change.incident.id}: resolved")
    _after_change(ctx, change, publish)


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
        from ..errors import UsageError

        raise UsageError(f"--severity {severity!r}: unknown severity (known: {', '.join(repo.config.severities)})")
    rows = [
        row
        for row in reversed(repo.summaries())
        if (not open_only or row["status"] != "resolved") and (severity is None or row["severity"] == severity)
    ]
    if as_json:
        print_json(rows)
        return
    _print_table(rows, repo.config)


def _severity_style(config: Config, severity: str) -> str:
    ids = list(config.severities)
    rank = ids.index(severity) if severity in ids else len(SEVERITY_STYLE) - 1
    return SEVERITY_STYLE[min(rank, len(SEVERITY_STYLE) - 1)]


def _print_table(rows: list[dict[str, Any]], config: Config) -> None:
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
            f"[{_severity_style(config, row['severity'])}]{row['severity']}[/]",
            f"[{STATUS_STYLE.get(row['status'], '')}]{row['status']}[/]",
            offset_time(started, config.tz),
            format_duration((resolved or now) - started) + ("" if resolved else "+"),
            escape(row["title"]),
        )
    console().print(table)


def show(ctx: typer.Context, incident_id: IdArg, as_json: JsonOpt = False) -> None:
    """Show one incident with its timeline and deliveries."""
    repo = open_repo(ctx)
    incident = repo.get(incident_id)
    if as_json:
        print_json(incident.to_json())
        return
    _print_incident(incident, repo.config)


def _print_incident(incident: Incident, config: Config) -> None:
    from rich.markup import escape

    from ..durations import format_duration, utcnow
    from ..render import offset_time
    from ..vocabulary import IMPACT_LABELS

    out = console()
    tz = config.tz
    severity = config.severities.get(incident.severity)
    out.print(f"[bold]{escape(incident.title)}[/]")
    out.print(f"  id         {incident.id}")
    out.print(
        f"  severity   [{_severity_style(config, incident.severity)}]{incident.severity}[/]"
        + (f" ({escape(severity.name)})" if severity else "")
    )
    out.print(f"  status     [{STATUS_STYLE.get(incident.status, '')}]{incident.status}[/]")
    out.print(f"  started    {offset_time(incident.started_at, tz)}")
    if incident.resolved_at:
        out.print(f"  resolved   {offset_time(incident.resolved_at, tz)}")
    end = incident.resolved_at or utcnow()
    out.print(
        f"  duration   {format_duration(end - incident.started_at)}{'' if incident.resolved_at else ' (ongoing)'}"
    )
    if incident.commander:
        out.print(f"  commander  {escape(incident.commander)}")
    if incident.components:
        parts = [
            f"{escape(config.component_name(cid))} [{IMPACT_STYLE.get(impact, '')}]{IMPACT_LABELS.get(impact, impact)}[/]"
            for cid, impact in incident.components.items()
        ]
        out.print("  components " + ", ".join(parts))
    out.print()
    out.print("[bold]Timeline[/]")
    for entry in incident.timeline:
        marker = "[magenta]internal[/] " if entry.visibility == "internal" else ""
        out.print(
            f"  {offset_time(entry.at, tz)}  [{STATUS_STYLE.get(entry.status, '')}]{entry.status:<13}[/] {marker}"
            + (", ".join(f"{cid}={impact}" for cid, impact in entry.components.items()))
        )
        for line in (entry.message or "").splitlines() or [""]:
            if line:
                out.print(f"      {escape(line)}")
        if entry.next_update_by:
            out.print(f"      [dim]next update by {offset_time(entry.next_update_by, tz)}[/]")
        if entry.deliveries:
            marks = []
            for channel, delivery in entry.deliveries.items():
                colour = {"delivered": "green", "failed": "red"}.get(delivery.state, "yellow")
                text = f"[{colour}]{channel} {delivery.state}[/]"
                if delivery.state == "failed" and delivery.error:
                    text += f" [dim]({escape(delivery.error)}, {delivery.attempts} attempts)[/]"
                marks.append(text)
            out.print("      " + "  ".join(marks))


def register(app: typer.Typer) -> None:
    app.command("new")(new)
    app.command("update")(update)
    app.command("resolve")(resolve)
    app.command("list")(list_incidents)
    app.command("show")(show)

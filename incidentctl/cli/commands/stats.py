"""``stats``: counts and durations per severity and component, updates, silences."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ..common import open_repo
from ..output import console, print_json

if TYPE_CHECKING:
    from ...config import Config
    from ...stats import Stats


def stats(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="Only incidents started on or after this date (YYYY-MM-DD or ISO 8601).", show_default=False
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Only incidents started before this date.", show_default=False)
    ] = None,
    now: Annotated[
        str | None,
        typer.Option("--now", help="Evaluate open incidents at this instant (ISO 8601).", show_default=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Counts and durations: per severity, per component, time to resolve, updates, silences; and
    scheduled maintenance apart (planned against actual time)."""
    from ...durations import parse_date, parse_timestamp
    from ...errors import UsageError
    from ...stats import compute_stats

    start = parse_date(since) if since else None
    end = parse_date(until) if until else None
    if start and end and end <= start:
        raise UsageError("--until must be after --since")
    repo = open_repo(ctx)
    problems: list[str] = []
    incidents = repo.scan(skip_invalid=True, problems=problems)
    for problem in problems:  # one invalid record never hides the others: named, skipped
        typer.echo(problem, err=True)
    result = compute_stats(incidents, repo.config, since=start, until=end, now=parse_timestamp(now) if now else None)
    if as_json:
        print_json(result.to_json())
        return
    _print(result, repo.config)


def _print(result: Stats, config: Config) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ...render import offset_time
    from ...stats import SILENCES_SHOWN, format_seconds

    out = console()
    period = (f"since {offset_time(result.since, config.tz)}" if result.since else "all time") + (
        f", until {offset_time(result.until, config.tz)}" if result.until else ""
    )
    out.print(
        f"[bold]{result.incidents} incidents[/] ({period}): {result.open} open, {result.incidents - result.open} resolved"
    )
    maintenance = result.maintenance
    if maintenance.count:
        out.print(
            f"[bold]{maintenance.count} maintenance{'' if maintenance.count == 1 else 's'}[/] "
            f"(not counted as incidents): {maintenance.completed} completed, "
            f"{maintenance.cancelled} cancelled; planned {format_seconds(maintenance.planned_seconds)}, "
            f"actual {format_seconds(maintenance.actual_seconds)}"
        )
    if not result.incidents:
        return
    data = result.to_json()
    for label, key in (
        ("resolve", "time_to_resolve"),
        ("identify", "time_to_identify"),
        ("mitigate", "time_to_mitigate"),
    ):
        item = data[key]
        out.print(
            f"  time to {label:<9} mean {format_seconds(item['mean_seconds']):>8}   median {format_seconds(item['median_seconds']):>8}"
        )
    updates = data["updates_per_incident"]
    out.print(
        f"  public updates    {updates['total']} ({updates['mean']} per incident, median {updates['median']}, max {updates['max']})"
    )
    if result.judged:
        out.print(f"  updates on time   {result.on_time} of {result.judged}")
    out.print()

    table = Table(box=None, header_style="bold", pad_edge=False, title_justify="left")
    for column in ("SEVERITY", "INCIDENTS", "OPEN", "MEAN TTR", "MEDIAN TTR"):
        table.add_column(column, no_wrap=True, justify="left" if column == "SEVERITY" else "right")
    for name, item in result.per_severity.items():
        if item.incidents:
            row = item.to_json()
            table.add_row(
                name,
                str(item.incidents),
                str(item.open),
                format_seconds(row["mean_time_to_resolve_seconds"]),
                format_seconds(row["median_time_to_resolve_seconds"]),
            )
    out.print(table)
    out.print()

    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("COMPONENT", "INCIDENTS", "IMPACT"):
        table.add_column(column, no_wrap=True, justify="left" if column == "COMPONENT" else "right")
    for component, item in result.per_component.items():
        if item.incidents:
            table.add_row(
                escape(config.component_name(component)), str(item.incidents), format_seconds(item.impact_seconds)
            )
    out.print(table)
    out.print()

    if result.silences:
        out.print(f"[bold]Longest silences[/] (no public update; top {SILENCES_SHOWN})")
        for incident_id, _title, metrics in result.silences[:SILENCES_SHOWN]:
            longest = metrics.longest_silence
            if longest is not None:
                out.print(
                    f"  {format_seconds(longest.length.total_seconds()):>8}  {incident_id}  "
                    f"({offset_time(longest.start, config.tz)} to {offset_time(longest.end, config.tz)})"
                )


def register(app: typer.Typer) -> None:
    app.command("stats")(stats)

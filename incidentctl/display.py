"""How an incident reads on a terminal: colours per status, severity and impact, and the incident view.

Library code (``demo`` prints an incident too), so it never imports the CLI. Output goes through
rich, which honours ``NO_COLOR`` and drops colour when not writing to a terminal.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

    from rich.console import Console

    from .config import Config
    from .model import Incident

STATUS_STYLE = {
    "investigating": "bold red",
    "identified": "bold yellow",
    "monitoring": "bold blue",
    "resolved": "green",
    "scheduled": "bold blue",
    "in_progress": "bold blue",
    "verifying": "bold cyan",
    "completed": "green",
    "cancelled": "dim",
}
#: By severity rank: the first configured severity is the loudest.
SEVERITY_STYLE = ["bold white on red", "bold red", "yellow", "cyan", "dim"]
IMPACT_STYLE = {
    "operational": "green",
    "degraded_performance": "yellow",
    "partial_outage": "dark_orange",
    "major_outage": "bold red",
    "under_maintenance": "blue",
}
DELIVERY_STYLE = {"delivered": "green", "failed": "red"}


def console(stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr)."""
    from rich.console import Console

    # rich honours NO_COLOR and turns colour off when not writing to a terminal. Piped output is
    # never wrapped or truncated: scripts and grep get whole lines.
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr, highlight=False)
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=240)


def severity_style(config: Config, severity: str) -> str:
    ids = list(config.severities)
    rank = ids.index(severity) if severity in ids else len(SEVERITY_STYLE) - 1
    return SEVERITY_STYLE[min(rank, len(SEVERITY_STYLE) - 1)]


def incident_markup(incident: Incident, config: Config, now: datetime | None = None) -> list[str]:
    """``incidentctl show``: the incident's facts, then its timeline with deliveries, as rich markup lines."""
    from rich.markup import escape

    from .durations import format_duration, utcnow
    from .render import offset_time
    from .vocabulary import IMPACT_LABELS

    tz = config.tz
    severity = config.severities.get(incident.severity)
    lines = [f"[bold]{escape(incident.title)}[/]", f"  id         {incident.id}"]
    if incident.is_maintenance:
        lines.extend(_maintenance_facts(incident, config))
    else:
        lines.extend(
            [
                f"  severity   [{severity_style(config, incident.severity)}]{incident.severity}[/]"
                + (f" ({escape(severity.name)})" if severity else ""),
                f"  status     [{STATUS_STYLE.get(incident.status, '')}]{incident.status}[/]",
                f"  started    {offset_time(incident.started_at, tz)}",
            ]
        )
        if incident.resolved_at:
            lines.append(f"  resolved   {offset_time(incident.resolved_at, tz)}")
        end = incident.resolved_at or now or utcnow()
        lines.append(
            f"  duration   {format_duration(end - incident.started_at)}{'' if incident.resolved_at else ' (ongoing)'}"
        )
    if incident.commander:
        lines.append(f"  commander  {escape(incident.commander)}")
    if incident.components:
        parts = [
            f"{escape(config.component_name(cid))} [{IMPACT_STYLE.get(impact, '')}]{IMPACT_LABELS.get(impact, impact)}[/]"
            for cid, impact in incident.components.items()
        ]
        lines.append("  components " + ", ".join(parts))
    lines.append("")
    lines.append("[bold]Timeline[/]")
    for entry in incident.timeline:
        marker = "[magenta]internal[/] " if entry.visibility == "internal" else ""
        lines.append(
            f"  {offset_time(entry.at, tz)}  [{STATUS_STYLE.get(entry.status, '')}]{entry.status:<13}[/] {marker}"
            + (", ".join(f"{cid}={impact}" for cid, impact in entry.components.items()))
        )
        for line in (entry.message or "").splitlines() or [""]:
            if line:
                lines.append(f"      {escape(line)}")
        if entry.next_update_by:
            lines.append(f"      [dim]next update by {offset_time(entry.next_update_by, tz)}[/]")
        if entry.scheduled_for is not None and entry.scheduled_until is not None:
            verb = "moved to" if entry.notice == "rescheduled" else "window"
            lines.append(
                f"      [dim]{verb} {offset_time(entry.scheduled_for, tz)} to {offset_time(entry.scheduled_until, tz)}[/]"
            )
        if entry.automatic or entry.notice:
            lines.append(
                "      [dim]"
                + ", ".join(
                    (
                        [
                            f"{entry.notice} notice"
                            + (f" ({entry.reminder_before} before)" if entry.reminder_before else "")
                        ]
                        if entry.notice
                        else []
                    )
                    + (["automatic (tick)"] if entry.automatic else [])
                )
                + "[/]"
            )
        if entry.deliveries:
            marks = []
            for channel, delivery in entry.deliveries.items():
                text = f"[{DELIVERY_STYLE.get(delivery.state, 'yellow')}]{channel} {delivery.state}[/]"
                if delivery.state == "failed" and delivery.error:
                    text += f" [dim]({escape(delivery.error)}, {delivery.attempts} attempts)[/]"
                marks.append(text)
            lines.append("      " + "  ".join(marks))
    return lines


def _maintenance_facts(incident: Incident, config: Config) -> list[str]:
    """A maintenance's status, window (local times, with the duration) and automation switches."""
    from .durations import format_duration
    from .render import offset_time

    assert incident.scheduled_for is not None and incident.scheduled_until is not None
    tz = config.tz
    start, end = incident.scheduled_for, incident.scheduled_until
    switches = [
        f"auto-start {'on' if incident.auto_start else 'off'}",
        f"auto-complete {'on' if incident.auto_complete else 'off'}",
        "counts as downtime" if incident.counts_as_downtime else "not counted as downtime",
    ]
    lines = [
        "  kind       maintenance",
        f"  status     [{STATUS_STYLE.get(incident.status, '')}]{incident.status}[/]",
        f"  window     {offset_time(start, tz)} to {offset_time(end, tz)} ({format_duration(end - start)})",
        f"  automation {', '.join(switches)}",
    ]
    started = next((entry.at for entry in incident.timeline if entry.status == "in_progress"), None)
    if started is not None:
        lines.append(f"  started    {offset_time(started, tz)}")
    if incident.resolved_at:
        lines.append(f"  {incident.status:<10} {offset_time(incident.resolved_at, tz)}")
    return lines


def print_incident(incident: Incident, config: Config, out: Console | None = None, now: datetime | None = None) -> None:
    """Print :func:`incident_markup` to ``out`` (default: a stdout console)."""
    target = out if out is not None else console()
    for line in incident_markup(incident, config, now):
        target.print(line)

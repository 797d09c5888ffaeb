"""``publish``: deliver public entries to Slack, X and the status page (exit 3 when any failed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from .common import complete_channel, complete_incident_id, open_repo
from .output import note, print_json

if TYPE_CHECKING:
    from ..delivery import PublishReport
    from ..delivery.engine import Interrupted
    from ..store import Repo


def publish(
    ctx: typer.Context,
    incident_id: Annotated[
        str | None,
        typer.Argument(
            help="Incident id or prefix (default: all incidents).",
            autocompletion=complete_incident_id,
            show_default=False,
        ),
    ] = None,
    channel: Annotated[
        list[str] | None,
        typer.Option(
            "--channel", help="Only this channel (repeatable).", autocompletion=complete_channel, show_default=False
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what each channel would receive; send nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    resend_interrupted: Annotated[
        bool,
        typer.Option(
            "--resend-interrupted",
            help="Send again the entries whose send was cut off on a channel that cannot be asked (Discord, Teams).",
        ),
    ] = False,
    mark_interrupted_sent: Annotated[
        bool,
        typer.Option("--mark-interrupted-sent", help="Record those cut-off sends as delivered (you saw them there)."),
    ] = False,
) -> None:
    """Deliver every public entry not yet delivered, on every enabled channel."""
    from ..errors import UsageError

    if resend_interrupted and mark_interrupted_sent:
        raise UsageError("give --resend-interrupted or --mark-interrupted-sent, not both")
    interrupted: Interrupted | None = "resend" if resend_interrupted else "mark-sent" if mark_interrupted_sent else None
    repo = open_repo(ctx)
    code = _run(
        repo, [incident_id] if incident_id else None, channel or None, dry_run, as_json, interrupted=interrupted
    )
    if code:
        raise typer.Exit(code)


def publish_after_change(ctx: typer.Context, incident_id: str) -> int:
    """``--publish`` on new/update/resolve: publish one incident; return the exit code."""
    return _run(open_repo(ctx), [incident_id], None, False, False)


def publish_ids(ctx: typer.Context, incident_ids: list[str], json_document: dict[str, Any] | None = None) -> int:
    """Publish the given records (``tick --publish``); return the exit code. With ``json_document``, print it
    as the one JSON document with the publish report under ``"publish"``."""
    return _run(open_repo(ctx), incident_ids, None, False, json_document is not None, json_document)


def _run(
    repo: Repo,
    ids: list[str] | None,
    channels: list[str] | None,
    dry_run: bool,
    as_json: bool,
    json_document: dict[str, Any] | None = None,
    *,
    interrupted: Interrupted | None = None,
) -> int:
    from ..delivery import publish as run_publish

    report = run_publish(repo, ids, channels, dry_run=dry_run, interrupted=interrupted)
    for problem in report.invalid:
        note(problem)
    if as_json:
        print_json(report.to_json() if json_document is None else {**json_document, "publish": report.to_json()})
    else:
        _print(report)
    for problem in report.unusable:
        note(f"incidentctl: channel not used: {problem} (its public entries stay pending)")
    if report.push_error is not None:
        if report.failed:
            note(f"{report.failed} deliveries failed; the next `incidentctl publish` retries them")
        raise report.push_error
    if report.invalid:
        note(
            f"{len(report.invalid)} problems in invalid records: those incidents were skipped (see `incidentctl lint`)"
        )
    return report.exit_code


def _print(report: PublishReport) -> None:
    from ..channels.registry import get_channel

    if report.dry_run:
        if not report.previews:
            note("nothing to publish")
        for preview in report.previews:
            typer.echo(
                f"--- {preview.channel} · {preview.incident_id} · {preview.at:%Y-%m-%dT%H:%M:%SZ} · {preview.kind}"
            )
            for line in get_channel(preview.channel).show(preview, demo=False):
                typer.echo(line)
        for warning in report.warnings:
            note(f"note: {warning}")
        return
    if not report.deliveries and not report.unusable:
        note("nothing to publish: every public entry is delivered")
    for result in report.deliveries:
        when = f"{result.at:%Y-%m-%dT%H:%M:%SZ}"
        if result.state == "delivered":
            how = " (found from an interrupted run)" if result.reconciled else ""
            typer.echo(f"{result.incident_id} {when} {result.channel}: delivered{how}")
        elif result.state == "built":
            typer.echo(f"{result.incident_id} {when} {result.channel}: built (not yet deployed)")
        else:
            typer.echo(f"{result.incident_id} {when} {result.channel}: {result.state} after {result.attempts} attempts")
            if result.error:
                note(f"incidentctl: {result.error}")
    for warning in report.warnings:
        note(f"note: {warning}")
    if report.failed:
        note(f"{report.failed} deliveries failed; the next `incidentctl publish` retries them")


def register(app: typer.Typer) -> None:
    app.command("publish")(publish)

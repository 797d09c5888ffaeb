"""``new``, ``update``, ``resolve``: the commands that write an incident (they share their options)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..common import (
    complete_component,
    complete_severity,
    complete_status,
    open_repo,
    read_message,
    report_change,
)
from ..options import IdArg
from ..output import note

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
NoNextUpdateOpt = Annotated[
    bool,
    typer.Option(
        "--no-next-update",
        help="Promise no next update (by default a public update promises one in the severity's update_every).",
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
ProposeOpt = Annotated[
    bool,
    typer.Option(
        "--propose",
        help="Commit the change on a new branch propose/<id>/<n> for review (pushed when a remote exists); "
        "your branch, index and working tree are untouched. Published once merged.",
    ),
]
NoReviewOpt = Annotated[
    bool,
    typer.Option(
        "--no-review",
        help="Skip a review the severity requires (review: required); recorded on the entry as bypassed.",
    ),
]
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


def _at(value: str | None):  # type: ignore[no-untyped-def]
    from ...durations import parse_timestamp

    return parse_timestamp(value) if value else None


def _resolve_for_write(repo, incident_id: str) -> str:  # type: ignore[no-untyped-def]
    """The full id; with ``git.push`` an id this clone has not seen yet may arrive with the sync
    the write does first, so it is resolved again there."""
    from ...errors import IncidentNotFoundError

    try:
        return str(repo.resolve_id(incident_id))
    except IncidentNotFoundError:
        if repo.config.git.push:
            return incident_id
        raise


def _check_propose(propose: bool, publish: bool) -> None:
    from ...errors import UsageError

    if propose and publish:
        raise UsageError("--propose and --publish: a proposal is published once its branch is merged; drop --publish")


def _after_change(ctx: typer.Context, change, publish: bool, branch_on_stdout: bool = True) -> None:  # type: ignore[no-untyped-def]
    from ...errors import PushError

    push_error: PushError | None = change.push_error
    change.push_error = None
    report_change(change)
    proposal = change.proposal
    if proposal is not None:
        if branch_on_stdout:
            typer.echo(proposal.branch)  # the notes below name it too
        for line in proposal.notes():
            note(line)
    else:
        _print_clock(ctx, change)
    if publish:
        from ..publish import publish_after_change

        code = publish_after_change(ctx, change.incident.id)
        if push_error is None and code:
            raise typer.Exit(code)
    if push_error is not None:
        raise push_error


def _print_clock(ctx: typer.Context, change) -> None:  # type: ignore[no-untyped-def]
    """The responder sees the clock: the promise, when the reminder fires, when a holding update goes out."""
    from ...durations import utcnow
    from ...holding import clock_lines

    repo = open_repo(ctx)
    for line in clock_lines(change.incident, repo.config, utcnow()):
        note(line)


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
    no_next_update: NoNextUpdateOpt = False,
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
    from ...lifecycle import open_incident, parse_component_impacts

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
        no_next_update=no_next_update,
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
    no_next_update: NoNextUpdateOpt = False,
    at: AtOpt = None,
    severity: Annotated[
        str | None,
        typer.Option("--severity", help="Change the severity.", autocompletion=complete_severity, show_default=False),
    ] = None,
    publish: PublishOpt = False,
    propose: ProposeOpt = False,
    no_review: NoReviewOpt = False,
) -> None:
    """Add an entry to an incident's timeline."""
    from ...lifecycle import add_update, parse_component_impacts

    _check_propose(propose, publish)
    repo = open_repo(ctx)
    full_id = incident_id if propose else _resolve_for_write(repo, incident_id)
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
        no_next_update=no_next_update,
        at=when,
        severity=severity,
        propose=propose,
        no_review=no_review,
    )
    note(f"{change.incident.id}: {change.summary}")
    _after_change(ctx, change, publish)


def resolve(
    ctx: typer.Context,
    incident_id: IdArg,
    message: MessageOpt = None,
    at: AtOpt = None,
    publish: PublishOpt = False,
    propose: ProposeOpt = False,
    no_review: NoReviewOpt = False,
) -> None:
    """Resolve an incident: every affected component back to operational."""
    from ...lifecycle import DEFAULT_RESOLVE_MESSAGE, resolve_incident

    _check_propose(propose, publish)
    repo = open_repo(ctx)
    full_id = incident_id if propose else _resolve_for_write(repo, incident_id)
    when = _at(at)
    text = read_message(message, what=f"the resolution of {full_id}", initial=DEFAULT_RESOLVE_MESSAGE, required=False)
    change = resolve_incident(repo, full_id, message=text, at=when, propose=propose, no_review=no_review)
    note(f"{change.incident.id}: resolved")
    _after_change(ctx, change, publish)


def register(app: typer.Typer) -> None:
    app.command("new")(new)
    app.command("update")(update)
    app.command("resolve")(resolve)

"""``postmortem``: render it, start it in the record (``--init``), or put it on a review branch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..common import complete_incident_id, open_repo, report_change
from ..output import note


def postmortem(
    ctx: typer.Context,
    incident_id: Annotated[
        str, typer.Argument(help="Incident id or prefix.", autocompletion=complete_incident_id, show_default=False)
    ],
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Write the Markdown here instead of stdout.", show_default=False),
    ] = None,
    init: Annotated[
        bool, typer.Option("--init", help="Add empty, commented postmortem fields to the record and commit.")
    ] = False,
    branch: Annotated[
        bool,
        typer.Option(
            "--branch",
            help="Commit postmortems/<id>.md on a new branch postmortem/<id> for review (your checkout is untouched).",
        ),
    ] = False,
    propose_public: Annotated[
        bool,
        typer.Option(
            "--propose-public",
            help="Propose the public summary for the status page (postmortem.public: true) on a branch "
            "propose/<id>/<n>: published once merged (your checkout is untouched).",
        ),
    ] = False,
    summary: Annotated[
        str | None,
        typer.Option("--summary", help="With --propose-public: the public summary text.", show_default=False),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option("--now", help="End figures of an open incident at this instant (ISO 8601).", show_default=False),
    ] = None,
) -> None:
    """Render the postmortem (Markdown) from the record.

    Figures (time to identify / mitigate / resolve, impact per component, public updates, the
    longest silence between them) are computed from the timeline; the written parts come from the
    record's `postmortem:` fields (start them with --init).
    """
    from ...durations import parse_timestamp
    from ...errors import UsageError
    from ...postmortem import init_postmortem, render_postmortem, review_branch, write_postmortem

    if sum((init, branch, output is not None, propose_public)) > 1:
        raise UsageError("use one of --init, --branch, --propose-public and --output at a time")
    if summary is not None and not propose_public:
        raise UsageError("--summary goes with --propose-public")
    repo = open_repo(ctx)
    if propose_public:
        from ...postmortem import propose_public_summary

        proposed = propose_public_summary(repo, incident_id, summary)
        proposal = proposed.proposal
        assert proposal is not None
        typer.echo(proposal.branch)
        for line in proposal.notes("the status page shows it once merged into"):
            note(line)
        report_change(proposed)
        return
    when = parse_timestamp(now) if now else None
    if init:
        change = init_postmortem(repo, incident_id)
        if change is None:
            note(f"{repo.resolve_id(incident_id)}: every postmortem field is already in the record; nothing changed")
            return
        note(f"{change.incident.id}: postmortem placeholders added to {repo.relpath(change.paths[0])}; fill them in")
        report_change(change)
        return
    incident = repo.get(incident_id)
    if incident.is_open:
        note(f"note: {incident.id} is not resolved yet; figures run to now")
    if branch:
        result = review_branch(repo, incident, when)
        note(f"committed {result.path} on branch {result.branch} ({result.commit[:10]}); your checkout is unchanged")
        note(f"open a pull request: git push -u {repo.config.git.remote} {result.branch}")
        return
    if output is not None:
        written = write_postmortem(repo, incident, Path(output), when)
        note(f"wrote {written}")
        return
    typer.echo(render_postmortem(repo, incident, when), nl=False)


def register(app: typer.Typer) -> None:
    app.command("postmortem")(postmortem)

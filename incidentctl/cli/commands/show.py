"""``show``: one incident with its timeline and deliveries."""

from __future__ import annotations

import typer

from ..common import open_repo
from ..options import IdArg, JsonOpt
from ..output import print_incident, print_json


def show(ctx: typer.Context, incident_id: IdArg, as_json: JsonOpt = False) -> None:
    """Show one incident with its timeline and deliveries."""
    repo = open_repo(ctx)
    incident = repo.get(incident_id)
    if as_json:
        print_json(incident.to_json())
        return
    print_incident(incident, repo.config)


def register(app: typer.Typer) -> None:
    app.command("show")(show)

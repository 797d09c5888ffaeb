"""``init``: create an incident repo (config, folders, templates README, merge driver, first commit)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..output import note


def init(
    path: Annotated[Path, typer.Argument(help="Folder to create or turn into an incident repo.")] = Path("."),
    org: Annotated[
        str | None, typer.Option("--org", help="Organization name shown on the status page.", show_default=False)
    ] = None,
    component: Annotated[
        list[str] | None,
        typer.Option(
            "--component", "-c", help="A component as ID[:NAME], e.g. api:API (repeatable).", show_default=False
        ),
    ] = None,
    timezone: Annotated[str, typer.Option("--timezone", help="IANA time zone for display.")] = "UTC",
) -> None:
    """Create an incident repo: config, folders, templates README, .gitignore, first commit."""
    from ...scaffold import init_repo, parse_components

    organization = org or path.resolve().name.replace("-", " ").title()
    init_repo(path, organization, parse_components(component or []), timezone)
    note(f"Initialised incident repo in {path.resolve()}")
    note(
        f'Next: cd {path} && incidentctl new "API unavailable" --severity sev1 --component api=major_outage -m "We are investigating."'
    )


def register(app: typer.Typer) -> None:
    app.command("init")(init)

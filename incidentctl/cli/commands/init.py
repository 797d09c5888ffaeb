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
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="The status page's public address (https://status.example.com); asked on a terminal.",
            show_default=False,
        ),
    ] = None,
    install_from: Annotated[
        str | None,
        typer.Option(
            "--install-from",
            help="Git URL the workflows install this incidentctl version from (default: a YOUR-ORG placeholder).",
            show_default=False,
        ),
    ] = None,
    reviewers: Annotated[
        list[str] | None,
        typer.Option(
            "--reviewers",
            help="Team (@org/team) that must approve public statements: writes .github/CODEOWNERS for incidents/.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Create an incident repo: config, folders, templates README, .gitignore, first commit."""
    import sys

    from ...scaffold import DEFAULT_INSTALL_FROM, init_repo, parse_components

    organization = org or path.resolve().name.replace("-", " ").title()
    if url is None and sys.stdin.isatty():
        url = typer.prompt(
            "Public URL of the status page (Enter to set it later)", default="", show_default=False
        ).strip()
    init_repo(
        path,
        organization,
        parse_components(component or []),
        timezone,
        url=url or None,
        install_from=install_from or DEFAULT_INSTALL_FROM,
        reviewers=reviewers or (),
    )
    note(f"Initialised incident repo in {path.resolve()}")
    if not url:
        note("note: no status page url yet: set channels.statuspage.url in incidentctl.yaml (or init --url)")
    if not install_from:
        note(
            f"note: the workflows install incidentctl from {DEFAULT_INSTALL_FROM}: replace YOUR-ORG "
            "in .github/workflows/*.yml (or init --install-from URL)"
        )
    if reviewers:
        note(
            "note: .github/CODEOWNERS names the reviewers of incidents/; require code-owner reviews in the branch "
            "protection of the default branch to make their approval binding (README: Review)"
        )
    note(
        f'Next: cd {path} && incidentctl new "API unavailable" --severity sev1 --component api=major_outage -m "We are investigating."'
    )


def register(app: typer.Typer) -> None:
    app.command("init")(init)

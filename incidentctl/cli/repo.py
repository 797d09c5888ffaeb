"""``init``, ``lint``, ``demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import note, print_json, repo_option


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
    from ..scaffold import init_repo, parse_components

    organization = org or path.resolve().name.replace("-", " ").title()
    init_repo(path, organization, parse_components(component or []), timezone)
    note(f"Initialised incident repo in {path.resolve()}")
    note(
        f'Next: cd {path} && incidentctl new "API unavailable" --severity sev1 --component api=major_outage -m "We are investigating."'
    )


def lint(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Validate the config, every record and every template (what CI runs on pull requests)."""
    from ..config import find_repo
    from ..lint import is_warning, lint_repo

    root = find_repo(repo_option(ctx))
    found = lint_repo(root)
    errors = [problem for problem in found if not is_warning(problem)]
    warnings = [problem for problem in found if is_warning(problem)]
    if as_json:
        print_json({"ok": not errors, "problems": errors, "warnings": warnings})
    else:
        for problem in found:
            typer.echo(problem)
        if not found:
            note("lint: no problems")
    if errors:
        raise typer.Exit(1)


def demo(
    path: Annotated[Path, typer.Argument(help="Where to create the demo incident repo.")] = Path("incidentctl-demo"),
) -> None:
    """Replay a real outage into a fresh incident repo and render everything (no credentials, no network)."""
    from ..demo import run_demo

    run_demo(path, out=typer.echo)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("lint")(lint)
    app.command("demo")(demo)

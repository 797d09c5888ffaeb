"""``lint``: validate the config, every record and every template (what CI runs on pull requests)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..common import repo_option
from ..output import note, print_json


def lint(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Validate the config, every record and every template (what CI runs on pull requests)."""
    from ...config import find_repo
    from ...lint import is_warning, lint_repo

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


def register(app: typer.Typer) -> None:
    app.command("lint")(lint)

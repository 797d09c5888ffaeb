"""``merge-driver``: the git merge driver for incident records (registered by ``init``)."""

from __future__ import annotations

import subprocess
from typing import Annotated

import typer


def merge_driver(
    base: Annotated[str, typer.Argument(help="%O: the common ancestor's version.")],
    ours: Annotated[str, typer.Argument(help="%A: our version; the result is written here.")],
    theirs: Annotated[str, typer.Argument(help="%B: their version.")],
    path: Annotated[str | None, typer.Argument(help="%P: the record's path in the repo.")] = None,
) -> None:
    """Merge two versions of an incident record (used by git, not by people)."""
    # Placeholder until the semantic merge lands: git's own line merge.
    result = subprocess.run(["git", "merge-file", ours, base, theirs], check=False)
    raise typer.Exit(0 if result.returncode == 0 else 1)


def register(app: typer.Typer) -> None:
    app.command("merge-driver", hidden=True)(merge_driver)

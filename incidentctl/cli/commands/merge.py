"""``merge-driver``: the git merge driver for incident records (registered by ``init``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def merge_driver(
    base: Annotated[str, typer.Argument(help="%O: the common ancestor's version.")],
    ours: Annotated[str, typer.Argument(help="%A: our version; the result is written here.")],
    theirs: Annotated[str, typer.Argument(help="%B: their version.")],
    path: Annotated[str | None, typer.Argument(help="%P: the record's path in the repo.")] = None,
) -> None:
    """Merge two versions of an incident record (used by git, not by people)."""
    from ...errors import RecordError
    from ...merge import merge_files

    label = path or Path(ours).name
    result = merge_files(Path(base), Path(ours), Path(theirs), label)
    for remark in result.notes:
        typer.echo(f"incidentctl: {label}: note: {remark}", err=True)
    if not result.clean:
        lines = [f"{label}: cannot merge automatically:", *(f"  {problem}" for problem in result.conflicts)]
        lines.append(
            f"  the file now holds git's conflict markers: fix {label}, check it with `incidentctl lint`, then `git add {label}`"
        )
        raise RecordError("\n".join(lines))


def register(app: typer.Typer) -> None:
    app.command("merge-driver", hidden=True)(merge_driver)

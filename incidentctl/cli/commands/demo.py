"""``demo``: replay a real outage into a fresh incident repo and render every channel."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def demo(
    path: Annotated[Path, typer.Argument(help="Where to create the demo incident repo.")] = Path("incidentctl-demo"),
) -> None:
    """Replay a real outage into a fresh incident repo and render everything (no credentials, no network)."""
    from ...demo import run_demo

    run_demo(path, out=typer.echo)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)

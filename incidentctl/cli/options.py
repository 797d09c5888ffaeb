"""Option and argument definitions more than one command uses."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import complete_incident_id

IdArg = Annotated[
    str,
    typer.Argument(
        help="Incident id or a unique prefix of it.", autocompletion=complete_incident_id, show_default=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]

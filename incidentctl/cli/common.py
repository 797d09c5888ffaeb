"""Helpers shared by the command modules: the repo from the context, messages, change reports, completion.

What commands print lives in :mod:`.output`; shared option definitions in :mod:`.options`.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..errors import UsageError
from .output import note

if TYPE_CHECKING:
    from ..lifecycle import Change
    from ..store import Repo


def repo_option(ctx: typer.Context) -> str | None:
    root = ctx.find_root()
    value = root.params.get("repo") if root.params else None
    return str(value) if value else None


#: Commands whose output never depends on a channel's settings: they open the repo without validating
#: them (no channel module imported; see ``load_config(check_channels=False)``). Every other command,
#: and ``lint``, still refuses invalid channel settings when the config is loaded (exit 1).
CHANNEL_FREE_COMMANDS = frozenset({"list"})


def open_repo(ctx: typer.Context, *, only_channel: str | None = None) -> Repo:
    """The repo of ``--repo`` (or the current folder). ``only_channel``: check that one channel's settings
    (exit 1 naming file and line when invalid) and leave the others unchecked, for a command whose output
    depends on no other channel (``site build``: a mistake in Slack's settings never blocks the status page)."""
    from ..config import find_repo, load_config
    from ..store import Repo

    root = find_repo(repo_option(ctx))
    check = only_channel is None and ctx.info_name not in CHANNEL_FREE_COMMANDS
    config = load_config(root, check_channels=check)
    if only_channel is not None:
        config.channel_settings(only_channel)
    return Repo(root=root, config=config)


def read_message(value: str | None, *, what: str, initial: str = "", required: bool = True) -> str | None:
    """``--message TEXT``; ``--message -`` reads stdin; none on a terminal opens ``$EDITOR``."""
    if value == "-":
        text = sys.stdin.read()
        if not text.strip() and required:
            raise UsageError("--message -: standard input was empty")
        return text.strip()
    if value is not None:
        return value
    if sys.stdin.isatty() and sys.stdout.isatty():
        return edit_message(what, initial)
    if not required:
        return None
    raise UsageError("--message is required when not on a terminal (or --message - to read it from stdin)")


def edit_message(what: str, initial: str = "") -> str:
    """Open ``$VISUAL``/``$EDITOR`` like ``git commit``; ``#`` lines are dropped; empty aborts."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.NamedTemporaryFile("w+", suffix=".md", prefix="incidentctl-message-", delete=False) as handle:
        handle.write(
            f"{initial}\n\n# Write {what} above. Lines starting with '#' are ignored;\n"
            "# an empty message aborts. This text is public unless the entry is --internal.\n"
        )
        path = Path(handle.name)
    try:
        result = subprocess.run([*shlex.split(editor), str(path)], check=False)
        if result.returncode != 0:
            raise UsageError(f"the editor ({editor}) exited with status {result.returncode}; nothing changed")
        text = "\n".join(line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#"))
    finally:
        path.unlink(missing_ok=True)
    if not text.strip():
        raise UsageError("empty message: nothing changed")
    return text.strip()


def report_change(change: Change) -> None:
    """Print the outcome of a write; a failed push becomes exit 4 after the report."""
    for remark in change.notes:
        note(f"note: {remark}")
    if change.push_error is not None:
        raise change.push_error


# -- completion -----------------------------------------------------------------------------------


def _completion_repo(ctx: typer.Context) -> Repo | None:
    try:
        return open_repo(ctx)
    except Exception:  # noqa: BLE001 - completion must never fail loudly
        return None


def complete_incident_id(ctx: typer.Context, incomplete: str) -> list[str]:
    from ..config import find_repo
    from ..records.listing import list_records
    from ..store import INCIDENTS_DIR

    try:
        root = find_repo(repo_option(ctx))
    except Exception:  # noqa: BLE001
        return []
    return [incident_id for incident_id in list_records(root / INCIDENTS_DIR) if incident_id.startswith(incomplete)]


def complete_severity(ctx: typer.Context, incomplete: str) -> list[str]:
    repo = _completion_repo(ctx)
    names = list(repo.config.severities) if repo else ["sev1", "sev2", "sev3"]
    return [name for name in names if name.startswith(incomplete)]


def complete_status(incomplete: str) -> list[str]:
    from ..vocabulary import STATUSES

    return [status for status in STATUSES if status.startswith(incomplete)]


def complete_component(ctx: typer.Context, incomplete: str) -> list[str]:
    from ..vocabulary import IMPACTS

    repo = _completion_repo(ctx)
    ids = repo.config.component_ids if repo else []
    component, sep, impact = incomplete.partition("=")
    if sep:
        return [f"{component}={name}" for name in IMPACTS if name.startswith(impact)]
    return [f"{cid}=" for cid in ids if cid.startswith(component)]


def complete_channel(ctx: typer.Context, incomplete: str) -> list[str]:
    repo = _completion_repo(ctx)
    names = repo.config.configured_channels() if repo else ["slack", "x", "statuspage"]
    return [name for name in names if name.startswith(incomplete)]

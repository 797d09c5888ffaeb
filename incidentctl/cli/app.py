"""The Typer application, the global options, and the one error handler (exceptions → exit codes)."""

from __future__ import annotations

import copy
import os
import sys
import traceback
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from ..errors import IncidentctlError, debug_enabled, from_exception
from . import publish
from .commands import (
    demo,
    import_,
    incidents,
    init,
    lint,
    maintenance,
    merge,
    postmortem,
    remind,
    show,
    site,
    snooze,
    stats,
    tick,
)
from .commands import list as list_command
from .commands import preview as preview_command


def _scrub(text: str) -> str:
    from ..config import secret_values

    for value in secret_values():
        text = text.replace(value, "***")
    return text


class IncidentctlGroup(TyperGroup):
    """Maps the exception tree to exit codes; never a traceback for the user's mistakes."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except IncidentctlError as exc:
            self._report(exc)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            _reader_gone()
            raise typer.Exit(1) from None  # as Python (and rich, for tables) do on EPIPE: quietly, status 1
        except Exception as exc:
            from typer._click.exceptions import ClickException

            if isinstance(exc, ClickException):
                raise
            mapped = from_exception(exc)
            if mapped is not None:
                self._report(mapped)
            if debug_enabled():
                traceback.print_exc()
            else:
                typer.echo(
                    f"incidentctl: internal error: {_scrub(f'{type(exc).__name__}: {exc}')}\n"
                    "  this is a bug; rerun with INCIDENTCTL_DEBUG=1 for the traceback and report it",
                    err=True,
                )
            raise typer.Exit(1) from None

    @staticmethod
    def _report(exc: IncidentctlError) -> None:
        if debug_enabled():
            traceback.print_exc()
        message = _scrub(str(exc))
        lines = message.splitlines() or [type(exc).__name__]
        for line in lines:
            typer.echo(f"incidentctl: {line}" if line is lines[0] else f"  {line}", err=True)
        raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    cls=IncidentctlGroup,
    name="incidentctl",
    help="Git-native incident communication: records in git, updates to Slack, X and a status page.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _global(
    repo: Annotated[
        str | None,
        typer.Option(
            "--repo",
            help="Incident repo (default: $INCIDENTCTL_REPO, else the nearest folder with incidentctl.yaml).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Git-native incident communication: records in git, updates to Slack, X and a status page."""


for module in (
    incidents,
    list_command,
    show,
    init,
    lint,
    demo,
    publish,
    preview_command,
    site,
    remind,
    snooze,
    postmortem,
    stats,
    merge,
    import_,
    tick,
    maintenance,
):
    module.register(app)


def _command_named(argv: list[str]) -> str | None:
    """The command ``argv`` runs (``[--repo X] NAME ...``); None for anything else (``--help``,
    completion options, no command)."""
    tokens = iter(argv)
    for token in tokens:
        if token == "--repo":
            next(tokens, None)
        elif not token.startswith("--repo="):
            return None if token.startswith("-") else token
    return None


def app_for(argv: list[str]) -> typer.Typer:
    """The app, holding only the command ``argv`` names when it names one.

    Typer turns every registered command into a click command (signature, type hints, a parameter
    object per option) before it runs any of them: ~25 commands built to run one. When the command is
    known, the others are left out; help, completion, an unknown name and everything else get the
    full app, so usage lines, errors and suggestions read as before."""
    name = _command_named(argv)
    if name is None or "_INCIDENTCTL_COMPLETE" in os.environ:
        return app
    for info in app.registered_commands:
        if info.name == name:
            return _with(commands=[info], groups=[])
    from typer.main import solve_typer_info_defaults

    for group in app.registered_groups:
        group_name = solve_typer_info_defaults(group).name  # add_typer's name, else the sub-app's own
        if group_name == name:
            return _with(commands=[], groups=[group])
        if group_name is None and group.typer_instance is not None:
            # `add_typer` without a name: its commands are top-level commands
            for info in group.typer_instance.registered_commands:
                if info.name == name:
                    return _with(commands=[info], groups=[])
    return app


def _with(*, commands: list[Any], groups: list[Any]) -> typer.Typer:
    trimmed = copy.copy(app)
    trimmed.registered_commands = commands
    trimmed.registered_groups = groups
    return trimmed


def _reader_gone() -> None:
    """stdout's reader went away (``incidentctl list --json | head``): stop printing quietly, no "internal
    error" (status 1, as Python's own advice and rich do). What is still buffered goes nowhere instead of
    failing again at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    """Console entry point."""
    try:
        app_for(sys.argv[1:] if argv is None else argv)(args=argv, prog_name="incidentctl", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        code = code if isinstance(code, int) else (0 if code is None else 1)
    else:
        code = 0
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _reader_gone()
        code = code or 1
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

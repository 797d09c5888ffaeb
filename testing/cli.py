"""The CLI in-process through Typer's CliRunner (the ``cli`` fixture)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def invoke_cli(
    *args: str, repo: Path | None = None, input: str | None = None, env: dict[str, str] | None = None
) -> CliResult:
    """Run the CLI in-process: ``invoke_cli("list", "--json", repo=path)``."""
    from typer.testing import CliRunner

    from incidentctl.cli.app import app

    runner = CliRunner()
    argv = (["--repo", str(repo)] if repo is not None else []) + list(args)
    result = runner.invoke(app, argv, input=input, env=env, catch_exceptions=True)
    exc = result.exception if result.exception and not isinstance(result.exception, SystemExit) else None
    return CliResult(result.exit_code, result.stdout, result.stderr, exc)

"""Shared fixtures: real incident repos (real git) in temp dirs, and the CLI through CliRunner."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fakes.fake_slack import FakeSlack
from fakes.fake_x import FakeX
from typer.testing import CliRunner

from incidentctl.channels import secret_names
from incidentctl.cli.app import app
from incidentctl.scaffold import init_repo
from incidentctl.store import Repo

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLES = PROJECT_ROOT / "incidents"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No secrets, no user git config, no repo from the environment, no colour."""
    for name in (
        *secret_names(),
        "INCIDENTCTL_REPO",
        "INCIDENTCTL_SLACK_API_URL",
        "INCIDENTCTL_X_API_URL",
        "INCIDENTCTL_DEBUG",
    ):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Responder")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "responder@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Responder")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "responder@example.com")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("EDITOR", "false")


def make_repo(
    path: Path,
    components: Sequence[tuple[str, str]] = (
        ("api", "API"),
        ("web", "Website"),
        ("chatgpt", "ChatGPT"),
        ("sora", "Sora"),
    ),
    organization: str = "Example Corp",
    timezone: str = "America/New_York",
    config_edit: Callable[[str], str] | None = None,
) -> Repo:
    """A real incident repo (git init + first commit), optionally with an edited config."""
    init_repo(path, organization, components, timezone)
    if config_edit is not None:
        config = path / "incidentctl.yaml"
        config.write_text(config_edit(config.read_text(encoding="utf-8")), encoding="utf-8")
        git(path, "commit", "-qam", "test: edit config")
    return Repo.open(path)


def git(path: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=path, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return make_repo(tmp_path / "status")


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def cli() -> Callable[..., CliResult]:
    """Run the CLI in-process: ``cli("list", "--json", repo=path)``."""

    def run(
        *args: str, repo: Path | None = None, input: str | None = None, env: dict[str, str] | None = None
    ) -> CliResult:
        runner = CliRunner()
        argv = (["--repo", str(repo)] if repo is not None else []) + list(args)
        result = runner.invoke(app, argv, input=input, env=env, catch_exceptions=True)
        exc = result.exception if result.exception and not isinstance(result.exception, SystemExit) else None
        return CliResult(result.exit_code, result.stdout, result.stderr, exc)

    return run


def run_subprocess(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m incidentctl`` for real (signals, stdin, exit codes as a shell sees them)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "incidentctl", *args],
        cwd=cwd,
        env=full_env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def no_traceback(result: Any) -> bool:
    text = getattr(result, "stderr", "") + getattr(result, "stdout", "")
    return "Traceback" not in text


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    """A running fake Slack on 127.0.0.1, with the environment pointing at it (token and API URL)."""
    with FakeSlack() as fake:
        monkeypatch.setenv("INCIDENTCTL_SLACK_API_URL", fake.url)
        monkeypatch.setenv("SLACK_BOT_TOKEN", fake.token)
        yield fake


@pytest.fixture
def x(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeX]:
    """A running fake X on 127.0.0.1, with the environment pointing at it (four secrets and API URL)."""
    with FakeX() as fake:
        monkeypatch.setenv("INCIDENTCTL_X_API_URL", fake.url)
        for name, value in fake.credentials.items():
            monkeypatch.setenv(name, value)
        yield fake

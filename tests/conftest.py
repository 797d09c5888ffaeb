"""Fixtures only: real incident repos (real git) in temp dirs, the CLI through CliRunner, the fakes running.
Everything else tests share is imported from the ``testing`` package."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from incidentctl.channels import secret_names
from incidentctl.store import Repo
from testing import CliResult, FakeSlack, FakeX, invoke_cli, make_repo


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No secrets, no user git config, no repo from the environment, no colour."""
    for name in (
        *secret_names(),
        "INCIDENTCTL_REPO",
        "INCIDENTCTL_SLACK_API_URL",
        "INCIDENTCTL_X_API_URL",
        "INCIDENTCTL_DEBUG",
        "COLUMNS",  # pytest-xdist workers set COLUMNS=80: tables would be fitted to it
        "LINES",
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


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return make_repo(tmp_path / "status")


@pytest.fixture
def cli() -> Callable[..., CliResult]:
    """Run the CLI in-process: ``cli("list", "--json", repo=path)``."""
    return invoke_cli


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

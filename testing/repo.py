"""Real incident repos in temp dirs (made by the real ``init``) and the CLI as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from incidentctl.scaffold import init_repo
from incidentctl.store import Repo

from .config import ConfigEdit, config_changes, modify_config

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLES = PROJECT_ROOT / "incidents"
COMPONENTS: tuple[tuple[str, str], ...] = (("api", "API"), ("web", "Website"), ("chatgpt", "ChatGPT"), ("sora", "Sora"))


def make_repo(
    path: Path,
    components: Sequence[tuple[str, str]] = COMPONENTS,
    organization: str = "Example Corp",
    timezone: str = "America/New_York",
    config: ConfigEdit | Mapping[str, Any] | None = None,
) -> Repo:
    """A real incident repo (``init``: git init + first commit), optionally with its config edited and
    committed. ``config`` is an edit of the loaded mapping (``lambda c: ...``, ``config_changes(...)``)
    or a mapping of existing paths to new values (``{"git.push": True}``); see ``testing.config``."""
    init_repo(path, organization, components, timezone)
    if config is not None:
        modify_config(path, config_changes(config) if isinstance(config, Mapping) else config)
        git(path, "commit", "-qam", "test: edit config")
    return Repo.open(path)


def git(path: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=path, check=True, capture_output=True, text=True).stdout


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


def start_incidentctl(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """Start ``python -m incidentctl`` in the background (to be killed: see ``testing.crash``)."""
    return subprocess.Popen(
        [sys.executable, "-m", "incidentctl", *args],
        cwd=cwd,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def no_traceback(result: Any) -> bool:
    text = getattr(result, "stderr", "") + getattr(result, "stdout", "")
    return "Traceback" not in text

"""Test support for incidentctl, shared by ``tests/`` and ``benchmarks/``: ``from testing import ...``.

Fakes of Slack and X (real HTTP on 127.0.0.1), real incident repos made by ``init``, config edits
done on the YAML (never on its text), SIGKILL helpers for crash loops, and a DevTools client for
the browser test. Shipped in the sdist, not in the wheel; importable when the project root is on
``sys.path`` (pytest's ``pythonpath = ["."]``; ``python -m benchmarks.run`` from the project root).
"""

from .cli import CliResult, invoke_cli
from .config import DELETE, ConfigEdit, config_changes, modify_config
from .crash import (
    KillTimer,
    Run,
    assert_sound,
    kill_when,
    random_incident_work,
    remove_git_locks,
    sigkill,
    temp_files,
)
from .devtools import DevTools
from .fakes import FakeSlack, FakeX
from .repo import COMPONENTS, PROJECT_ROOT, SAMPLES, git, make_repo, no_traceback, run_subprocess, start_incidentctl

__all__ = [
    "COMPONENTS",
    "DELETE",
    "PROJECT_ROOT",
    "SAMPLES",
    "CliResult",
    "ConfigEdit",
    "DevTools",
    "FakeSlack",
    "FakeX",
    "KillTimer",
    "Run",
    "assert_sound",
    "config_changes",
    "git",
    "invoke_cli",
    "kill_when",
    "make_repo",
    "modify_config",
    "no_traceback",
    "random_incident_work",
    "remove_git_locks",
    "run_subprocess",
    "sigkill",
    "start_incidentctl",
    "temp_files",
]

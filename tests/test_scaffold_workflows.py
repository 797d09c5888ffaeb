"""What `init` writes must work for real: pinned installable workflows whose steps run, a page url asked for."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

import incidentctl
from incidentctl.config import load_config
from incidentctl.lint import lint_repo
from testing import FakeSlack, git

WORKFLOWS = (".github/workflows/status-page.yml", ".github/workflows/incident-reminders.yml")
INSTALL = re.compile(r"pip install .*incidentctl")


def _run_steps(path: Path) -> list[str]:
    data: Any = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return [step["run"] for job in data["jobs"].values() for step in job["steps"] if "run" in step]


def test_workflows_install_a_pinned_incidentctl_from_the_given_url(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "r"
    url = "https://git.example.com/acme/incidentctl"
    assert cli("init", str(target), "--org", "Acme", "--install-from", url).exit_code == 0
    for rel in WORKFLOWS:
        installs = [line for run in _run_steps(target / rel) for line in run.splitlines() if INSTALL.search(line)]
        assert installs == [f'pip install "incidentctl @ git+{url}@v{incidentctl.__version__}"'], rel
        assert "pip install incidentctl\n" not in (target / rel).read_text()


def test_default_install_source_is_a_named_placeholder(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("init", str(tmp_path / "r"), "--org", "Acme")
    assert result.exit_code == 0
    text = (tmp_path / "r" / WORKFLOWS[0]).read_text()
    assert f"git+https://github.com/YOUR-ORG/incidentctl@v{incidentctl.__version__}" in text
    assert "YOUR-ORG is a placeholder" in text
    assert "--install-from" in result.stderr


def test_workflow_run_steps_succeed_in_a_clone(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """Each `run:` step of both workflows, in bash in a fresh clone, with this checkout standing in for the install."""
    origin = tmp_path / "origin.git"
    source = tmp_path / "source"
    assert cli("init", str(source), "--org", "Acme", "--url", "https://status.acme.test").exit_code == 0
    git(tmp_path, "init", "-q", "--bare", str(origin))
    branch = git(source, "symbolic-ref", "--short", "HEAD").strip()
    git(source, "push", "-q", str(origin), f"HEAD:refs/heads/{branch}")
    git(origin, "symbolic-ref", "HEAD", f"refs/heads/{branch}")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    here = Path(sys.executable).parent
    # The install line, with this checkout (already installed in the test interpreter's environment) instead:
    stand_in = f"python -c \"import incidentctl; assert incidentctl.__version__ == '{incidentctl.__version__}'\""
    # The workflow has the channel secrets (a configured Slack without its token is an error, exit 3).
    slack = FakeSlack().__enter__()
    env = {
        **os.environ,
        "PATH": f"{here}{os.pathsep}{os.environ['PATH']}",
        "SLACK_BOT_TOKEN": slack.token,
        "INCIDENTCTL_SLACK_API_URL": slack.url,
    }
    env.pop("INCIDENTCTL_REPO", None)
    try:
        _run_all(clone, stand_in, env)
    finally:
        slack.__exit__(None, None, None)
    assert slack.messages == []  # nothing was due
    assert (clone / "site" / "index.html").is_file()


def _run_all(clone: Path, stand_in: str, env: dict[str, str]) -> None:
    ran = 0
    for rel in WORKFLOWS:
        for run in _run_steps(clone / rel):
            script = "\n".join(stand_in if INSTALL.search(line) else line for line in run.splitlines())
            result = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", script],
                cwd=clone,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert result.returncode == 0, f"{rel}: {run!r}\n{result.stdout}\n{result.stderr}"
            ran += 1
    assert ran >= 5


def test_init_url_option_and_lint_warning(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    with_url = tmp_path / "a"
    assert cli("init", str(with_url), "--org", "Acme", "--url", "https://status.acme.test").exit_code == 0
    assert load_config(with_url).channels.statuspage.url == "https://status.acme.test"  # type: ignore[union-attr]
    assert not [problem for problem in lint_repo(with_url) if "url" in problem]

    without = tmp_path / "b"
    result = cli("init", str(without), "--org", "Acme")
    assert result.exit_code == 0 and "url" in result.stderr
    (warning,) = [problem for problem in lint_repo(without) if "no url" in problem]
    path, line, rest = warning.split(":", 2)
    assert path == "incidentctl.yaml" and "warning:" in rest and "\n" not in warning
    assert "statuspage:" in (without / path).read_text().splitlines()[int(line) - 1]
    linted = cli("lint", repo=without)
    assert linted.exit_code == 0 and "no url" in linted.output

    assert cli("init", str(tmp_path / "c"), "--org", "Acme", "--url", "status.acme.test").exit_code == 2


def test_init_asks_for_the_url_on_a_terminal(tmp_path: Path) -> None:
    import pty

    target = tmp_path / "asked"
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "dumb"}
    process = subprocess.Popen(
        [sys.executable, "-m", "incidentctl", "init", str(target), "--org", "Acme"],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(follower)
    os.write(leader, b"https://status.acme.test\n")
    try:
        _, stderr = process.communicate(timeout=120)
    finally:
        os.close(leader)
    assert process.returncode == 0, stderr
    assert load_config(target).channels.statuspage.url == "https://status.acme.test"  # type: ignore[union-attr]

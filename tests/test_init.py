"""`incidentctl init`: a ready repo, a first commit, refusing to run twice."""

from __future__ import annotations

from pathlib import Path

from incidentctl.config import load_config
from testing import git


def test_init_creates_a_ready_repo(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "status-repo"
    result = cli("init", str(target), "--org", "Example Corp", "--component", "api:API", "--component", "web:Website")
    assert result.exit_code == 0, result.output
    for rel in ("incidentctl.yaml", "incidents", "templates/README.md", ".gitignore", ".gitattributes"):
        assert (target / rel).exists(), rel
    config = load_config(target)
    assert config.organization == "Example Corp"
    assert [(c.id, c.name) for c in config.components] == [("api", "API"), ("web", "Website")]
    assert "site/" in (target / ".gitignore").read_text()
    assert "cache" in (target / ".gitignore").read_text()
    # every option shown with its default, commented
    text = (target / "incidentctl.yaml").read_text()
    for key in ("timezone:", "severities:", "update_every", "postmortem_required", "channels:", "git:", "push: false"):
        assert key in text
    assert text.count("#") > 10
    log = git(target, "log", "--oneline")
    assert len(log.splitlines()) == 1
    assert git(target, "status", "--porcelain") == ""


def test_init_twice_refuses(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "r"
    assert cli("init", str(target), "--org", "X").exit_code == 0
    before = git(target, "log", "--oneline")
    again = cli("init", str(target), "--org", "X")
    assert again.exit_code == 1
    assert "already an incident repo" in again.stderr
    assert "Traceback" not in again.output
    assert git(target, "log", "--oneline") == before


def test_init_in_existing_git_repo_adds_and_commits(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "existing"
    target.mkdir()
    git(target, "init", "-q", "-b", "main")
    (target / "notes.txt").write_text("mine\n")
    (target / ".gitignore").write_text("*.log\n")
    git(target, "add", "notes.txt", ".gitignore")
    git(target, "commit", "-qm", "theirs")
    (target / "scratch.txt").write_text("uncommitted, not ours to commit\n")
    assert cli("init", str(target), "--org", "X").exit_code == 0
    log = git(target, "log", "--oneline").splitlines()
    assert len(log) == 2
    assert "*.log" in (target / ".gitignore").read_text()  # kept, extended
    assert "/site/" in (target / ".gitignore").read_text()
    assert "scratch.txt" in git(target, "status", "--porcelain")  # untouched


def test_init_rejects_bad_component_id(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("init", str(tmp_path / "r"), "--org", "X", "--component", "../api:API")
    assert result.exit_code == 2
    assert not (tmp_path / "r").exists()

"""``channels.statuspage.deploy``: `delivered` only once the audience can see the page; else `built`, and said so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from incidentctl.delivery import publish
from incidentctl.lifecycle import add_update, open_incident
from incidentctl.store import Repo
from testing import git, make_repo, modify_config


def _deploy(value: Any) -> Any:
    def edit(config: Any) -> None:
        config["channels"]["statuspage"]["deploy"] = value

    return edit


def _open(repo: Repo) -> str:
    return open_incident(
        repo, "API down", severity="sev2", components={"api": "major_outage"}, message="Down."
    ).incident.id


def _state(repo: Repo, incident_id: str) -> list[str]:
    return [entry.deliveries["statuspage"].state for entry in Repo.open(repo.root).load(incident_id).timeline]


def test_without_deploy_the_entry_is_built_and_the_user_is_told(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    incident_id = _open(repo)
    report = publish(repo, [incident_id], channels=["statuspage"])
    assert [result.state for result in report.deliveries] == ["built"]
    assert report.failed == 0
    assert (repo.root / "site" / "index.html").is_file()
    assert _state(repo, incident_id) == ["built"]
    (told,) = [warning for warning in report.warnings if "statuspage" in warning]
    assert "site/" in told and "channels.statuspage.deploy" in told


def test_git_deploy_pushes_the_site_branch_without_a_checkout(tmp_path: Path) -> None:
    remote = tmp_path / "pages.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    repo = make_repo(tmp_path / "r", config=_deploy({"git": {"remote": str(remote), "branch": "gh-pages"}}))
    head = git(repo.root, "rev-parse", "HEAD").strip()
    branch = git(repo.root, "symbolic-ref", "--short", "HEAD").strip()
    incident_id = _open(repo)
    report = publish(repo, [incident_id], channels=["statuspage"])
    assert [result.state for result in report.deliveries] == ["delivered"], report.deliveries
    files = git(remote, "ls-tree", "-r", "--name-only", "gh-pages").split()
    assert "index.html" in files and f"incidents/{incident_id}.html" in files and "api/v2/summary.json" in files
    assert "Down." in git(remote, "show", f"gh-pages:incidents/{incident_id}.html")
    # HEAD's branch is still checked out; the site commit is nowhere in it
    assert git(repo.root, "symbolic-ref", "--short", "HEAD").strip() == branch
    assert git(repo.root, "merge-base", "--is-ancestor", head, "HEAD") == ""
    assert "gh-pages" not in git(repo.root, "branch", "--list")
    assert any("gh-pages" in warning for warning in report.warnings)

    add_update(Repo.open(repo.root), incident_id, message="Fixing now.", status="identified")
    publish(Repo.open(repo.root), [incident_id], channels=["statuspage"])
    assert _state(repo, incident_id) == ["delivered", "delivered"]
    assert len(git(remote, "rev-list", "gh-pages").split()) == 2  # on top of the previous deploy
    assert "Fixing now." in git(remote, "show", f"gh-pages:incidents/{incident_id}.html")


def test_command_deploy_gets_the_site_folder(tmp_path: Path) -> None:
    seen = tmp_path / "seen.txt"
    command = f'test -f "$INCIDENTCTL_SITE/index.html" && printf %s "$INCIDENTCTL_SITE" > {seen}'
    repo = make_repo(tmp_path / "r", config=_deploy({"command": command}))
    incident_id = _open(repo)
    report = publish(repo, [incident_id], channels=["statuspage"])
    assert [result.state for result in report.deliveries] == ["delivered"]
    assert Path(seen.read_text()) == (repo.root / "site").resolve()


def test_a_failing_deploy_command_is_a_recorded_failure(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", config=_deploy({"command": "echo no route to host >&2; exit 7"}))
    incident_id = _open(repo)
    report = publish(repo, [incident_id], channels=["statuspage"])
    assert report.failed == 1
    (entry,) = Repo.open(repo.root).load(incident_id).timeline
    assert entry.deliveries["statuspage"].state == "failed"
    assert "exited 7" in (entry.deliveries["statuspage"].error or "")
    assert "no route to host" in (entry.deliveries["statuspage"].error or "")


def test_ci_deploy_is_delivered_once_the_entry_is_pushed(tmp_path: Path) -> None:
    remote = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    repo = make_repo(tmp_path / "r", config=_deploy("ci"))
    branch = git(repo.root, "symbolic-ref", "--short", "HEAD").strip()
    git(repo.root, "remote", "add", "origin", str(remote))
    git(repo.root, "push", "-q", "-u", "origin", branch)
    incident_id = _open(repo)  # committed, not pushed (git.push: false)
    report = publish(repo, [incident_id], channels=["statuspage"])
    assert [result.state for result in report.deliveries] == ["built"]
    assert any("pushed" in warning for warning in report.warnings)
    git(repo.root, "push", "-q", "origin", branch)
    report = publish(Repo.open(repo.root), [incident_id], channels=["statuspage"])
    assert [result.state for result in report.deliveries] == ["delivered"]
    assert _state(repo, incident_id) == ["delivered"]


def test_built_entries_are_not_rebuilt_until_a_deploy_is_set(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    incident_id = _open(repo)
    publish(repo, [incident_id], channels=["statuspage"])
    head = git(repo.root, "rev-parse", "HEAD")
    again = publish(Repo.open(repo.root), channels=["statuspage"])
    assert again.deliveries == [] and git(repo.root, "rev-parse", "HEAD") == head  # no churn, no commit
    seen = tmp_path / "seen"
    modify_config(repo.root, _deploy({"command": f"touch {seen}"}))
    git(repo.root, "commit", "-qam", "deploy")
    report = publish(Repo.open(repo.root), channels=["statuspage"])
    assert [result.state for result in report.deliveries] == ["delivered"] and seen.exists()

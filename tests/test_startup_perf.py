"""The cheap paths taken for speed keep their promises.

- ``update`` commits plainly when nothing else is staged, with ``--only`` otherwise: a file the user
  staged is never part of incidentctl's commit, with or without a first commit.
- Built-in channels are found without scanning installed packages' entry points, and the static
  table says exactly what pyproject.toml declares.
- ``list`` does not validate channel settings (nothing it prints depends on them); every other
  command still refuses invalid ones when it loads the config, and a lazily loaded config refuses
  them on first use, with the same file:line message.
- Only the invoked command is built by Typer; help and unknown names see the whole app.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from incidentctl.config import load_config
from incidentctl.errors import ConfigError
from testing import git, make_repo, modify_config

PROJECT = Path(__file__).resolve().parents[1]


def _new(cli: Callable[..., Any], root: Path) -> str:
    result = cli("new", "API down", "--severity", "sev2", "-m", "Investigating.", repo=root)
    assert result.exit_code == 0, result.output
    return str(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("first_commit", [True, False])
def test_update_never_commits_a_file_the_user_staged(
    tmp_path: Path, cli: Callable[..., Any], first_commit: bool
) -> None:
    repo = make_repo(tmp_path / "r")
    incident_id = _new(cli, repo.root)
    if not first_commit:
        git(repo.root, "update-ref", "-d", "HEAD")  # the record and the config are staged, never committed
    (repo.root / "notes.txt").write_text("mine\n", encoding="utf-8")
    git(repo.root, "add", "notes.txt")
    before = git(repo.root, "rev-parse", "--verify", "--quiet", "HEAD").strip() if first_commit else ""
    result = cli("update", incident_id, "-m", "Still investigating.", repo=repo.root)
    assert result.exit_code == 0, result.output
    committed = git(repo.root, "show", "--name-only", "--format=", "HEAD").split()
    assert "notes.txt" not in committed
    assert f"incidents/{incident_id}.yaml" in committed
    assert "notes.txt" in git(repo.root, "diff", "--cached", "--name-only").split(), "still staged"
    if first_commit:
        assert git(repo.root, "rev-parse", "HEAD~1").strip() == before
        assert committed == [f"incidents/{incident_id}.yaml"]


def test_update_with_nothing_else_staged_commits_only_the_record(tmp_path: Path, cli: Callable[..., Any]) -> None:
    repo = make_repo(tmp_path / "r")
    incident_id = _new(cli, repo.root)
    (repo.root / "untracked.txt").write_text("not mine to commit\n", encoding="utf-8")
    (repo.root / "templates" / "README.md").write_text("an unstaged edit\n", encoding="utf-8")
    result = cli("update", incident_id, "-m", "Still investigating.", repo=repo.root)
    assert result.exit_code == 0, result.output
    assert git(repo.root, "show", "--name-only", "--format=", "HEAD").split() == [f"incidents/{incident_id}.yaml"]
    assert git(repo.root, "log", "-1", "--format=%s").strip() == f"{incident_id}: update"
    status = git(repo.root, "status", "--porcelain").splitlines()
    assert sorted(status) == [" M templates/README.md", "?? untracked.txt"]


def test_builtin_channel_table_matches_pyproject() -> None:
    from incidentctl.channels.registry import BUILTINS

    declared = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["entry-points"]
    assert declared["incidentctl.channels"] == BUILTINS


def test_list_skips_channel_settings_other_commands_do_not(tmp_path: Path, cli: Callable[..., Any]) -> None:
    repo = make_repo(tmp_path / "r")
    modify_config(repo.root, lambda config: config["channels"].update(mastodon={"visibility": "loud"}))
    listed = cli("list", repo=repo.root)
    assert listed.exit_code == 0, listed.output
    for args in (("show", "nope"), ("lint",), ("stats",)):
        result = cli(*args, repo=repo.root)
        assert result.exit_code == 1 and "channels.mastodon.instance: " in result.output, (args, result.output)
        assert "Traceback" not in result.output
    with pytest.raises(ConfigError, match=r"channels\.mastodon\.instance"):
        load_config(repo.root)
    lazy = load_config(repo.root, check_channels=False)  # the same message, on first use
    assert lazy.channel_settings("statuspage") is not None
    with pytest.raises(ConfigError) as caught:
        lazy.channel_settings("mastodon")
    assert "incidentctl.yaml:" in str(caught.value) and "channels.mastodon.instance: " in str(caught.value)


def test_one_command_app_reads_like_the_whole_app(tmp_path: Path, cli: Callable[..., Any]) -> None:
    from incidentctl.cli.app import app, app_for

    assert app_for(["--help"]) is app and app_for([]) is app and app_for(["lst"]) is app
    only = app_for(["--repo", "x", "list", "--json"])
    assert [info.name for info in only.registered_commands] == ["list"] and not only.registered_groups
    assert [info.name for info in app_for(["--repo=x", "update", "a"]).registered_commands] == ["update"]
    for group in ("site", "maintenance", "import"):
        trimmed = app_for([group, "--help"])
        assert not trimmed.registered_commands and len(trimmed.registered_groups) == 1
    repo = make_repo(tmp_path / "r")
    typo = cli("lst", repo=repo.root)
    assert typo.exit_code == 2 and "Did you mean 'list'?" in typo.output
    bad = cli("list", "--bogus", repo=repo.root)
    assert bad.exit_code == 2 and "incidentctl list" in bad.output

"""No single bad record or keystroke takes the page down (SPEC "Additions": times, one invalid
record never blocks the others, text hygiene). Real CLI, real temp repos, real git."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from incidentctl.errors import from_os_error
from incidentctl.store import Repo
from testing import CliResult, git, make_repo, run_subprocess

Cli = Callable[..., CliResult]
AT = "2024-12-12T00:00:00Z"


def _new(cli: Cli, repo: Repo, *args: str, title: str = "API down") -> str:
    result = cli("new", title, "--severity", "sev2", "-m", "Looking.", "--at", AT, *args, repo=repo.root)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def _one_line_error(result: CliResult, code: int = 1) -> str:
    assert result.exception is None, repr(result.exception)
    assert result.exit_code == code, result.output
    assert "internal error" not in result.output and "Traceback" not in result.output, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("incidentctl: "), result.stderr
    assert "pydantic" not in lines[0], lines[0]
    return lines[0]


# -- 1. a value written must be readable; a bad explicit tag never crashes a reader -------------------


def test_year_typo_is_refused_and_nothing_written(cli: Cli, repo: Repo) -> None:
    result = cli("new", "API down", "--severity", "sev2", "-m", "x", "--at", "0224-12-11T19:22:00Z", repo=repo.root)
    assert "outside 1970" in _one_line_error(result)
    assert not list(repo.incidents_dir.glob("*.yaml"))


@pytest.mark.parametrize(
    "value",
    [
        "!!timestamp '224-12-11T19:22:00Z'",
        "!!int 'one'",
        "!!bool 'maybe'",
        "!!int " + "9" * 5000,
        "0001-01-01T00:00:00Z",
    ],
)
def test_bad_tagged_value_in_a_hand_edit_is_named_everywhere(cli: Cli, repo: Repo, value: str, tmp_path: Path) -> None:
    good = _new(cli, repo, title="Good one")
    bad = _new(cli, repo, title="Bad one")
    path = repo.record_path(bad)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(f"at: {AT}", f"at: {value}", 1), encoding="utf-8")
    lint = cli("lint", repo=repo.root)
    assert lint.exit_code == 1 and f"incidents/{bad}.yaml:" in lint.stdout, lint.output
    assert f"incidents/{bad}.yaml:1:" not in lint.stdout or value.startswith("0001")  # the line of the value
    for args in (("list",), ("stats",), ("remind",), ("site", "build", "--output", str(tmp_path / "site"))):
        result = cli(*args, repo=repo.root)
        assert result.exit_code == 0, (args, result.output)
        assert "internal error" not in result.output and f"incidents/{bad}.yaml:" in result.stderr, (
            args,
            result.output,
        )
    assert good in cli("list", repo=repo.root).stdout
    assert (tmp_path / "site" / "incidents" / f"{good}.html").is_file()
    shown = cli("show", bad, repo=repo.root)
    assert shown.exit_code == 1 and "internal error" not in shown.output


# -- 2. one invalid record never blocks the others ---------------------------------------------------------


def _break(repo: Repo, incident_id: str, how: str) -> None:
    path = repo.record_path(incident_id)
    text = path.read_text(encoding="utf-8")
    if how == "conflict":
        text = "<<<<<<< HEAD\n" + text + "=======\n" + text + ">>>>>>> theirs\n"
    elif how == "order":
        text = text.replace("timeline:\n", "timeline:\n  - at: 2030-01-01T00:00:00Z\n    status: identified\n", 1)
    elif how == "huge":
        text = text.replace("message: Looking.", "message: " + "x" * (6 * 1024 * 1024), 1)
    path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize("how", ["conflict", "order", "huge"])
def test_one_invalid_record_never_blocks_the_others(cli: Cli, repo: Repo, how: str, tmp_path: Path) -> None:
    good = _new(cli, repo, title="Good one")
    bad = _new(cli, repo, title="Bad one")
    _break(repo, bad, how)
    where = f"incidents/{bad}.yaml:"
    listed = cli("list", "--json", repo=repo.root)
    assert listed.exit_code == 0 and where in listed.stderr and good in listed.stdout, listed.output
    stats = cli("stats", "--json", repo=repo.root)
    assert stats.exit_code == 0 and where in stats.stderr and '"incidents": 1' in stats.stdout, stats.output
    built = cli("site", "build", "--output", str(tmp_path / "site"), repo=repo.root)
    assert built.exit_code == 0 and where in built.stderr, built.output
    assert (tmp_path / "site" / "incidents" / f"{good}.html").is_file()
    published = cli("publish", repo=repo.root)
    assert published.exit_code == 3 and where in published.stderr, published.output
    assert cli("lint", repo=repo.root).exit_code == 1


def test_a_message_too_large_is_refused_at_write_time(cli: Cli, repo: Repo) -> None:
    incident_id = _new(cli, repo)
    result = cli("update", incident_id, "--message", "-", input="y" * (65 * 1024), repo=repo.root)
    assert "the limit is 65536" in _one_line_error(result)
    assert cli("show", incident_id, repo=repo.root).exit_code == 0


# -- 3. what can only be a mistake is refused -----------------------------------------------------------------


def test_times_that_can_only_be_mistakes(cli: Cli, repo: Repo) -> None:
    incident_id = _new(cli, repo, "-c", "api=major_outage")
    head = git(repo.root, "rev-parse", "HEAD")
    refused = [
        ("update", incident_id, "-m", "x", "--at", "2999-01-01T00:00:00Z"),  # in the future
        ("update", incident_id, "-m", "x", "--at", "1969-12-31T23:59:59Z"),  # before 1970
        ("resolve", incident_id, "--at", "2024-12-11T00:00:00Z"),  # before the first entry
        ("update", incident_id, "-m", "x", "--at", AT, "--next-update", "2024-12-11T00:00:00Z"),
        ("update", incident_id, "-m", "x", "--at", AT, "--next-update", "0m"),
        ("update", incident_id, "-m", "x", "--internal", "--status", "identified"),
        ("update", incident_id, "-m", "x", "--internal", "-c", "api=operational"),
        ("update", incident_id, "-m", "x", "--status", "resolved"),  # api still in major_outage
        ("new", "T", "--severity", "sev2", "-m", "x", "--at", "10000-01-01T00:00:00Z"),
    ]
    for args in refused:
        result = cli(*args, repo=repo.root)
        assert result.exit_code in (1, 2), (args, result.output)
        _one_line_error(result, result.exit_code)
    assert git(repo.root, "rev-parse", "HEAD") == head
    assert cli("update", incident_id, "-m", "note", "--internal", repo=repo.root).exit_code == 0
    assert cli("resolve", incident_id, "-m", "Fixed.", repo=repo.root).exit_code == 0
    again = cli("resolve", incident_id, "-m", "Fixed again.", repo=repo.root)
    assert "already resolved" in _one_line_error(again)


# -- 4. overflow, OS errors, debug flag ---------------------------------------------------------------------


def test_huge_values_are_one_line_errors(cli: Cli, repo: Repo) -> None:
    incident_id = _new(cli, repo)
    for args in (
        ("new", "x" * 501, "--severity", "sev2", "-m", "x"),
        ("update", incident_id, "-m", "x", "--next-update", "99999999d"),
        ("snooze", incident_id, "99999999999999d"),
        ("remind", "--now", "0001-01-01T00:00:00Z"),
        ("stats", "--since", "0001-01-01"),
        ("site", "serve", "--port", "99999"),
    ):
        result = cli(*args, repo=repo.root)
        assert result.exit_code in (1, 2), (args, result.output)
        assert "internal error" not in result.output and "Traceback" not in result.output, (args, result.output)
        assert "errors.pydantic.dev" not in result.output


def test_real_os_errors_map_to_one_line() -> None:
    for path in ("/proc/version", "/sys/kernel/notes"):
        try:
            os.open(path, os.O_WRONLY)
        except OSError as exc:
            mapped = from_os_error(exc)
            assert mapped is not None and path in str(mapped) and "\n" not in str(mapped)
            assert exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM)
    assert "no space left" in str(from_os_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/x")))
    assert "read-only" in str(from_os_error(OSError(errno.EROFS, os.strerror(errno.EROFS), "/x")))


def test_unwritable_repo_is_a_one_line_error_in_a_real_process(tmp_path: Path) -> None:
    # Root ignores chmod: make the write fail for real, on a kernel file system that refuses new files
    # (/sys/kernel: EACCES even for root). INCIDENTCTL_DEBUG=0 means off: no traceback.
    repo = make_repo(tmp_path / "r")
    repo.incidents_dir.rename(tmp_path / "incidents-moved")
    repo.incidents_dir.symlink_to("/sys/kernel")
    result = run_subprocess(
        "new", "API down", "--severity", "sev2", "-m", "x", cwd=repo.root, env={"INCIDENTCTL_DEBUG": "0"}
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "permission denied" in lines[0], result.stderr
    assert "rm " not in result.stderr  # no advice to delete an index.lock that does not exist


# -- 5. ids and git worktrees -------------------------------------------------------------------------------


def test_id_with_a_trailing_newline_is_refused(cli: Cli, repo: Repo) -> None:
    result = cli("new", "T", "--severity", "sev2", "-m", "x", "--id", "evil\n", repo=repo.root)
    assert result.exit_code in (1, 2) and "internal error" not in result.output
    assert not list(repo.incidents_dir.glob("*.yaml"))


def test_worktree_keeps_the_safety_checks(cli: Cli, repo: Repo, tmp_path: Path) -> None:
    incident_id = _new(cli, repo)
    worktree = tmp_path / "wt"
    git(repo.root, "worktree", "add", "-q", "-b", "side", str(worktree))
    wt_git_dir = Path(git(worktree, "rev-parse", "--absolute-git-dir").strip())
    assert cli("update", incident_id, "-m", "from the worktree", repo=worktree).exit_code == 0
    assert not (worktree / "incidentctl.lock").exists()
    assert git(worktree, "status", "--porcelain") == ""
    (wt_git_dir / "MERGE_HEAD").write_text(git(worktree, "rev-parse", "HEAD"), encoding="utf-8")
    result = cli("update", incident_id, "-m", "mid-merge", repo=worktree)
    assert "merge is in progress" in _one_line_error(result)
    (wt_git_dir / "MERGE_HEAD").unlink()
    (wt_git_dir / "index.lock").write_text("", encoding="utf-8")
    result = cli("update", incident_id, "-m", "locked", repo=worktree)
    assert result.exit_code == 1 and "index.lock" in result.stderr


def test_first_commit_takes_only_our_paths(cli: Cli, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    # a repo with no commits yet, and the user's own file staged
    git(repo.root, "update-ref", "-d", "HEAD")
    (repo.root / "notes.txt").write_text("mine\n", encoding="utf-8")
    git(repo.root, "add", "notes.txt")
    result = cli("new", "API down", "--severity", "sev2", "-m", "x", repo=repo.root)
    assert result.exit_code == 0, result.output
    committed = git(repo.root, "show", "--name-only", "--format=", "HEAD").split()
    assert "notes.txt" not in committed and any(name.startswith("incidents/") for name in committed)


# -- 6. text hygiene ------------------------------------------------------------------------------------------


def test_text_is_stored_clean_and_hand_edits_are_reported(cli: Cli, repo: Repo) -> None:
    title = "\ufeffAPI\x1b[2J down\x85 cafe\u0301\ufffe"
    incident_id = _new(cli, repo, title=title)
    shown = cli("show", incident_id, "--json", repo=repo.root).stdout
    assert '"title": "API[2J down caf\u00e9"' in shown
    raw = repo.record_path(incident_id).read_text(encoding="utf-8")
    for bad in ("\ufeff", "\x1b", "\x85", "\ufffe", "\\e", "\\x85", "\\uFEFF", "\\N", "e\u0301"):
        assert bad not in raw, bad
    # a hand edit brings control characters back: lint names the line; list never sends ESC to the terminal
    path = repo.record_path(incident_id)
    path.write_text(raw.replace("title: API[2J down caf\u00e9", 'title: "API\\e[2J down\\x85"'), encoding="utf-8")
    lint = cli("lint", repo=repo.root)
    assert lint.exit_code == 1 and f"incidents/{incident_id}.yaml:3: title: control characters" in lint.stdout
    listed = cli("list", repo=repo.root, env={"COLUMNS": "200"})
    assert "\x1b" not in listed.stdout and "\x85" not in listed.stdout
    assert cli("update", incident_id, "-m", "clean on write", repo=repo.root).exit_code == 0
    assert cli("lint", repo=repo.root).exit_code == 0


# -- 7. list fits the terminal ---------------------------------------------------------------------------------


def test_list_at_80_columns_keeps_ids_and_statuses_whole(cli: Cli, repo: Repo) -> None:
    long_title = "Elevated error rates and latency for the public API in every region after a deploy"
    incident_id = _new(cli, repo, "--status", "investigating", "--id", "2024-12-12-api-errors", title=long_title)
    out = cli("list", repo=repo.root, env={"COLUMNS": "80"}).stdout
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), out
    assert incident_id in out and "investigating" in out
    assert "Elevated error" in out and "…" in out

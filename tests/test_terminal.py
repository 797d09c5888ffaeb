"""What a person at a terminal gets: $EDITOR for messages, shell completion, the demo."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from testing import git, make_repo, run_subprocess


def _run_on_terminal(args: list[str], env: dict[str, str], cwd: Path) -> int:
    """Run the CLI with stdin and stdout on a pseudo-terminal, as when typed by a person."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "incidentctl", *args],
            stdin=follower,
            stdout=follower,
            stderr=follower,
            cwd=cwd,
            env={**os.environ, **env},
        )
        os.close(follower)
        follower = -1
        while True:  # drain the terminal so the child never blocks on a full buffer
            try:
                if not os.read(leader, 4096):
                    break
            except OSError:
                break
        return proc.wait(timeout=60)
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)


def test_editor_opens_on_a_terminal_and_comments_are_dropped(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    editor = tmp_path / "fake-editor.sh"
    editor.write_text(
        '#!/bin/sh\nprintf "Written in the editor.\\n# a comment line\\nSecond line.\\n" > "$1"\n', encoding="utf-8"
    )
    editor.chmod(0o755)
    code = _run_on_terminal(["new", "Editor", "--severity", "sev2"], {"EDITOR": str(editor)}, repo.root)
    assert code == 0
    (incident,) = repo.scan()
    assert incident.timeline[0].message == "Written in the editor.\nSecond line."


def test_empty_editor_message_aborts_and_changes_nothing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    editor = tmp_path / "empty-editor.sh"
    editor.write_text('#!/bin/sh\n: > "$1"\n', encoding="utf-8")
    editor.chmod(0o755)
    before = git(repo.root, "log", "--oneline")
    code = _run_on_terminal(["new", "Editor", "--severity", "sev2"], {"EDITOR": str(editor)}, repo.root)
    assert code == 2
    assert repo.ids() == []
    assert git(repo.root, "log", "--oneline") == before


def _complete(words: str, cword: int, cwd: Path) -> list[str]:
    env = {"_INCIDENTCTL_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    result = subprocess.run(
        [sys.executable, "-m", "incidentctl"],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.split()


def test_shell_completion(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "r")
    incident_id = cli(
        "new", "API down", "--severity", "sev1", "-m", "x", "--at", "2024-12-12T00:00:00Z", repo=repo.root
    ).stdout.strip()
    # python -m incidentctl completes as prog "incidentctl" only through the entry point; use the script name.
    assert incident_id in _complete("incidentctl show 2024", 2, repo.root)
    assert _complete("incidentctl new x --severity s", 4, repo.root) == ["sev1", "sev2", "sev3"]
    assert "monitoring" in _complete("incidentctl update x -s mon", 4, repo.root)
    assert "api=major_outage" in _complete("incidentctl update x -c api=maj", 4, repo.root)
    assert "web=" in _complete("incidentctl update x -c w", 4, repo.root)
    assert "update" in _complete("incidentctl up", 1, repo.root)


def test_demo_needs_no_credentials_and_reruns(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    first = run_subprocess("demo", str(target), cwd=tmp_path, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stdout + first.stderr
    listed = run_subprocess("--repo", str(target), "list", "--kind", "incident", "--json")
    (incident,) = json.loads(listed.stdout)
    assert incident["id"] == "2024-12-12-chatgpt-sora-api-unavailable"
    assert incident["started_at"] == "2024-12-12T00:00:00Z"
    assert incident["resolved_at"] == "2024-12-12T04:38:00Z"
    log = git(target, "log", "--format=%s")
    assert f"{incident['id']}: identified" in log
    assert run_subprocess("--repo", str(target), "lint").returncode == 0
    # running it again replaces its own folder; any other folder is refused
    assert run_subprocess("demo", str(target), cwd=tmp_path, timeout=300).returncode == 0
    other = tmp_path / "mine"
    other.mkdir()
    (other / "keep.txt").write_text("precious")
    refused = run_subprocess("demo", str(other), cwd=tmp_path)
    assert refused.returncode == 2
    assert (other / "keep.txt").read_text() == "precious"


def test_a_reader_that_goes_away_is_no_internal_error(tmp_path: Path) -> None:
    """``incidentctl list --json | head``: the pipe's reader closes early; incidentctl stops quietly (status 1
    at most, as Python advises on EPIPE), never "internal error" or a traceback."""
    from incidentctl.lifecycle import open_incident

    repo = make_repo(tmp_path / "status")
    for number in range(3):
        open_incident(repo, f"Outage {number}", severity="sev3", message="Looking.")
    for args in (("list", "--json"), ("list",), ("show", repo.ids()[0], "--json")):
        process = subprocess.Popen(
            [sys.executable, "-m", "incidentctl", *args],
            cwd=repo.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        process.stdout.close()  # gone before a byte is written: the first write fails with EPIPE
        _, err = process.communicate(timeout=60)
        assert process.returncode in (0, 1), (args, process.returncode, err)
        assert "internal error" not in err and "Traceback" not in err and "Exception ignored" not in err, (args, err)

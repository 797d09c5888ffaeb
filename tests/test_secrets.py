"""Secrets come only from the environment and are never echoed; internal entries never leave.

Every command runs with distinctive secret values set; nothing it prints (success or error),
commits or writes may contain them. Publishing over the network is covered by the publisher tests.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import make_repo, run_subprocess

SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-SECRET-slack-0000",
    "X_API_KEY": "SECRET-x-key-1111",
    "X_API_SECRET": "SECRET-x-secret-2222",
    "X_ACCESS_TOKEN": "SECRET-x-token-3333",
    "X_ACCESS_TOKEN_SECRET": "SECRET-x-token-secret-4444",
    # Nothing listens there: a command that tried the network would fail, not reach a real service.
    "INCIDENTCTL_SLACK_API_URL": "http://127.0.0.1:9/api/",
    "INCIDENTCTL_X_API_URL": "http://127.0.0.1:9",
}
INTERNAL = "INTERNAL-ONLY-db-password-is-hunter2"
ID = "2024-12-12-api-down"


def scan_for_secrets(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if not name.startswith("INCIDENTCTL_") and value in text]


def test_no_command_echoes_a_secret_and_internal_text_stays_internal(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    root = repo.root
    runs = [
        (
            "new",
            "API down",
            "--severity",
            "sev1",
            "--id",
            ID,
            "-c",
            "api=major_outage",
            "-m",
            "Investigating.",
            "--at",
            "2024-12-12T00:00:00Z",
        ),
        ("update", ID, "--internal", "-m", INTERNAL, "--at", "2024-12-12T00:05:00Z"),
        ("update", ID, "-s", "identified", "-m", "Found it.", "--at", "2024-12-12T00:10:00Z"),
        ("resolve", ID, "-m", "Fixed.", "--at", "2024-12-12T01:00:00Z"),
        ("list",),
        ("list", "--json"),
        ("show", ID),
        ("show", ID, "--json"),
        ("lint",),
        ("lint", "--json"),
        ("stats", "--json"),
        ("remind", "--json", "--now", "2024-12-12T02:00:00Z"),
        ("postmortem", ID),
        ("publish", "--dry-run"),
        ("publish", ID, "--dry-run", "--json"),
        ("site", "build", "--now", "2024-12-13T00:00:00Z"),
        # error paths
        ("show", "no-such-incident"),
        ("update", ID, "--status", "bogus", "-m", "x"),
        ("new", "x", "--severity", "sev9", "-m", "x"),
        ("update", ID),
    ]
    leaks = []
    public_outputs = []
    for args in runs:
        result = run_subprocess(*args, cwd=root, env=SECRETS, timeout=120)
        output = result.stdout + result.stderr
        assert "Traceback" not in output, (args, output)
        if scan_for_secrets(output):
            leaks.append((args, scan_for_secrets(output)))
        if args[0] == "publish":
            public_outputs.append((args, output))
    # A broken record: the error path quotes the file, never the environment.
    (root / "incidents" / "2024-12-13-broken.yaml").write_text("title: [\n", encoding="utf-8")
    for args in (("list",), ("lint",), ("show", "2024-12-13-broken")):
        result = run_subprocess(*args, cwd=root, env=SECRETS, timeout=60)
        assert result.returncode == 1
        if scan_for_secrets(result.stdout + result.stderr):
            leaks.append((args, "broken record"))
    assert not leaks, leaks

    history = subprocess.run(["git", "log", "-p", "--all"], cwd=root, capture_output=True, text=True, check=True).stdout
    assert not scan_for_secrets(history)
    for path in root.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            assert not scan_for_secrets(path.read_text(encoding="utf-8", errors="replace")), path

    # Internal entries: in the record, never in anything public.
    assert INTERNAL in (root / "incidents" / f"{ID}.yaml").read_text(encoding="utf-8")
    for args, output in public_outputs:
        assert "Found it." in output, args  # the dry run shows what would go out...
        assert INTERNAL not in output, args  # ...and the internal note is not part of it
    site = root / "site"
    assert site.is_dir()
    for path in site.rglob("*"):
        if path.is_file():
            assert INTERNAL not in path.read_text(encoding="utf-8", errors="replace"), path

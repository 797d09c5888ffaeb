"""Secrets come only from the environment and are never echoed; internal entries never leave.

Every command runs with distinctive secret values set; nothing it prints (success or error),
commits or writes may contain them. Publishing over the network is covered by the publisher tests.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from testing import make_repo, run_subprocess

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
        # `list` works on every valid record and names the broken one (exit 0, SPEC); `lint`/`show` refuse.
        assert result.returncode == (0 if args == ("list",) else 1)
        assert "2024-12-13-broken.yaml" in result.stderr + result.stdout
        if scan_for_secrets(result.stdout + result.stderr):
            leaks.append((args, ["broken record"]))
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


# -- publishing over the network: real slack-sdk / tweepy clients against the fake servers ------------


def _scan_repo(root: Path) -> list[str]:
    """Every file of the repo (records, site, caches, git config and logs) and the whole history."""
    found = []
    history = subprocess.run(
        ["git", "log", "-p", "--all", "--format=%H%n%an %ae%n%B"], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    if scan_for_secrets(history):
        found.append(f"git history: {scan_for_secrets(history)}")
    for path in root.rglob("*"):
        if path.is_file() and "objects" not in path.parts:
            leaked = scan_for_secrets(path.read_text(encoding="utf-8", errors="replace"))
            if leaked:
                found.append(f"{path}: {leaked}")
    return found


def test_publish_and_notify_never_echo_a_secret(tmp_path: Path) -> None:
    """Sends, transient failures, invalid_auth / 401, --json, --dry-run, debug logs, remind --notify."""
    import json

    from testing import FakeSlack, FakeX

    x_credentials = {name: value for name, value in SECRETS.items() if name.startswith("X_")}
    repo = make_repo(tmp_path / "r")
    root = repo.root
    outputs: list[tuple[tuple[str, ...], str]] = []
    with FakeSlack(token=SECRETS["SLACK_BOT_TOKEN"]) as slack, FakeX(credentials=x_credentials) as x:
        env = {**SECRETS, "INCIDENTCTL_SLACK_API_URL": slack.url, "INCIDENTCTL_X_API_URL": x.url}

        def run(*args: str, code: int | None = 0, extra: dict[str, str] | None = None) -> str:
            result = run_subprocess(*args, cwd=root, env={**env, **(extra or {})}, timeout=120)
            output = result.stdout + result.stderr
            assert "Traceback" not in output, (args, output)
            if code is not None:
                assert result.returncode == code, (args, output)
            outputs.append((args, output))
            return output

        run("new", "API down", "--severity", "sev1", "--id", ID, "-c", "api=major_outage", "-m", "Investigating.")
        run("update", ID, "--internal", "-m", INTERNAL)
        run("publish", "--dry-run")
        run("publish", "--dry-run", "--json")
        run("publish", "--json")  # real sends
        assert len(slack.messages) == 1 and len(x.posts) == 1

        # Transient failures on both channels (retries exhausted quickly: 503 every time).
        run("update", ID, "-m", "Still investigating.")
        slack.fail_next(50, status=503)
        x.fail_next(50, status=503)
        run("publish", code=3, extra={"INCIDENTCTL_DEBUG": "1"})
        slack.faults.clear()
        x.faults.clear()

        # The secrets no longer match what the services expect: invalid_auth and 401, recorded in the YAML.
        slack.token = "xoxb-rotated-elsewhere"
        x.credentials["X_API_SECRET"] = "rotated-elsewhere"
        report = _json_part(run("publish", "--json", code=3))
        errors = " ".join(d["error"] or "" for d in report["deliveries"])
        assert "invalid_auth" in errors and "401" in errors
        run("publish", code=3, extra={"INCIDENTCTL_DEBUG": "1"})
        record = (root / "incidents" / f"{ID}.yaml").read_text(encoding="utf-8")
        assert "invalid_auth" in record, "the delivery error is recorded (without the token)"

        # Back to valid secrets: everything goes out; then remind --notify replies in the thread.
        slack.token = SECRETS["SLACK_BOT_TOKEN"]
        x.credentials["X_API_SECRET"] = SECRETS["X_API_SECRET"]
        run("publish")
        run("remind", "--notify", "--now", "2099-01-01T00:00:00Z", code=None)
        run("remind", "--notify", "--json", "--now", "2099-01-02T00:00:00Z", code=None)
        slack.token = "xoxb-rotated-again"
        run("remind", "--notify", "--now", "2099-01-03T00:00:00Z", code=None)  # invalid_auth while notifying
        run("site", "build")
        assert any("reminder" in m["text"].lower() or ":alarm_clock:" in m["text"] for m in slack.messages)

        # What the services received carries the secrets only where they belong (auth headers).
        bodies = json.dumps([r["params"] for fake in (slack, x) for r in fake.requests])
        assert not scan_for_secrets(bodies)

    leaks = [(args, scan_for_secrets(output)) for args, output in outputs if scan_for_secrets(output)]
    assert not leaks, leaks
    assert not _scan_repo(root), _scan_repo(root)
    for args, output in outputs:
        assert INTERNAL not in output, args
    for path in (root / "site").rglob("*"):
        if path.is_file():
            assert INTERNAL not in path.read_text(encoding="utf-8", errors="replace"), path


def _json_part(output: str) -> dict:  # type: ignore[type-arg]
    """``--json`` prints one document on stdout; stderr notes (if any) follow it."""
    import json

    decoder = json.JSONDecoder()
    document, _ = decoder.raw_decode(output)
    return document  # type: ignore[no-any-return]

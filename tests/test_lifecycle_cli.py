"""new / update / resolve / list / show through the CLI, against real git repos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from incidentctl.store import Repo
from testing import git, make_repo, run_subprocess


def _new(cli, repo: Repo, *extra: str, title: str = "API unavailable") -> str:  # type: ignore[no-untyped-def]
    result = cli(
        "new",
        title,
        "--severity",
        "sev1",
        "-c",
        "api=major_outage",
        "-m",
        "We are investigating.",
        *extra,
        repo=repo.root,
    )
    assert result.exit_code == 0, result.output
    return str(result.stdout.strip())


def test_new_prints_id_and_commits(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    incident_id = _new(cli, repo, "--at", "2024-12-12T00:00:00Z")
    assert incident_id == "2024-12-12-api-unavailable"
    assert (repo.root / "incidents" / f"{incident_id}.yaml").is_file()
    assert git(repo.root, "log", "-1", "--format=%s").strip() == f"{incident_id}: opened (sev1, investigating)"
    assert git(repo.root, "status", "--porcelain") == ""


def test_ids_are_unique_and_dated_by_at(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    first = _new(cli, repo, "--at", "2024-12-11T19:30:00-05:00")
    second = _new(cli, repo, "--at", "2024-12-12T03:00:00Z")
    assert first == "2024-12-12-api-unavailable"  # date of --at in UTC
    assert second == "2024-12-12-api-unavailable-2"


def test_update_status_and_commit_message(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    incident_id = _new(cli, repo, "--at", "2024-12-12T00:00:00Z")
    result = cli(
        "update",
        incident_id,
        "-s",
        "identified",
        "-m",
        "Found the cause.",
        "--at",
        "2024-12-12T00:40:00Z",
        repo=repo.root,
    )
    assert result.exit_code == 0, result.output
    assert git(repo.root, "log", "-1", "--format=%s").strip() == f"{incident_id}: identified"
    incident = repo.load(incident_id)
    assert incident.status == "identified"
    assert [e.message for e in incident.timeline] == ["We are investigating.", "Found the cause."]


def test_prefix_and_ambiguous_prefix(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    a = _new(cli, repo, "--at", "2024-12-12T00:00:00Z", title="API down")
    b = _new(cli, repo, "--at", "2024-12-12T01:00:00Z", title="Web down")
    assert cli("show", "2024-12-12-a", repo=repo.root).exit_code == 0
    ambiguous = cli("show", "2024-12-12", repo=repo.root)
    assert ambiguous.exit_code == 1
    assert a in ambiguous.stderr and b in ambiguous.stderr
    assert "matches 2 incidents" in ambiguous.stderr


def test_unknown_id_is_one_clear_line(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    result = cli("update", "nope", "-m", "x", repo=repo.root)
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert "no incident matches 'nope'" in result.stderr


def test_path_like_id_never_escapes(cli, repo: Repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "secret.yaml").write_text("x: 1\n")
    for bad in ("../secret", "../../etc/passwd", "/etc/passwd", ".hidden"):
        result = cli("show", bad, repo=repo.root)
        assert result.exit_code == 1, bad
        assert "Traceback" not in result.output
    result = cli("new", "X", "--severity", "sev1", "--id", "../escape", "-m", "x", repo=repo.root)
    assert result.exit_code == 1
    assert not (repo.root / "escape.yaml").exists()


def test_resolve_sets_components_operational(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    incident_id = _new(cli, repo, "-c", "web=partial_outage", "--at", "2024-12-12T00:00:00Z")
    result = cli("resolve", incident_id, "-m", "Fixed.", "--at", "2024-12-12T04:38:00Z", repo=repo.root)
    assert result.exit_code == 0, result.output
    data = json.loads(cli("show", incident_id, "--json", repo=repo.root).stdout)
    assert data["status"] == "resolved"
    assert data["resolved_at"] == "2024-12-12T04:38:00Z"
    assert data["components"] == {"api": "operational", "web": "operational"}
    assert git(repo.root, "log", "-1", "--format=%s").strip() == f"{incident_id}: resolved"


def test_update_on_resolved_reopens_only_with_status(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    incident_id = _new(cli, repo, "--at", "2024-12-12T00:00:00Z")
    cli("resolve", incident_id, "-m", "Fixed.", "--at", "2024-12-12T01:00:00Z", repo=repo.root)
    cli("update", incident_id, "-m", "Follow-up note.", "--at", "2024-12-12T02:00:00Z", repo=repo.root)
    assert repo.load(incident_id).status == "resolved"
    cli(
        "update",
        incident_id,
        "-s",
        "investigating",
        "-m",
        "It is back.",
        "--at",
        "2024-12-12T03:00:00Z",
        repo=repo.root,
    )
    incident = repo.load(incident_id)
    assert incident.status == "investigating"
    assert incident.resolved_at is None
    assert "reopened" in git(repo.root, "log", "-1", "--format=%s")


def test_show_json_shape(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    incident_id = _new(cli, repo, "--at", "2024-12-12T00:00:00Z", "--next-update", "30m")
    cli("update", incident_id, "--internal", "-m", "secret root cause", "--at", "2024-12-12T00:10:00Z", repo=repo.root)
    data = json.loads(cli("show", incident_id, "--json", repo=repo.root).stdout)
    for key in ("id", "title", "severity", "status", "started_at", "resolved_at", "components", "timeline"):
        assert key in data
    first, note = data["timeline"]
    assert first["next_update_by"] == "2024-12-12T00:30:00Z"  # counted from --at
    assert set(first) >= {"at", "status", "message", "visibility", "components", "next_update_by", "deliveries"}
    assert first["deliveries"]["statuspage"]["state"] == "pending"
    assert note["visibility"] == "internal" and note["deliveries"] == {}


def test_list_json_newest_first_and_filters(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    old = _new(cli, repo, "--at", "2024-01-01T00:00:00Z", title="Old")
    cli("resolve", old, "-m", "done", "--at", "2024-01-01T01:00:00Z", repo=repo.root)
    new = cli(
        "new", "New", "--severity", "sev3", "-m", "x", "--at", "2024-06-01T00:00:00Z", repo=repo.root
    ).stdout.strip()
    listed = json.loads(cli("list", "--json", repo=repo.root).stdout)
    assert [i["id"] for i in listed] == [new, old]
    assert "timeline" not in listed[0]
    assert [i["id"] for i in json.loads(cli("list", "--open", "--json", repo=repo.root).stdout)] == [new]
    assert [i["id"] for i in json.loads(cli("list", "--severity", "sev1", "--json", repo=repo.root).stdout)] == [old]
    assert cli("list", "--severity", "sev9", repo=repo.root).exit_code == 2


def test_list_table_and_no_color(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    incident_id = _new(cli, repo, "--at", "2024-12-12T00:00:00Z")
    out = cli("list", repo=repo.root).stdout
    assert "ID" in out and "STATUS" in out and incident_id in out
    assert "2024-12-11 19:00 -05:00" in out  # configured zone with its UTC offset
    assert "\x1b[" not in out  # NO_COLOR / not a terminal


def test_message_from_stdin(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    result = cli("new", "Stdin", "--severity", "sev2", "--message", "-", input="Line one.\nLine two.\n", repo=repo.root)
    assert result.exit_code == 0, result.output
    assert repo.load(result.stdout.strip()).timeline[0].message == "Line one.\nLine two."


def test_no_message_without_terminal_refuses(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    result = cli("new", "Quiet", "--severity", "sev2", repo=repo.root)
    assert result.exit_code == 2
    assert "--message" in result.stderr
    assert repo.ids() == []


def test_bad_flag_values_change_nothing(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    incident_id = _new(cli, repo, "--at", "2024-12-12T00:00:00Z")
    before = (repo.root / "incidents" / f"{incident_id}.yaml").read_text()
    log = git(repo.root, "log", "--oneline")
    cases = [
        ("update", incident_id, "-s", "fixed", "-m", "x"),
        ("update", incident_id, "-c", "api=broken", "-m", "x"),
        ("update", incident_id, "-c", "nosuch=major_outage", "-m", "x"),
        ("update", incident_id, "--at", "yesterday", "-m", "x"),
        ("update", incident_id, "--at", "2024-12-12T00:00:00", "-m", "x"),
        ("update", incident_id, "--next-update", "soon", "-m", "x"),
        ("new", "X", "--severity", "sev9", "-m", "x"),
    ]
    for args in cases:
        result = cli(*args, repo=repo.root)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert (repo.root / "incidents" / f"{incident_id}.yaml").read_text() == before
    assert git(repo.root, "log", "--oneline") == log


def test_backfill_inserts_in_time_order(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    incident_id = _new(cli, repo, "--at", "2024-12-12T00:00:00Z")
    cli("update", incident_id, "-m", "later", "--at", "2024-12-12T02:00:00Z", repo=repo.root)
    cli("update", incident_id, "-s", "identified", "-m", "earlier", "--at", "2024-12-12T01:00:00Z", repo=repo.root)
    incident = repo.load(incident_id)
    assert [e.message for e in incident.timeline] == ["We are investigating.", "earlier", "later"]


def test_hand_edit_is_validated_kept_and_committed(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    incident_id = _new(cli, repo, "--at", "2024-12-12T00:00:00Z")
    path = repo.root / "incidents" / f"{incident_id}.yaml"
    text = path.read_text().replace(
        "title: API unavailable", "# reviewed by the IC\ntitle: API unavailable for EU users"
    )
    path.write_text(text)
    (repo.root / "unrelated.txt").write_text("do not commit me\n")
    assert cli("update", incident_id, "-m", "Still investigating.", repo=repo.root).exit_code == 0
    committed = git(repo.root, "show", f"HEAD:incidents/{incident_id}.yaml")
    assert "# reviewed by the IC" in committed
    assert "API unavailable for EU users" in committed
    assert "unrelated.txt" in git(repo.root, "status", "--porcelain")
    # a broken hand edit is refused, and nothing is committed
    path.write_text(path.read_text().replace("severity: sev1", "severity: sev7"))
    log = git(repo.root, "log", "--oneline")
    result = cli("update", incident_id, "-m", "x", repo=repo.root)
    assert result.exit_code == 1
    assert f"incidents/{incident_id}.yaml:" in result.stderr and "sev7" in result.stderr
    assert git(repo.root, "log", "--oneline") == log


def test_comments_and_key_order_survive_updates(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    incident_id = _new(cli, repo, "--at", "2024-12-12T00:00:00Z")
    path = repo.root / "incidents" / f"{incident_id}.yaml"
    text = path.read_text()
    text = text.replace("severity: sev1", "severity: sev1  # bumped by the IC")
    text = "# Customer-facing: keep it short.\n" + text
    path.write_text(text)
    git(repo.root, "commit", "-qam", "hand edit")
    for n in range(3):
        assert cli("update", incident_id, "-m", f"update {n}", repo=repo.root).exit_code == 0
    final = path.read_text()
    assert final.startswith("# Customer-facing: keep it short.\n")
    assert "severity: sev1  # bumped by the IC" in final
    keys = [line.split(":")[0] for line in final.splitlines() if line and not line.startswith((" ", "#", "-"))]
    assert keys[:4] == ["schema", "id", "title", "severity"]


def test_no_repo_found(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    result = cli("list")
    assert result.exit_code == 1
    assert "incidentctl init" in result.stderr


def test_repo_from_env_and_from_cwd(cli, repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    _new(cli, repo)
    monkeypatch.setenv("INCIDENTCTL_REPO", str(repo.root))
    assert cli("list", "--json").exit_code == 0
    monkeypatch.delenv("INCIDENTCTL_REPO")
    (repo.root / "incidents" / "sub").mkdir()
    monkeypatch.chdir(repo.root / "incidents" / "sub")
    assert len(json.loads(cli("list", "--json").stdout)) == 1


def test_missing_git_repo_is_clear(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "plain"
    root.mkdir()
    (root / "incidentctl.yaml").write_text("organization: X\n")
    result = cli("new", "X", "--severity", "sev1", "-m", "x", repo=root)
    assert result.exit_code == 0  # saved; a note says it is not committed
    assert "not a git repository" in result.stderr


def test_push_failure_exits_4_and_next_command_pushes(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    repo = make_repo(tmp_path / "clone", config={"git.push": True})
    git(repo.root, "remote", "add", "origin", str(remote))
    git(repo.root, "push", "-q", "origin", "main")
    incident_id = _new(cli, repo)
    assert git(remote, "log", "-1", "--format=%s", "main").startswith(incident_id)
    # break the remote: the commit stays local, exit 4
    (remote / "hooks" / "pre-receive").write_text("#!/bin/sh\necho rejected >&2\nexit 1\n")
    (remote / "hooks" / "pre-receive").chmod(0o755)
    result = cli("update", incident_id, "-m", "offline update", repo=repo.root)
    assert result.exit_code == 4, result.output
    assert "committed locally" in result.stderr
    assert "offline update" in git(repo.root, "show", "HEAD")
    (remote / "hooks" / "pre-receive").unlink()
    assert cli("update", incident_id, "-m", "back online", repo=repo.root).exit_code == 0
    remote_log = git(remote, "log", "--format=%s", "main")
    assert remote_log.count(incident_id) == 3


def test_subprocess_exit_codes_and_help_is_light(tmp_path: Path) -> None:
    usage = run_subprocess("new")
    assert usage.returncode == 2
    help_ = run_subprocess("-c", "x", cwd=tmp_path)  # unknown option
    assert help_.returncode == 2
    script = (
        "import sys; from incidentctl.cli.app import app; "
        "heavy=[m for m in ('tweepy','slack_sdk','git','twitter_text','pydantic','ruamel','jinja2','mastodon','atproto','httpx') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_stale_clone_can_update_an_incident_it_has_not_pulled_yet(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    first = make_repo(tmp_path / "a", config={"git.push": True})
    git(first.root, "remote", "add", "origin", str(remote))
    git(first.root, "push", "-q", "origin", "main")
    git(tmp_path, "clone", "-q", str(remote), str(tmp_path / "b"))
    second = Repo.open(tmp_path / "b")
    incident_id = _new(cli, first)
    assert second.ids() == []  # not pulled yet
    result = cli("update", incident_id, "-s", "identified", "-m", "From the other clone.", repo=second.root)
    assert result.exit_code == 0, result.output
    assert "From the other clone." in git(remote, "show", f"main:incidents/{incident_id}.yaml")


def test_numbers_are_not_timestamps(repo: Repo) -> None:
    from incidentctl.store import record_problems

    text = "schema: 1\nid: a\ntitle: t\nseverity: sev1\ntimeline:\n  - at: 12\n    status: investigating\n"
    _, problems = record_problems(text, "f.yaml", None)
    assert problems == ["f.yaml:6: timeline.0.at: expected a timestamp like 2024-12-12T00:00:00Z, not a number"]

"""Scheduled maintenance through the CLI, against real git repos: schedule, start, complete, cancel,
reschedule, update, refusals, DST in the configured zone, list --kind, show, remind and stats."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from incidentctl.durations import isoformat_z, utcnow
from incidentctl.store import Repo
from testing import git, no_traceback

START = "2030-06-10T14:00:00Z"
END = "2030-06-10T16:00:00Z"


def schedule(cli: Callable[..., Any], repo: Repo, *extra: str, title: str = "Database upgrade") -> str:
    result = cli("maintenance", "schedule", title, *extra, repo=repo.root)
    assert result.exit_code == 0, result.output
    return str(result.stdout.strip())


def records(repo: Repo) -> list[str]:
    return sorted(path.name for path in (repo.root / "incidents").glob("*.yaml"))


def test_schedule_writes_the_record_and_prints_the_id(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    mid = schedule(cli, repo, "--start", START, "--end", END, "-c", "api", "-c", "web", "-m", "Planned upgrade.")
    assert mid == "2030-06-10-database-upgrade"  # dated by its start
    assert git(repo.root, "log", "-1", "--format=%s").strip().startswith(f"{mid}: maintenance scheduled")
    assert git(repo.root, "status", "--porcelain") == ""
    record = repo.load(mid)
    assert record.kind == "maintenance" and record.status == "scheduled"
    assert (isoformat_z(record.scheduled_for), isoformat_z(record.scheduled_until)) == (START, END)  # type: ignore[arg-type]
    first = record.timeline[0]
    assert first.components == {"api": "operational", "web": "operational"}
    assert (isoformat_z(first.scheduled_for), isoformat_z(first.scheduled_until)) == (START, END)  # type: ignore[arg-type]
    assert first.next_update_by is None and first.message == "Planned upgrade."
    text = (repo.root / "incidents" / f"{mid}.yaml").read_text(encoding="utf-8")
    assert "kind: maintenance" in text and "severity" not in text
    assert record.auto_start and record.auto_complete and not record.counts_as_downtime


def test_duration_and_switches(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    mid = schedule(
        cli,
        repo,
        "--start",
        START,
        "--duration",
        "90m",
        "--no-auto-start",
        "--no-auto-complete",
        "--counts-as-downtime",
    )
    record = repo.load(mid)
    assert record.scheduled_until - record.scheduled_for == timedelta(minutes=90)  # type: ignore[operator]
    assert (record.auto_start, record.auto_complete, record.counts_as_downtime) == (False, False, True)
    assert record.timeline[0].message == "Scheduled maintenance."  # the default text


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--start", END, "--end", START], "before it starts"),
        (["--start", START, "--end", START], "before it starts"),
        (["--start", "2020-01-01T00:00:00Z", "--duration", "1h"], "ends in the past"),
        (["--start", START, "--end", END, "-c", "nope"], "'nope': unknown component"),
    ],
)
def test_schedule_refusals_change_nothing(cli, repo: Repo, args: list[str], words: str) -> None:  # type: ignore[no-untyped-def]
    head = git(repo.root, "rev-parse", "HEAD")
    result = cli("maintenance", "schedule", "Upgrade", *args, repo=repo.root)
    assert result.exit_code == 1, result.output
    assert words in result.stderr and result.stderr.strip().count("\n") == 0 and no_traceback(result)
    assert git(repo.root, "rev-parse", "HEAD") == head and records(repo) == []


def test_schedule_needs_one_end(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    both = cli("maintenance", "schedule", "U", "--start", START, "--end", END, "--duration", "1h", repo=repo.root)
    none = cli("maintenance", "schedule", "U", "--start", START, repo=repo.root)
    assert both.exit_code == none.exit_code == 2
    assert records(repo) == []


def _now_window(cli, repo: Repo) -> str:  # type: ignore[no-untyped-def]
    """A maintenance whose window began 10 minutes ago (so people can act on it now)."""
    now = utcnow()
    return schedule(
        cli,
        repo,
        "--start",
        isoformat_z(now - timedelta(minutes=10)),
        "--duration",
        "2h",
        "-c",
        "api",
        "--no-auto-start",
    )


def test_start_verify_complete(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    mid = _now_window(cli, repo)
    assert cli("maintenance", "start", mid, repo=repo.root).exit_code == 0
    record = repo.load(mid)
    assert record.status == "in_progress" and record.components == {"api": "under_maintenance"}
    assert record.timeline[-1].message == "Maintenance has started."
    assert git(repo.root, "log", "-1", "--format=%s").strip() == f"{mid}: in progress"
    result = cli("update", mid, "--status", "verifying", "-m", "Checking the replicas.", repo=repo.root)
    assert result.exit_code == 0, result.output
    assert repo.load(mid).components == {"api": "under_maintenance"}
    assert cli("maintenance", "complete", mid, "-m", "Done.", repo=repo.root).exit_code == 0
    record = repo.load(mid)
    assert record.status == "completed" and record.components == {"api": "operational"}
    assert [entry.status for entry in record.timeline] == ["scheduled", "in_progress", "verifying", "completed"]
    again = cli("maintenance", "cancel", mid, repo=repo.root)
    assert again.exit_code == 1 and "already completed" in again.stderr


def test_update_to_in_progress_puts_components_under_maintenance(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    mid = _now_window(cli, repo)
    assert cli("update", mid, "--status", "in_progress", "-m", "Under way.", repo=repo.root).exit_code == 0
    assert repo.load(mid).components == {"api": "under_maintenance"}


def test_cancel_while_scheduled_and_in_progress(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    first = schedule(cli, repo, "--start", START, "--end", END, "-c", "api")
    assert cli("maintenance", "cancel", first, repo=repo.root).exit_code == 0
    record = repo.load(first)
    assert record.status == "cancelled" and record.timeline[-1].message == "This maintenance has been cancelled."
    second = _now_window(cli, repo)
    assert cli("maintenance", "start", second, repo=repo.root).exit_code == 0
    assert cli("maintenance", "cancel", second, "-m", "Rolled back.", repo=repo.root).exit_code == 0
    assert repo.load(second).components == {"api": "operational"}


def test_refusals_on_the_wrong_kind_or_state(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    mid = schedule(cli, repo, "--start", START, "--end", END, "-c", "api")
    head = git(repo.root, "rev-parse", "HEAD")
    cases = [
        (("resolve", mid), "maintenance complete"),
        (("update", mid, "--status", "resolved", "-m", "x"), "is a maintenance"),
        (("update", mid, "--status", "identified", "-m", "x"), "is a maintenance"),
        (("update", mid, "-c", "api=major_outage", "-m", "x"), "open an incident"),
        (("update", mid, "--severity", "sev1", "-m", "x"), "no severity"),
        (("maintenance", "complete", mid), "has not started"),
    ]
    for args, words in cases:
        result = cli(*args, repo=repo.root)
        assert result.exit_code == 1, (args, result.output)
        assert words in result.stderr and result.stderr.strip().count("\n") == 0, (args, result.stderr)
    opened = cli("new", "API down", "--severity", "sev2", "-m", "x", repo=repo.root)
    incident = opened.stdout.strip()
    wrong = cli("update", incident, "--status", "in_progress", "-m", "x", repo=repo.root)
    assert wrong.exit_code == 1 and "is an incident" in wrong.stderr
    assert cli("maintenance", "start", incident, repo=repo.root).exit_code == 1
    assert git(repo.root, "rev-list", "--count", f"{head.strip()}..HEAD").strip() == "1"  # only `new`


def test_reschedule(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    mid = schedule(cli, repo, "--start", START, "--end", END, "-c", "api")
    result = cli(
        "maintenance", "reschedule", mid, "--start", "2030-06-11T14:00:00Z", "--duration", "3h", repo=repo.root
    )
    assert result.exit_code == 0, result.output
    record = repo.load(mid)
    assert isoformat_z(record.scheduled_for) == "2030-06-11T14:00:00Z"  # type: ignore[arg-type]
    assert isoformat_z(record.scheduled_until) == "2030-06-11T17:00:00Z"  # type: ignore[arg-type]
    moved = record.timeline[-1]
    assert moved.notice == "rescheduled" and moved.status == "scheduled"
    assert isoformat_z(moved.scheduled_for) == "2030-06-11T14:00:00Z"  # type: ignore[arg-type]
    assert "moved to 2030-06-11 10:00 EDT" in moved.message
    # While it runs, only its end may move.
    running = _now_window(cli, repo)
    assert cli("maintenance", "start", running, repo=repo.root).exit_code == 0
    later = isoformat_z(utcnow() + timedelta(hours=5))
    refused = cli("maintenance", "reschedule", running, "--start", later, "--duration", "1h", repo=repo.root)
    assert refused.exit_code == 1 and "only its end may move" in refused.stderr
    assert cli("maintenance", "reschedule", running, "--end", later, repo=repo.root).exit_code == 0
    assert isoformat_z(repo.load(running).scheduled_until) == later  # type: ignore[arg-type]
    assert cli("maintenance", "cancel", mid, repo=repo.root).exit_code == 0
    done = cli("maintenance", "reschedule", mid, "--end", "2030-06-12T00:00:00Z", repo=repo.root)
    assert done.exit_code == 1 and "already cancelled" in done.stderr


def test_dst_window_in_the_configured_zone(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    """America/New_York falls back at 02:00 EDT on 2030-11-03: 00:30 EDT + 3h is 02:30 EST."""
    mid = schedule(cli, repo, "--start", "2030-11-03T00:30:00-04:00", "--duration", "3h", "-c", "api")
    record = repo.load(mid)
    assert isoformat_z(record.scheduled_until) == "2030-11-03T07:30:00Z"  # type: ignore[arg-type]
    shown = cli("show", mid, repo=repo.root)
    assert "window     2030-11-03 00:30 -04:00 to 2030-11-03 02:30 -05:00 (3h)" in shown.stdout
    assert "auto-start on, auto-complete on" in shown.stdout
    listed = cli("list", repo=repo.root)
    assert "2030-11-03 00:30 -04:00 to 2030-11-03 02:30 -05:00" in listed.stdout and "3h" in listed.stdout
    # Ticks at local 01:30 on either side of the change: before it is 05:30Z (running), after 06:30Z.
    assert cli("tick", "--now", "2030-11-03T01:30:00-04:00", repo=repo.root).exit_code == 0
    assert repo.load(mid).status == "in_progress"
    assert repo.load(mid).timeline[-1].at == record.scheduled_for
    assert cli("tick", "--now", "2030-11-03T02:29:59-05:00", repo=repo.root).exit_code == 0
    assert repo.load(mid).status == "in_progress"
    assert cli("tick", "--now", "2030-11-03T02:30:00-05:00", repo=repo.root).exit_code == 0
    assert repo.load(mid).status == "completed"


def test_list_kind_and_json(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    mid = schedule(cli, repo, "--start", START, "--end", END, "-c", "api")
    incident = cli("new", "API down", "--severity", "sev2", "-m", "x", repo=repo.root).stdout.strip()
    both = json.loads(cli("list", "--json", repo=repo.root).stdout)
    assert {row["id"]: row["kind"] for row in both} == {mid: "maintenance", incident: "incident"}
    only = json.loads(cli("list", "--kind", "maintenance", "--json", repo=repo.root).stdout)
    assert [row["id"] for row in only] == [mid]
    assert (only[0]["scheduled_for"], only[0]["scheduled_until"]) == (START, END)
    incidents = json.loads(cli("list", "--kind", "incident", "--json", repo=repo.root).stdout)
    assert [row["id"] for row in incidents] == [incident] and "scheduled_for" not in incidents[0]
    text = cli("list", "--kind", "maintenance", repo=repo.root).stdout
    assert mid in text and "2030-06-10 10:00 -04:00 to 2030-06-10 12:00 -04:00" in text and incident not in text
    assert cli("list", "--kind", "outage", repo=repo.root).exit_code == 2
    open_rows = json.loads(cli("list", "--open", "--json", repo=repo.root).stdout)
    assert {row["id"] for row in open_rows} == {mid, incident}
    assert cli("maintenance", "cancel", mid, repo=repo.root).exit_code == 0
    open_rows = json.loads(cli("list", "--open", "--json", repo=repo.root).stdout)
    assert [row["id"] for row in open_rows] == [incident]


def test_remind_start_and_notice_due(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    mid = schedule(cli, repo, "--start", START, "--end", END, "-c", "api", "--no-auto-start")

    def reasons(now: str) -> list[tuple[str, str]]:
        result = cli("remind", "--now", now, "--json", repo=repo.root)
        assert no_traceback(result), result.output
        return [(item["reason"], item["due_at"]) for item in json.loads(result.stdout)["due"]]

    assert reasons("2030-06-09T13:00:00Z") == []
    assert reasons("2030-06-09T14:30:00Z") == [("maintenance_notice_due", "2030-06-09T14:00:00Z")]
    # The latest lead only: 1h before the start, the 24h notice is no longer asked for.
    assert reasons("2030-06-10T13:30:00Z") == [("maintenance_notice_due", "2030-06-10T13:00:00Z")]
    assert cli("tick", "--now", "2030-06-10T13:30:00Z", repo=repo.root).exit_code == 0  # writes the 1h notice
    assert reasons("2030-06-10T13:30:00Z") == []
    assert reasons("2030-06-10T14:05:00Z") == [("maintenance_start_due", START)]
    assert cli("tick", "--now", "2030-06-10T14:05:00Z", repo=repo.root).exit_code == 0  # auto-start is off
    assert repo.load(mid).status == "scheduled"
    # Never an update or postmortem reminder for a maintenance.
    assert all(reason.startswith("maintenance_") for reason, _ in reasons("2030-06-10T20:00:00Z"))


def test_stats_count_maintenances_apart(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    mid = schedule(cli, repo, "--start", START, "--end", END, "-c", "api")
    cancelled = schedule(cli, repo, "--start", START, "--duration", "30m", title="Cache flush")
    assert cli("maintenance", "cancel", cancelled, repo=repo.root).exit_code == 0
    cli("new", "API down", "--severity", "sev2", "-m", "x", "-c", "api=major_outage", repo=repo.root)
    assert cli("tick", "--now", "2030-06-10T17:00:00Z", repo=repo.root).exit_code == 0
    assert repo.load(mid).status == "completed"
    data = json.loads(cli("stats", "--json", "--now", "2030-06-11T00:00:00Z", repo=repo.root).stdout)
    assert data["incidents"] == 1 and data["per_severity"]["sev2"]["incidents"] == 1
    assert data["per_component"]["api"]["incidents"] == 1
    assert data["maintenance"] == {
        "count": 2,
        "completed": 1,
        "cancelled": 1,
        "open": 0,
        "planned_minutes": 150,
        "actual_minutes": 120,
    }
    text = cli("stats", "--now", "2030-06-11T00:00:00Z", repo=repo.root).stdout
    assert "2 maintenances (not counted as incidents): 1 completed, 1 cancelled; planned 2h 30m, actual 2h" in text
    assert "1 incidents" in text


def test_no_postmortem_for_a_maintenance(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    from incidentctl.config import Severity

    repo.config.severities["maintenance"] = Severity(name="Maint", postmortem_required=True)
    mid = _now_window(cli, repo)
    assert cli("maintenance", "start", mid, repo=repo.root).exit_code == 0
    assert cli("maintenance", "complete", mid, repo=repo.root).exit_code == 0
    from incidentctl.postmortem import lint_postmortems
    from incidentctl.remind import postmortem_due

    record = repo.load(mid)
    assert postmortem_due(record, repo.config) is None
    assert lint_postmortems(repo.root, repo.config, [record]) == []
    assert cli("lint", repo=repo.root).exit_code == 0


def test_remind_notify_posts_a_maintenance_reminder_to_slack(cli, tmp_path, slack) -> None:  # type: ignore[no-untyped-def]
    from testing import DELETE, make_repo

    repo = make_repo(tmp_path / "s", config={"channels.x": DELETE, "channels.statuspage": DELETE})
    mid = schedule(cli, repo, "--start", START, "--end", END, "-c", "api", "--no-auto-start")
    result = cli("remind", "--notify", "--now", "2030-06-10T14:30:00Z", repo=repo.root)
    assert result.exit_code == 0, result.output
    (posted,) = slack.messages
    assert "Database upgrade" in posted["text"] and "has not started" in posted["text"]
    assert f"maintenance start {mid}" in posted["text"]
    again = cli("remind", "--notify", "--now", "2030-06-10T14:40:00Z", repo=repo.root)
    assert again.exit_code == 0 and len(slack.messages) == 1  # not re-posted within the hour

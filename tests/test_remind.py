"""Reminders: cadence arithmetic at its boundaries, business days, snoozes, the CLI and its exit codes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from incidentctl.config import Config, parse_config
from incidentctl.durations import add_business_days, add_due_period, end_of_local_day
from incidentctl.lifecycle import add_update, open_incident, resolve_incident
from incidentctl.model import ActionItem, Entry, Incident, Postmortem, Reminders
from incidentctl.remind import (
    find_reminders,
    next_update_due,
    reminders_for,
    should_notify,
)
from testing import git, make_repo

NY = ZoneInfo("America/New_York")
T0 = datetime(2024, 12, 12, 15, 0, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.fixture
def config() -> Config:
    return parse_config("organization: Example\ntimezone: America/New_York\ncomponents: [{id: api, name: API}]\n")


def incident(*entries: Entry, severity: str = "sev1", **extra: object) -> Incident:
    return Incident(id="2024-12-12-api-down", title="API down", severity=severity, timeline=list(entries), **extra)  # type: ignore[arg-type]


def entry(at: datetime, status: str = "investigating", **extra: object) -> Entry:
    return Entry(at=at, status=status, message="x", **extra)  # type: ignore[arg-type]


# -- update cadence -----------------------------------------------------------------------------------


def test_cadence_from_last_public_update(config: Config) -> None:
    record = incident(entry(T0))
    assert next_update_due(record, config.severities["sev1"]) == T0 + timedelta(minutes=30)
    record = incident(entry(T0), severity="sev2")
    assert next_update_due(record, config.severities["sev2"]) == T0 + timedelta(hours=1)


def test_due_exactly_at_the_deadline_not_a_second_before(config: Config) -> None:
    record = incident(entry(T0))
    deadline = T0 + timedelta(minutes=30)
    before = find_reminders([record], config, deadline - timedelta(seconds=1))
    assert before.due == [] and [item.reason for item in before.upcoming] == ["update_due"]
    at = find_reminders([record], config, deadline)
    assert [(item.reason, item.overdue_by(deadline)) for item in at.due] == [("update_due", timedelta(0))]
    later = find_reminders([record], config, deadline + timedelta(minutes=7))
    assert later.due[0].to_json(later.now)["overdue_by_seconds"] == 420


def test_promise_earlier_than_cadence_wins(config: Config) -> None:
    record = incident(entry(T0, next_update_by=T0 + timedelta(minutes=10)))
    assert next_update_due(record, config.severities["sev1"]) == T0 + timedelta(minutes=10)
    assert find_reminders([record], config, T0 + timedelta(minutes=11)).due


def test_promise_later_than_cadence_wins(config: Config) -> None:
    record = incident(entry(T0, next_update_by=T0 + timedelta(hours=2)))
    assert next_update_due(record, config.severities["sev1"]) == T0 + timedelta(hours=2)
    assert find_reminders([record], config, T0 + timedelta(minutes=31)).due == []
    assert find_reminders([record], config, T0 + timedelta(hours=2)).due


def test_internal_entries_do_not_reset_the_clock(config: Config) -> None:
    record = incident(entry(T0), entry(T0 + timedelta(minutes=25), visibility="internal"))
    assert next_update_due(record, config.severities["sev1"]) == T0 + timedelta(minutes=30)
    # ...and an internal entry's promise is not a public promise either.
    record = incident(
        entry(T0), entry(T0 + timedelta(minutes=5), visibility="internal", next_update_by=T0 + timedelta(hours=3))
    )
    assert next_update_due(record, config.severities["sev1"]) == T0 + timedelta(minutes=30)


def test_only_the_last_public_entry_promise_counts(config: Config) -> None:
    record = incident(entry(T0, next_update_by=T0 + timedelta(hours=3)), entry(T0 + timedelta(minutes=10)))
    assert next_update_due(record, config.severities["sev1"]) == T0 + timedelta(minutes=40)


def test_no_public_entry_counts_from_the_start(config: Config) -> None:
    record = incident(entry(T0, visibility="internal"))
    assert next_update_due(record, config.severities["sev1"]) == T0 + timedelta(minutes=30)


def test_cadence_is_absolute_time_across_dst(config: Config) -> None:
    # 01:45 EST on the spring-forward night: 30 minutes later is 03:15 EDT, not 02:15 (which does not exist).
    start = datetime(2024, 3, 10, 1, 45, tzinfo=NY)
    record = incident(entry(start))
    due = next_update_due(record, config.severities["sev1"])
    assert due == utc("2024-03-10T07:15:00Z")
    assert due is not None and due.astimezone(NY).strftime("%H:%M %Z") == "03:15 EDT"
    # Fall back: 01:50 EDT + 30m = 01:20 EST (the clock goes back, the deadline does not).
    start = datetime(2024, 11, 3, 5, 50, tzinfo=UTC)
    due = next_update_due(incident(entry(start)), config.severities["sev1"])
    assert due == utc("2024-11-03T06:20:00Z") and due.astimezone(NY).strftime("%H:%M %Z") == "01:20 EST"


def test_resolved_incident_has_no_update_due(config: Config) -> None:
    record = incident(entry(T0), entry(T0 + timedelta(minutes=5), "resolved"), severity="sev3")
    assert reminders_for(record, config) == []


def test_reopened_incident_is_due_again(config: Config) -> None:
    record = incident(
        entry(T0),
        entry(T0 + timedelta(minutes=5), "resolved"),
        entry(T0 + timedelta(hours=1), "investigating"),
        severity="sev3",
    )
    assert [item.reason for item in reminders_for(record, config)] == ["update_due"]


def test_sample_incidents_never_remind(config: Config) -> None:
    assert reminders_for(incident(entry(T0), sample=True), config) == []


# -- postmortems and action items ---------------------------------------------------------------------


def complete_postmortem(**extra: object) -> Postmortem:
    fields: dict[str, object] = {
        "summary": "s",
        "impact": "i",
        "root_causes": ["r"],
        "trigger": "t",
        "detection": "d",
        "resolution": "r",
        "action_items": [ActionItem(title="fix", status="done")],
    }
    return Postmortem(**{**fields, **extra})  # type: ignore[arg-type]


def test_postmortem_due_three_days_after_a_sev1(config: Config) -> None:
    resolved = T0 + timedelta(hours=2)
    record = incident(entry(T0), entry(resolved, "resolved"))
    (item,) = reminders_for(record, config)
    assert (item.reason, item.due_at) == ("postmortem_due", resolved + timedelta(days=3))
    assert item.detail == "postmortem not started"
    assert find_reminders([record], config, resolved + timedelta(days=3) - timedelta(seconds=1)).due == []
    assert find_reminders([record], config, resolved + timedelta(days=3)).due == [item]


def test_postmortem_due_five_business_days_after_a_sev2(config: Config) -> None:
    resolved = utc("2024-12-13T22:00:00Z")  # Friday 17:00 EST
    record = incident(entry(T0), entry(resolved, "resolved"), severity="sev2")
    (item,) = reminders_for(record, config)
    assert item.due_at == utc("2024-12-20T22:00:00Z")  # the next Friday, 17:00 EST


def test_incomplete_postmortem_still_due_complete_one_is_not(config: Config) -> None:
    done = T0 + timedelta(hours=1)
    partial = incident(entry(T0), entry(done, "resolved"), postmortem=Postmortem(summary="s", root_causes=["r"]))
    (item,) = reminders_for(partial, config)
    assert item.detail == "postmortem missing impact, trigger, detection, resolution, action_items"
    finished = incident(entry(T0), entry(done, "resolved"), postmortem=complete_postmortem())
    assert reminders_for(finished, config) == []


def test_no_postmortem_due_for_sev3(config: Config) -> None:
    assert reminders_for(incident(entry(T0), entry(T0 + timedelta(hours=1), "resolved"), severity="sev3"), config) == []


def test_action_items_due_at_the_end_of_their_local_day(config: Config) -> None:
    items = [
        ActionItem(title="open one", owner="infra", due=date(2025, 1, 31)),
        ActionItem(title="done one", due=date(2025, 1, 1), status="done"),
        ActionItem(title="no date"),
    ]
    record = incident(
        entry(T0), entry(T0 + timedelta(hours=1), "resolved"), postmortem=complete_postmortem(action_items=items)
    )
    (item,) = reminders_for(record, config)
    assert item.reason == "action_item_due" and item.key == "action_item_due.0"
    assert item.due_at == utc("2025-02-01T05:00:00Z")  # midnight after Jan 31 in New York
    assert "open one" in item.detail and "infra" in item.detail
    assert find_reminders([record], config, utc("2025-02-01T04:59:59Z")).due == []
    assert find_reminders([record], config, utc("2025-02-01T05:00:00Z")).due == [item]


# -- business days ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "days", "expected"),
    [
        ("2024-12-13 17:00", 5, "2024-12-20 17:00"),  # Friday -> next Friday
        ("2024-12-14 10:00", 5, "2024-12-20 10:00"),  # Saturday -> Monday is day 1 -> Friday
        ("2024-12-15 10:00", 1, "2024-12-16 10:00"),  # Sunday -> Monday
        ("2024-12-16 09:00", 5, "2024-12-23 09:00"),  # Monday -> next Monday
        ("2024-12-13 23:30", 1, "2024-12-16 23:30"),  # Friday night local (Saturday in UTC) counts as Friday
        ("2024-12-13 17:00", 0, "2024-12-13 17:00"),
        ("2024-03-08 17:00", 5, "2024-03-15 17:00"),  # across the DST change: same wall time, EDT
    ],
)
def test_business_days(local: str, days: int, expected: str) -> None:
    start = datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=NY)
    result = add_business_days(start.astimezone(UTC), days, NY)
    assert result.astimezone(NY).strftime("%Y-%m-%d %H:%M") == expected
    assert result.tzinfo == UTC


def test_business_days_follow_the_local_date_not_utc() -> None:
    friday_night = utc("2024-12-14T04:30:00Z")  # Saturday in UTC, Friday 23:30 in New York
    assert add_business_days(friday_night, 1, NY) == utc("2024-12-17T04:30:00Z")  # Monday 23:30 EST
    assert add_business_days(friday_night, 1, ZoneInfo("UTC")) == utc("2024-12-16T04:30:00Z")  # Monday in UTC


def test_due_period_days_are_durations() -> None:
    start = utc("2024-03-08T22:00:00Z")
    assert add_due_period(start, "3d", NY) == start + timedelta(hours=72)
    assert add_due_period(start, "5bd", NY) == utc("2024-03-15T21:00:00Z")
    assert end_of_local_day(date(2024, 3, 9), NY) == utc("2024-03-10T05:00:00Z")


# -- noise control ------------------------------------------------------------------------------------


def test_should_notify_once_per_deadline_then_per_cadence(config: Config) -> None:
    record = incident(entry(T0))
    (item,) = reminders_for(record, config)  # due T0+30m, cadence 30m
    due = item.due_at
    assert should_notify(item, record, config, due)
    posted = record.model_copy(update={"reminders": Reminders(notified={"update_due": due + timedelta(minutes=1)})})
    assert not should_notify(item, posted, config, due + timedelta(minutes=30))
    assert should_notify(item, posted, config, due + timedelta(minutes=31))
    # A reminder posted for an earlier deadline does not silence a new one.
    earlier = record.model_copy(update={"reminders": Reminders(notified={"update_due": due - timedelta(minutes=5)})})
    assert should_notify(item, earlier, config, due)


def test_snoozed_reminders_are_listed_apart_and_never_posted(config: Config) -> None:
    until = T0 + timedelta(minutes=45)
    record = incident(entry(T0), reminders=Reminders(snoozed_until=until))
    report = find_reminders([record], config, T0 + timedelta(minutes=40))
    assert report.due == [] and len(report.snoozed) == 1
    assert not should_notify(report.snoozed[0], record, config, report.now)
    assert len(find_reminders([record], config, until).due) == 1


# -- the CLI ------------------------------------------------------------------------------------------


def open_sev1(repo_root: Path, cli, **kwargs: str):  # type: ignore[no-untyped-def]
    args = [
        "new",
        "API down",
        "--severity",
        "sev1",
        "-c",
        "api=major_outage",
        "-m",
        "Looking.",
        "--at",
        "2024-12-12T15:00:00Z",
    ]
    for key, value in kwargs.items():
        args += [f"--{key.replace('_', '-')}", value]
    result = cli(*args, repo=repo_root)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_remind_json_and_exit_codes(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "r")
    incident_id = open_sev1(repo.root, cli)
    quiet = cli("remind", "--now", "2024-12-12T15:29:59Z", "--json", "--fail-if-due", repo=repo.root)
    assert quiet.exit_code == 0, quiet.output
    data = json.loads(quiet.stdout)
    assert data["due"] == [] and data["upcoming"][0]["id"] == incident_id

    late = cli("remind", "--now", "2024-12-12T15:42:00Z", "--json", repo=repo.root)
    assert late.exit_code == 0
    (item,) = json.loads(late.stdout)["due"]
    assert {k: item[k] for k in ("id", "severity", "due_at", "overdue_by_seconds", "reason")} == {
        "id": incident_id,
        "severity": "sev1",
        "due_at": "2024-12-12T15:30:00Z",
        "overdue_by_seconds": 720,
        "reason": "update_due",
    }
    failing = cli("remind", "--now", "2024-12-12T15:42:00Z", "--fail-if-due", repo=repo.root)
    assert failing.exit_code == 5
    assert "overdue by 12m" in failing.stdout and "10:30 -05:00" in failing.stdout  # shown in the configured zone
    assert "1 reminder due" in failing.stderr


def test_remind_after_update_and_internal_note(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "r")
    incident_id = open_sev1(repo.root, cli)
    assert (
        cli(
            "update",
            incident_id,
            "-m",
            "Still looking.",
            "--next-update",
            "1h",
            "--at",
            "2024-12-12T15:20:00Z",
            repo=repo.root,
        ).exit_code
        == 0
    )
    assert (
        cli(
            "update", incident_id, "--internal", "-m", "DB is on fire", "--at", "2024-12-12T16:10:00Z", repo=repo.root
        ).exit_code
        == 0
    )
    data = json.loads(cli("remind", "--now", "2024-12-12T16:21:00Z", "--json", repo=repo.root).stdout)
    assert [(item["due_at"], item["overdue_by_seconds"]) for item in data["due"]] == [("2024-12-12T16:20:00Z", 60)]


def test_snooze_records_commits_and_quiets(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "r")
    incident_id = open_sev1(repo.root, cli)
    result = cli("snooze", incident_id[:14], "30m", repo=repo.root)
    assert result.exit_code == 0, result.output
    assert git(repo.root, "log", "-1", "--format=%s").strip() == f"{incident_id}: snoozed reminders for 30m"
    until = repo.get(incident_id).reminders.snoozed_until  # type: ignore[union-attr]
    assert until is not None
    during = json.loads(cli("remind", "--now", until.strftime("%Y-%m-%dT%H:%M:%SZ"), "--json", repo=repo.root).stdout)
    # The snooze ends exactly at `until`: due again then, snoozed a second before.
    assert len(during["due"]) == 1
    before = (until - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    data = json.loads(cli("remind", "--now", before, "--json", "--fail-if-due", repo=repo.root).stdout)
    assert data["due"] == [] and data["snoozed"][0]["reason"] == "update_due"
    assert cli("snooze", incident_id, "0", repo=repo.root).exit_code == 0
    assert repo.get(incident_id).reminders.snoozed_until is None  # type: ignore[union-attr]
    assert cli("snooze", incident_id, "soon", repo=repo.root).exit_code == 2
    assert cli("snooze", incident_id, "90d", repo=repo.root).exit_code == 2


def test_postmortem_and_action_items_listed(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "r")
    incident_id = open_sev1(repo.root, cli)
    assert cli("resolve", incident_id, "-m", "Fixed.", "--at", "2024-12-12T16:00:00Z", repo=repo.root).exit_code == 0
    data = json.loads(cli("remind", "--now", "2024-12-16T16:00:00Z", "--json", repo=repo.root).stdout)
    assert [(item["reason"], item["due_at"], item["overdue_by_seconds"]) for item in data["due"]] == [
        ("postmortem_due", "2024-12-15T16:00:00Z", 86400)
    ]


def test_invalid_record_is_skipped_not_fatal(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "r")
    open_sev1(repo.root, cli)
    (repo.incidents_dir / "2024-12-13-broken.yaml").write_text("id: [\n", encoding="utf-8")
    result = cli("remind", "--now", "2024-12-12T16:00:00Z", "--json", repo=repo.root)
    assert result.exit_code == 0
    assert len(json.loads(result.stdout)["due"]) == 1
    assert "warning: incidents/2024-12-13-broken.yaml:2: invalid YAML" in result.stderr
    assert "(record skipped; run `incidentctl lint`)" in result.stderr


def test_notify_without_slack_prints_and_says_so(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "r")
    open_sev1(repo.root, cli)
    head = git(repo.root, "rev-parse", "HEAD")
    result = cli("remind", "--now", "2024-12-12T16:00:00Z", "--notify", repo=repo.root)
    assert result.exit_code == 3, result.output  # configured without its token: named, exit 3 (SPEC Additions)
    assert "update due" in result.stdout and "SLACK_BOT_TOKEN is not set" in result.stderr
    assert git(repo.root, "rev-parse", "HEAD") == head  # nothing posted, nothing recorded


def test_watch_usage_errors(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "r")
    assert cli("remind", "5m", repo=repo.root).exit_code == 2
    assert cli("remind", "--watch", "--json", repo=repo.root).exit_code == 2
    assert cli("remind", "--watch", "1s", repo=repo.root).exit_code == 2


def test_watch_loops_until_interrupted(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    repo = make_repo(tmp_path / "r")
    with subprocess.Popen(
        [sys.executable, "-m", "incidentctl", "--repo", str(repo.root), "remind", "--watch", "10s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    ) as process:
        assert process.stdout is not None
        first = process.stdout.readline()
        time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=30)
    assert first.startswith("Nothing due at")
    assert process.returncode == 130
    assert "Traceback" not in err


def test_lifecycle_changes_move_the_deadline(repo) -> None:  # type: ignore[no-untyped-def]
    # The library path: open, update with a promise, resolve; each step changes what is due.
    change = open_incident(repo, "Queue slow", severity="sev2", at=T0)
    incident_id = change.incident.id
    add_update(repo, incident_id, message="Scaling.", next_update="2h", at=T0 + timedelta(minutes=10))
    report = find_reminders(repo.scan(), repo.config, T0 + timedelta(hours=2, minutes=9))
    assert report.due == []
    report = find_reminders(repo.scan(), repo.config, T0 + timedelta(hours=2, minutes=10))
    assert [item.reason for item in report.due] == ["update_due"]
    resolve_incident(repo, incident_id, at=T0 + timedelta(hours=3))
    report = find_reminders(repo.scan(), repo.config, T0 + timedelta(hours=3, minutes=1))
    assert report.due == [] and report.upcoming == []


def test_now_sees_the_incident_as_it_stood_then(config: Config) -> None:
    record = incident(
        entry(T0, next_update_by=T0 + timedelta(minutes=20)),
        entry(T0 + timedelta(minutes=45), "identified"),
        entry(T0 + timedelta(hours=2), "resolved"),
    )
    # At +30m the update promised for +20m was 10 minutes late; the later entries did not exist yet.
    report = find_reminders([record], config, T0 + timedelta(minutes=30))
    assert [(item.reason, item.overdue_by(report.now)) for item in report.due] == [
        ("update_due", timedelta(minutes=10))
    ]
    assert find_reminders([record], config, T0 - timedelta(minutes=1)).upcoming == []
    # After the resolution only the postmortem is owed.
    assert [item.reason for item in reminders_for(record, config)] == ["postmortem_due"]

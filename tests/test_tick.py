"""``tick`` on maintenances at the boundaries (before, at start, during, at end, late), idempotent, switchable,
reminder leads; and two clones of one remote ticking at once (each entry once, each notice posted once)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from incidentctl.durations import isoformat_z, utcnow
from incidentctl.maintenance import due_actions, schedule_maintenance
from incidentctl.model import Entry
from incidentctl.store import Repo
from incidentctl.tick import apply, due_now
from testing import DELETE, FakeSlack, git, make_repo, run_subprocess

START = "2030-06-10T14:00:00Z"
END = "2030-06-10T16:00:00Z"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def schedule(cli: Callable[..., Any], repo: Repo, *extra: str) -> str:
    result = cli(
        "maintenance",
        "schedule",
        "Database upgrade",
        "--start",
        START,
        "--end",
        END,
        "-c",
        "api",
        *extra,
        repo=repo.root,
    )
    assert result.exit_code == 0, result.output
    return str(result.stdout.strip())


def tick(cli: Callable[..., Any], repo: Repo, now: str) -> list[dict[str, Any]]:
    result = cli("tick", "--now", now, "--json", repo=repo.root)
    assert result.exit_code == 0, result.output
    return list(json.loads(result.stdout)["applied"])


def shape(repo: Repo, mid: str) -> list[tuple[str, str, str | None]]:
    return [(isoformat_z(e.at), e.status, e.reminder_before) for e in repo.load(mid).timeline[1:]]


def commits(repo: Repo) -> int:
    return int(git(repo.root, "rev-list", "--count", "HEAD").strip())


def test_whole_life_at_the_boundaries(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    mid = schedule(cli, repo)
    assert tick(cli, repo, "2030-06-09T13:59:59Z") == []  # before the 24h lead
    applied = tick(cli, repo, "2030-06-09T14:00:00Z")
    assert [(a["action"], a["at"]) for a in applied] == [("reminder:24h", "2030-06-09T14:00:00Z")]
    assert tick(cli, repo, "2030-06-09T14:00:00Z") == []  # idempotent
    assert tick(cli, repo, "2030-06-10T12:59:59Z") == []
    assert [a["action"] for a in tick(cli, repo, "2030-06-10T13:00:00Z")] == ["reminder:1h"]
    assert tick(cli, repo, "2030-06-10T13:59:59Z") == []
    before = commits(repo)
    assert [a["action"] for a in tick(cli, repo, START)] == ["start"]
    assert commits(repo) == before + 1
    assert git(repo.root, "log", "-1", "--format=%s").strip() == f"{mid}: maintenance started (tick)"
    assert tick(cli, repo, START) == [] and commits(repo) == before + 1
    assert tick(cli, repo, "2030-06-10T15:00:00Z") == []  # during
    assert [a["action"] for a in tick(cli, repo, END)] == ["complete"]
    assert tick(cli, repo, "2030-06-11T00:00:00Z") == []
    assert shape(repo, mid) == [
        ("2030-06-09T14:00:00Z", "scheduled", "24h"),
        ("2030-06-10T13:00:00Z", "scheduled", "1h"),
        (START, "in_progress", None),
        (END, "completed", None),
    ]
    record = repo.load(mid)
    assert all(entry.automatic for entry in record.timeline[1:])
    assert record.timeline[1].notice == "reminder" and record.timeline[1].public
    assert record.timeline[1].message == "Reminder: this maintenance starts in 24 hours."
    assert record.timeline[3].components == {"api": "under_maintenance"}
    assert record.timeline[4].components == {"api": "operational"}
    assert cli("lint", repo=repo.root).exit_code == 0


def test_late_tick_starts_then_completes_in_two_commits(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    mid = schedule(cli, repo)
    before = commits(repo)
    applied = tick(cli, repo, "2030-06-12T00:00:00Z")
    assert [(a["action"], a["at"]) for a in applied] == [("start", START), ("complete", END)]
    assert commits(repo) == before + 2
    assert shape(repo, mid) == [(START, "in_progress", None), (END, "completed", None)]  # no stale reminders


def test_text_output_and_nothing_due(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    mid = schedule(cli, repo)
    quiet = cli("tick", "--now", "2030-01-01T00:00:00Z", repo=repo.root)
    assert quiet.exit_code == 0 and quiet.stdout == "" and "nothing due" in quiet.stderr
    busy = cli("tick", "--now", START, repo=repo.root)
    assert busy.stdout.strip() == f"{mid}: maintenance started"


def test_switches_per_maintenance(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    manual = schedule(cli, repo, "--no-auto-start")
    assert [a["action"] for a in tick(cli, repo, "2030-06-12T00:00:00Z")] == []  # never started: never completed
    assert repo.load(manual).status == "scheduled"
    assert cli("maintenance", "cancel", manual, repo=repo.root).exit_code == 0
    open_ended = schedule(cli, repo, "--no-auto-complete")
    assert [a["action"] for a in tick(cli, repo, "2030-06-12T00:00:00Z")] == ["start"]
    assert tick(cli, repo, "2030-06-13T00:00:00Z") == []
    assert repo.load(open_ended).status == "in_progress"


def test_config_turns_automation_off_by_default(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(
        tmp_path / "s", config=lambda c: c.update({"maintenance": {"auto_start": False, "remind_before": "2h"}})
    )
    mid = schedule(cli, repo)
    record = repo.load(mid)
    assert not record.auto_start and record.auto_complete
    assert [a["action"] for a in tick(cli, repo, "2030-06-10T13:00:00Z")] == ["reminder:2h"]
    assert tick(cli, repo, START) == []


def test_reminder_leads(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "s")
    config = repo.config
    start = utcnow() + timedelta(hours=3)  # announced 3h ahead: the 24h lead never applies
    change = schedule_maintenance(repo, "Short notice", start=start, end=start + timedelta(hours=1))
    record = change.incident
    assert due_actions(record, config, start - timedelta(hours=2)) == []
    assert [d.key for d in due_actions(record, config, start - timedelta(minutes=30))] == ["reminder:1h"]
    # Several leads due at once (a tick that did not run for a day): the latest only.
    far = utcnow() + timedelta(days=3)
    change = schedule_maintenance(repo, "Long notice", start=far, end=far + timedelta(hours=1))
    record = change.incident
    assert [d.key for d in due_actions(record, config, far - timedelta(hours=25))] == []
    assert [d.key for d in due_actions(record, config, far - timedelta(minutes=10))] == ["reminder:1h"]
    assert due_actions(record, config, far) != [] and [d.key for d in due_actions(record, config, far)] == ["start"]
    # Sent once per window: after it was sent nothing; after a window change the leads apply again.
    at = far - timedelta(hours=23)
    due = due_actions(record, config, at)[0]
    sent = record.model_copy(update={"timeline": [*record.timeline, due.build(record, config, at)]})
    assert due_actions(sent, config, far - timedelta(hours=20)) == []
    later = far + timedelta(days=2)
    moved = Entry(
        at=far - timedelta(hours=20),
        status="scheduled",
        notice="rescheduled",
        scheduled_for=later,
        scheduled_until=later + timedelta(hours=1),
    )
    record = sent.model_copy(
        update={
            "timeline": [*sent.timeline, moved],
            "scheduled_for": later,
            "scheduled_until": later + timedelta(hours=1),
        }
    )
    assert [d.key for d in due_actions(record, config, later - timedelta(hours=23))] == ["reminder:24h"]
    # Re-decided under the lock: a Due found before someone else applied it writes nothing.
    soon = utcnow() + timedelta(minutes=90)
    moment = soon - timedelta(minutes=50)
    record = schedule_maintenance(repo, "Soon", start=soon, end=soon + timedelta(hours=1)).incident
    stale = due_actions(record, config, moment)[0]
    assert stale.key == "reminder:1h"
    assert apply(repo, stale, moment).commit is not None
    again = apply(repo, stale, moment)
    assert again.skipped and again.commit is None
    assert [e.reminder_before for e in repo.load(record.id).timeline] == [None, "1h"]
    # Never once started.
    assert [d.key for d in due_now([repo.load(record.id)], config, soon + timedelta(minutes=1))] == ["start"]


def test_start_never_goes_before_the_last_entry(cli, repo: Repo) -> None:  # type: ignore[no-untyped-def]
    """Scheduled after its start (announced late): the automatic start is dated at the announcement."""
    start = utcnow() - timedelta(minutes=5)
    mid = cli(
        "maintenance", "schedule", "Late", "--start", isoformat_z(start), "--duration", "1h", repo=repo.root
    ).stdout.strip()
    announced = repo.load(mid).timeline[0].at
    now = isoformat_z(utcnow())
    assert [a["action"] for a in tick(cli, repo, now)] == ["start"]
    record = repo.load(mid)
    assert record.status == "in_progress" and record.timeline[-1].at == announced


# -- two schedulers at once ----------------------------------------------------------------------------


@pytest.fixture
def slack_only(slack: FakeSlack) -> FakeSlack:
    return slack


def test_two_clones_ticking_at_once(tmp_path: Path, slack_only: FakeSlack) -> None:
    slack = slack_only
    seed = make_repo(tmp_path / "seed", config={"git.push": True, "channels.x": DELETE, "channels.statuspage": DELETE})
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed.root), str(remote))
    clones = []
    for name in ("cron-a", "cron-b"):
        git(tmp_path, "clone", "-q", str(remote), str(tmp_path / name))
        clones.append(tmp_path / name)
    made = run_subprocess(
        "maintenance", "schedule", "Database upgrade", "--start", START, "--end", END, "-c", "api", cwd=clones[0]
    )
    assert made.returncode == 0, made.stderr
    mid = made.stdout.strip()
    for clone in clones[1:]:
        git(clone, "pull", "-q")

    failures: list[str] = []
    started = time.monotonic()
    for moment in ("2030-06-09T15:00:00Z", "2030-06-10T13:10:00Z", START, "2030-06-10T17:00:00Z"):

        def run(clone: Path, moment: str = moment) -> None:
            result = run_subprocess("tick", "--now", moment, "--publish", cwd=clone, timeout=180)
            if result.returncode != 0:
                failures.append(f"{clone.name} at {moment}: exit {result.returncode}: {result.stderr}")

        threads = [threading.Thread(target=run, args=(clone,)) for clone in clones]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    elapsed = time.monotonic() - started
    assert not failures, failures

    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(remote), str(fresh))
    record = yaml.safe_load((fresh / "incidents" / f"{mid}.yaml").read_text(encoding="utf-8"))
    timeline = [(entry["at"], entry["status"], entry.get("reminder_before")) for entry in record["timeline"][1:]]
    assert timeline == [
        (utc("2030-06-09T14:00:00Z"), "scheduled", "24h"),
        (utc("2030-06-10T13:00:00Z"), "scheduled", "1h"),
        (utc(START), "in_progress", None),
        (utc(END), "completed", None),
    ], timeline
    assert all(entry["deliveries"]["slack"]["state"] == "delivered" for entry in record["timeline"])
    posted = [call for call in slack.calls("chat.postMessage")]
    assert len(slack.messages) == 5 and len(posted) == 5, [m.get("text") for m in slack.messages]
    refs = [entry["deliveries"]["slack"]["ref"] for entry in record["timeline"]]
    assert len(set(refs)) == 5  # one Slack message per entry
    lint = run_subprocess("lint", cwd=fresh)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    print(f"\ntwo clones, four moments, tick --publish at once: {elapsed:.1f}s")


def test_the_same_tick_in_two_offline_clones_merges_to_one_entry(tmp_path: Path) -> None:
    """Both clones apply the start before either pushes (b wrote a note first, so its commits do not
    replay as they are): the push rebases through the merge driver, which unions the identical
    entries (same time, same text) into one."""
    from incidentctl import gitops
    from incidentctl.lifecycle import add_update
    from incidentctl.tick import run

    seed = make_repo(tmp_path / "seed", config={"git.push": True})
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed.root), str(remote))
    a, b = tmp_path / "a", tmp_path / "b"
    for clone in (a, b):
        git(tmp_path, "clone", "-q", str(remote), str(clone))
    made = run_subprocess("maintenance", "schedule", "Upgrade", "--start", START, "--end", END, "-c", "api", cwd=a)
    assert made.returncode == 0, made.stderr
    mid = made.stdout.strip()
    git(b, "pull", "-q")
    for clone in (a, b):
        repo = Repo.open(clone)
        repo.config = repo.config.model_copy(update={"git": repo.config.git.model_copy(update={"push": False})})
        if clone == b:
            add_update(repo, mid, message="Runbook checked.", internal=True)
        report = run(repo, utc("2030-06-10T14:30:00Z"))
        assert [item.key for item in report.applied] == ["start"]
    gitops.push(a, "origin")
    gitops.push(b, "origin")  # rejected, fetch, rebase: the merge driver meets the same entry on both sides
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(remote), str(fresh))
    record = Repo.open(fresh).load(mid)
    assert [(entry.status, entry.message) for entry in record.timeline] == [
        ("scheduled", "Scheduled maintenance."),
        ("scheduled", "Runbook checked."),
        ("in_progress", "Maintenance has started."),
    ]
    log = git(fresh, "log", "--format=%s")
    assert log.count(f"{mid}: maintenance started (tick)") == 1  # b's became empty in the rebase: dropped
    assert f"{mid}: internal note" in log
    lint = run_subprocess("lint", cwd=fresh)
    assert lint.returncode == 0, lint.stdout + lint.stderr

"""Holding updates (SPEC "Review through git, and no silence"): when a promise is ``after`` late and nobody
posted, ``tick`` writes one public "no new information" entry (``automatic``, ``notice: holding``, the status
unchanged, a new promise of ``update_every``), at a time fixed by the record (promise + after), so never twice
for one promise, not when a human updated or snoozed, and two tickers at once post it once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from incidentctl import tick
from incidentctl.durations import isoformat_z, utcnow
from incidentctl.lifecycle import add_update, open_incident
from incidentctl.remind import snooze
from incidentctl.store import Repo
from testing import FakeSlack, git, make_repo

SEV2 = {"name": "Major", "update_every": "60m", "holding_update": {"after": "10m"}}


def _setup(tmp_path: Path) -> tuple[Repo, str, datetime]:
    """An open sev2 incident opened 3 hours ago: promise at +1h, holding update due at +1h10m."""
    repo = make_repo(tmp_path / "r", config={"severities.sev2": SEV2})
    start = (utcnow() - timedelta(hours=3)).replace(microsecond=0)
    change = open_incident(
        repo,
        "API errors",
        severity="sev2",
        components={"api": "partial_outage"},
        message="Investigating.",
        at=start,
        commander="<@U0COMMANDER>",
    )
    return repo, change.incident.id, start + timedelta(hours=1, minutes=10)


def _applied(report: tick.TickReport) -> list[tick.Applied]:
    return [item for item in report.applied if not item.skipped]


def test_holding_update_at_the_boundary_and_once_per_promise(tmp_path: Path) -> None:
    repo, incident_id, due = _setup(tmp_path)
    assert not _applied(tick.run(repo, due - timedelta(seconds=1)))  # just before: nothing

    (done,) = _applied(tick.run(repo, due))
    assert done.key == f"holding:{isoformat_z(due - timedelta(minutes=10))}"
    incident = repo.load(incident_id)
    entry = incident.timeline[-1]
    assert (entry.at, entry.status, entry.visibility, entry.automatic, entry.notice) == (
        due,
        "investigating",
        "public",
        True,
        "holding",
    )
    assert entry.next_update_by == due + timedelta(hours=1)
    assert entry.components == {} and incident.components == {"api": "partial_outage"}
    assert "API" in entry.message and "no new information" in entry.message
    assert "next update by" in entry.message.lower()
    assert set(entry.deliveries) == set(repo.config.configured_channels())

    commits = git(repo.root, "rev-list", "--count", "HEAD")
    assert not _applied(tick.run(repo, due + timedelta(minutes=5)))  # the same promise: never twice
    assert git(repo.root, "rev-list", "--count", "HEAD") == commits

    # The holding entry's own promise lapses too: the next one follows the cadence.
    (second,) = _applied(tick.run(repo, due + timedelta(hours=1, minutes=10)))
    assert second.key == f"holding:{isoformat_z(due + timedelta(hours=1))}"


def test_a_late_scheduler_posts_one_holding_update_not_a_burst(tmp_path: Path) -> None:
    repo, incident_id, due = _setup(tmp_path)
    late = due + timedelta(hours=1, minutes=40)  # the scheduler was down for more than a cycle
    assert len(_applied(tick.run(repo, late))) == 1
    entry = repo.load(incident_id).timeline[-1]
    assert entry.at == due + timedelta(hours=1) and entry.next_update_by is not None and entry.next_update_by > late
    assert not _applied(tick.run(repo, late))


def test_a_human_update_just_before_means_no_holding_update(tmp_path: Path) -> None:
    repo, incident_id, due = _setup(tmp_path)
    add_update(repo, incident_id, message="We found the cause.", status="identified", at=due - timedelta(minutes=1))
    assert not _applied(tick.run(repo, due))
    assert not _applied(tick.run(repo, due + timedelta(minutes=30)))
    assert [entry.notice for entry in repo.load(incident_id).timeline] == [None, None]


def test_an_internal_note_does_not_count_as_an_update(tmp_path: Path) -> None:
    repo, incident_id, due = _setup(tmp_path)
    add_update(repo, incident_id, message="db failover", internal=True, at=due - timedelta(minutes=1))
    assert len(_applied(tick.run(repo, due))) == 1


def test_a_snooze_holds_it_back_until_it_ends(tmp_path: Path) -> None:
    repo, incident_id, due = _setup(tmp_path)
    snooze(repo, incident_id, "30m", now=due - timedelta(minutes=5))  # snoozed until due + 25m
    assert not _applied(tick.run(repo, due))
    assert not _applied(tick.run(repo, due + timedelta(minutes=24)))
    (done,) = _applied(tick.run(repo, due + timedelta(minutes=25)))
    assert repo.load(incident_id).timeline[-1].at == due + timedelta(minutes=25)
    assert done.incident_id == incident_id


def test_off_unless_configured_and_never_after_resolution(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    start = utcnow() - timedelta(hours=5)
    change = open_incident(repo, "Slow", severity="sev2", message="Looking.", at=start)
    assert not _applied(tick.run(repo, utcnow()))
    repo2, incident_id, due = _setup(tmp_path / "b")
    from incidentctl.lifecycle import resolve_incident

    resolve_incident(repo2, incident_id, at=due - timedelta(minutes=30))
    assert not _applied(tick.run(repo2, due))
    assert change.incident.is_open


def test_remind_says_when_the_holding_update_goes_out(tmp_path: Path, cli: Any) -> None:
    repo, _incident_id, due = _setup(tmp_path)
    before = cli("remind", "--now", isoformat_z(due - timedelta(minutes=30)), repo=repo.root)
    assert before.exit_code == 0 and "holding update at" in before.stdout
    data = cli("remind", "--json", "--now", isoformat_z(due - timedelta(minutes=30)), repo=repo.root)
    (upcoming,) = json.loads(data.stdout)["upcoming"]
    assert upcoming["holding_update_at"] == isoformat_z(due)


def test_two_tickers_at_once_post_one_holding_update(tmp_path: Path, slack: FakeSlack) -> None:
    def edit(config: Any) -> None:
        config["git"]["push"] = True
        del config["channels"]["statuspage"]
        del config["channels"]["x"]
        config["severities"]["sev2"] = SEV2

    seed = make_repo(tmp_path / "seed", config=edit)
    start = (utcnow() - timedelta(hours=3)).replace(microsecond=0)
    change = open_incident(
        seed, "API errors", severity="sev2", components={"api": "partial_outage"}, message="Hi.", at=start,
        commander="<@U0COMMANDER>",
    )  # fmt: skip
    incident_id = change.incident.id
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed.root), str(remote))
    clones = [tmp_path / name for name in ("one", "two")]
    for clone in clones:
        git(tmp_path, "clone", "-q", str(remote), str(clone))
    now = isoformat_z(start + timedelta(hours=1, minutes=12))
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "incidentctl", "tick", "--now", now, "--publish"],
            cwd=clone,
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for clone in clones
    ]
    results = [process.communicate(timeout=240) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], results
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(remote), str(fresh))
    record = yaml.safe_load((fresh / "incidents" / f"{incident_id}.yaml").read_text(encoding="utf-8"))
    holding = [entry for entry in record["timeline"] if entry.get("notice") == "holding"]
    assert len(holding) == 1 and holding[0]["automatic"] is True
    # The root message (the first entry, edited to the latest state) aside: one reply with the holding update.
    posted = [m for m in slack.messages if m.get("thread_ts") and "no new information" in (m.get("text") or "")]
    assert len(posted) == 1, [message.get("text") for message in slack.messages]
    footer = " ".join(
        element["text"] for block in posted[0]["blocks"] if block["type"] == "context" for element in block["elements"]
    )
    assert "cc <@U0COMMANDER>" in footer


def test_lint_renders_the_holding_template(tmp_path: Path) -> None:
    from testing import invoke_cli

    repo = make_repo(tmp_path / "status")
    (repo.root / "templates").mkdir(exist_ok=True)
    (repo.root / "templates" / "holding.txt.j2").write_text("Still on it. {{ no_such_helper() }}\n", encoding="utf-8")
    result = invoke_cli("lint", repo=repo.root)
    assert result.exit_code == 1
    assert "templates/holding.txt.j2:1:" in result.output and "holding update" in result.output
    (repo.root / "templates" / "holding.txt.j2").write_text("Still on it; next update by {{ next_update_by }}.\n")
    assert "holding.txt.j2" not in invoke_cli("lint", repo=repo.root).output

"""Working as a team: exactly once across clones of one bare remote (``git.push: true``).

Real clones, the real CLI as processes started together (random start offsets), fake Slack and X on
127.0.0.1, counting what the fakes received: every public entry exactly once per channel, the Slack
root edited to the incident's final status, exit 0 for every clone. Also: a claimant killed after
its claim push is taken over after the lease (reconciling through the channel's lookup), two
schedulers never double a reminder, two ``new`` with the same title give two incidents, stranded
commits are pushed, and an unusable channel is named (exit 3).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from incidentctl import gitops
from incidentctl.lifecycle import add_update, open_incident
from incidentctl.merge import merge_records
from incidentctl.store import Repo
from testing import DELETE, FakeSlack, FakeX, git, make_repo, run_subprocess, sigkill

ITERATIONS = 15
SLOW_ITERATIONS = 60


def team(tmp_path: Path, *names: str, lease: str | None = None) -> tuple[Path, list[Path]]:
    """A bare remote (Slack and X configured, git.push on) and one clone per responder."""

    def edit(config: Any) -> None:
        config["git"]["push"] = True
        del config["channels"]["statuspage"]
        if lease is not None:
            config["git"]["claim_lease"] = lease

    seed = make_repo(tmp_path / "seed", config=edit)
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed.root), str(remote))
    clones = []
    for name in names:
        git(tmp_path, "clone", "-q", str(remote), str(tmp_path / name))
        clones.append(tmp_path / name)
    return remote, clones


def start(root: Path, *args: str, delay: float = 0.0) -> subprocess.Popen[str]:
    """The real CLI, started after ``delay`` seconds (a shell's sleep: processes start together)."""
    command = [sys.executable, "-m", "incidentctl", *args]
    if delay:
        command = ["sh", "-c", f'sleep {delay:.3f}; exec "$@"', "sh", *command]
    return subprocess.Popen(
        command, cwd=root, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(processes: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    results = []
    for process in processes:
        out, err = process.communicate(timeout=240)
        results.append((process.returncode, out, err))
    return results


def remote_incident(tmp_path: Path, remote: Path, incident_id: str) -> dict[str, Any]:
    fresh = tmp_path / f"fresh-{time.monotonic_ns()}"
    git(tmp_path, "clone", "-q", str(remote), str(fresh))
    return dict(yaml.safe_load((fresh / "incidents" / f"{incident_id}.yaml").read_text(encoding="utf-8")))


def slack_messages(slack: FakeSlack, incident_id: str) -> list[dict[str, Any]]:
    return [
        m for m in slack.messages if (m.get("metadata") or {}).get("event_payload", {}).get("incident") == incident_id
    ]


def assert_exactly_once(
    tmp_path: Path, remote: Path, incident_id: str, tag: str, slack: FakeSlack, x: FakeX
) -> dict[str, int]:
    """Every public entry once on Slack and once on X; the Slack root shows the final status."""
    record = remote_incident(tmp_path, remote, incident_id)
    public = [entry for entry in record["timeline"] if entry.get("visibility", "public") == "public"]
    for entry in public:
        for channel in ("slack", "x"):
            assert entry["deliveries"][channel]["state"] == "delivered", (incident_id, entry, channel)
    messages = slack_messages(slack, incident_id)
    keys = Counter(m["metadata"]["event_payload"]["entry"] for m in messages)
    assert len(messages) == len(public), f"Slack got {len(messages)} messages for {len(public)} entries: {keys}"
    assert all(count == 1 for count in keys.values()), keys
    roots = [m for m in messages if m.get("thread_ts") is None]
    assert len(roots) == 1, roots
    assert roots[0]["ts"] == public[0]["deliveries"]["slack"]["ref"]
    final_status = public[-1]["status"]
    if len(public) > 1:
        assert final_status.lower() in roots[0]["text"].lower(), (final_status, roots[0]["text"])
    posts = [post for post in x.posts if tag in post["text"]]
    assert len(posts) == len(public), [post["text"] for post in posts]
    assert len({post["text"] for post in posts}) == len(posts)
    return {"slack": len(messages), "x": len(posts)}


def open_and_push(root: Path, title: str, tag: str, at: str) -> str:
    repo = Repo.open(root)
    change = open_incident(repo, title, severity="sev2", message=f"Investigating {tag}.", at=_ts(at))
    assert change.push_error is None
    return change.incident.id


def _ts(text: str) -> Any:
    from incidentctl.durations import parse_timestamp

    return parse_timestamp(text)


def race(tmp_path: Path, slack: FakeSlack, x: FakeX, clones: list[Path], iterations: int, seed: int) -> dict[str, Any]:
    """Each iteration opens an incident (and adds an entry) from the first clone, then every clone
    runs ``publish`` — or, every other iteration, ``update --publish`` with its own entry — at once."""
    rng = random.Random(seed)
    remote = tmp_path / "remote.git"
    figures: Counter[str] = Counter()
    for number in range(iterations):
        tag = f"t{seed}x{number}"
        incident_id = open_and_push(clones[0], f"Outage {tag}", tag, f"2024-12-{1 + number % 27:02d}T00:00:00Z")
        add_update(Repo.open(clones[0]), incident_id, message=f"Identified {tag}.", status="identified")
        processes = []
        for position, clone in enumerate(clones):
            delay = rng.uniform(0, 0.3)
            if number % 2:
                status = ("monitoring", "identified", "monitoring")[position % 3]
                args = ("update", incident_id, "-m", f"Clone {position} {tag}.", "--status", status, "--publish")
            else:
                args = ("publish",)
            processes.append(start(clone, *args, delay=delay))
        results = finish(processes)
        for code, out, err in results:
            assert code == 0, f"iteration {number}: exit {code}\n{out}\n{err}"
            assert "Traceback" not in err
        try:
            counted = assert_exactly_once(tmp_path, remote, incident_id, tag, slack, x)
        except AssertionError as exc:  # what each clone said, and the remote's history, to find out why
            said = "\n".join(f"clone {n}: {out.strip()} | {err.strip()}" for n, (_, out, err) in enumerate(results))
            history = git(tmp_path, "--git-dir", str(remote), "log", "--format=%h %s", "-15")
            raise AssertionError(f"iteration {number}: {exc}\n{said}\nremote:\n{history}") from None
        figures.update(counted)
        figures["iterations"] += 1
    return dict(figures)


def test_two_clones_publish_at_once_send_every_entry_exactly_once(
    tmp_path: Path, slack: FakeSlack, x: FakeX, capsys: pytest.CaptureFixture[str]
) -> None:
    _remote, clones = team(tmp_path, "alice", "bob")
    figures = race(tmp_path, slack, x, clones, ITERATIONS, seed=1)
    with capsys.disabled():
        print(f"\nteam race (2 clones): {figures}")
    assert figures["iterations"] == ITERATIONS


def test_three_clones_publish_at_once_send_every_entry_exactly_once(
    tmp_path: Path, slack: FakeSlack, x: FakeX, capsys: pytest.CaptureFixture[str]
) -> None:
    _remote, clones = team(tmp_path, "alice", "bob", "carol")
    figures = race(tmp_path, slack, x, clones, 6, seed=2)
    with capsys.disabled():
        print(f"\nteam race (3 clones): {figures}")


@pytest.mark.slow
def test_team_race_many_iterations(
    tmp_path: Path, slack: FakeSlack, x: FakeX, capsys: pytest.CaptureFixture[str]
) -> None:
    _remote, clones = team(tmp_path, "alice", "bob", "carol")
    figures = race(tmp_path, slack, x, clones, SLOW_ITERATIONS, seed=3)
    with capsys.disabled():
        print(f"\nteam race (3 clones, slow): {figures}")


def remote_subject(remote: Path) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(remote), "log", "-1", "--format=%s"], capture_output=True, text=True, check=False
    ).stdout.strip()


def wait_for_claim_push(remote: Path, process: subprocess.Popen[str]) -> float:
    """Wait until ``process``'s claim commit is on the remote; returns a deadline 60 s from the start."""
    deadline = time.monotonic() + 60
    while not remote_subject(remote).startswith("publish: claim"):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return deadline


@pytest.mark.parametrize("stored", [False, True])
def test_killed_claimant_is_taken_over_after_the_lease_without_a_double(
    tmp_path: Path, slack: FakeSlack, x: FakeX, stored: bool
) -> None:
    remote, (alice, bob) = team(tmp_path, "alice", "bob", lease="10s")
    incident_id = open_and_push(alice, "Killed claimant", "killed", "2024-12-12T00:00:00Z")
    if not stored:
        slack.method_latency["auth.test"] = 30  # Alice never gets to send
    else:
        slack.method_latency["chat.postMessage"] = 30  # Slack stores it; Alice never records it
    process = start(alice, "publish", "--channel", "slack")
    deadline = wait_for_claim_push(remote, process)
    if stored:
        while not slack_messages(slack, incident_id):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    claimed_at = time.monotonic()
    sigkill(process)
    slack.method_latency.clear()
    # Within the lease: Bob leaves Alice's claim alone.
    early = run_subprocess("publish", "--channel", "slack", cwd=bob)
    assert early.returncode == 0, early.stderr
    assert "being sent by" in early.stderr
    assert len(slack_messages(slack, incident_id)) == (1 if stored else 0)
    assert time.monotonic() - claimed_at < 10, "the machine is too slow for this lease"
    time.sleep(max(0.0, 10.5 - (time.monotonic() - claimed_at)))
    late = run_subprocess("publish", "--channel", "slack", cwd=bob)
    assert late.returncode == 0, late.stderr
    assert ("found from an interrupted run" in late.stdout) == stored, late.stdout
    assert len(slack_messages(slack, incident_id)) == 1
    record = remote_incident(tmp_path, remote, incident_id)
    delivery = record["timeline"][0]["deliveries"]["slack"]
    assert delivery["state"] == "delivered"
    assert delivery["ref"] == slack_messages(slack, incident_id)[0]["ts"]


def test_claim_is_one_commit_per_run_and_costs_one_push(tmp_path: Path, slack: FakeSlack, x: FakeX) -> None:
    remote, (alice,) = team(tmp_path, "alice")
    first = open_and_push(alice, "One", "one", "2024-12-12T00:00:00Z")
    second = open_and_push(alice, "Two", "two", "2024-12-13T00:00:00Z")
    before = git(alice, "rev-parse", "HEAD").strip()
    result = run_subprocess("publish", cwd=alice)
    assert result.returncode == 0, result.stderr
    subjects = git(alice, "log", "--format=%s", f"{before}..HEAD").splitlines()
    claims = [subject for subject in subjects if subject.startswith("publish: claim")]
    assert len(claims) == 1 and "claim 4 sends" in claims[0], subjects
    assert {first, second} <= {subject.split(":")[0] for subject in subjects if "published" in subject}
    assert git(alice, "status", "--porcelain") == ""
    assert (alice / ".git" / "incidentctl" / "clone-id").read_text().strip() in claims[0]
    # The claim cost: claim rounds against a local bare remote.
    from incidentctl.delivery.claims import claim_round
    from incidentctl.delivery.plan import plan_entries

    third = open_and_push(alice, "Three", "three", "2024-12-14T00:00:00Z")
    repo = Repo.open(alice)
    timings = []
    for _ in range(3):
        time.sleep(1.05)  # claims are stored to the second: a re-claim in the same second changes nothing
        started = time.perf_counter()
        outcome = claim_round(repo, lambda: [repo.load(third)], ["slack", "x"], lambda i, c: plan_entries(i, c, True))
        timings.append(time.perf_counter() - started)
        assert outcome.claim_commit is not None
    print(f"claim cost against a local bare remote: {min(timings) * 1000:.0f} ms (best of 3)")
    assert remote_subject(remote).startswith("publish: claim")


def publish_behind_a_killed_claimant(
    tmp_path: Path, slack: FakeSlack, tag: str, lease: str | None = None
) -> tuple[Path, Path, str, subprocess.CompletedProcess[str], float]:
    """Alice claims her first entry for Slack, pushes the claim and is killed mid-send; Bob adds an entry
    (which must follow hers in the Slack thread) and publishes. Returns remote, Bob's clone, the incident,
    Bob's publish and how long it took."""
    remote, (alice, bob) = team(tmp_path, "alice", "bob", lease=lease)
    incident_id = open_and_push(alice, f"Claimed {tag}", tag, "2024-12-12T00:00:00Z")
    slack.method_latency["chat.postMessage"] = 30
    process = start(alice, "publish", "--channel", "slack")
    wait_for_claim_push(remote, process)
    sigkill(process)
    slack.method_latency.clear()
    git(bob, "pull", "-q")
    change = add_update(Repo.open(bob), incident_id, message=f"Identified {tag}.", status="identified")
    assert change.push_error is None
    started = time.monotonic()
    result = run_subprocess("publish", "--channel", "slack", cwd=bob, timeout=180)
    return remote, bob, incident_id, result, time.monotonic() - started


def test_a_later_entry_waits_out_a_live_claim_instead_of_being_left_silently(
    tmp_path: Path, slack: FakeSlack, x: FakeX
) -> None:
    """Bob's new entry must follow Alice's claimed first entry on Slack, and Alice was killed after her claim
    push. Bob's publish waits (its waiting rounds are not counted as lost claim pushes), takes the first entry
    over once the lease runs out (asking Slack first) and sends both: exit 0 and nothing left pending. It used
    to stop after 12 waiting rounds (a few seconds) with exit 0 and the new entry silently unsent."""
    remote, _bob, incident_id, result, seconds = publish_behind_a_killed_claimant(tmp_path, slack, "wait", "15s")
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert seconds > 5, "took over before the lease ran out"
    messages = slack_messages(slack, incident_id)
    assert len(messages) == 2, messages
    record = remote_incident(tmp_path, remote, incident_id)
    assert [entry["deliveries"]["slack"]["state"] for entry in record["timeline"]] == ["delivered", "delivered"]


@pytest.mark.slow
def test_a_later_entry_behind_a_live_claim_waits_a_minute_then_is_reported_pending(
    tmp_path: Path, slack: FakeSlack, x: FakeX
) -> None:
    """The README's promise: an entry that must follow another clone's in-flight send waits for it up to a
    minute; if the delivery never shows up (Alice killed, her claim still inside the 10-minute lease), Bob's
    entry stays pending, Bob is told and exits 3, and nothing of his reaches Slack."""
    _remote, bob, incident_id, result, seconds = publish_behind_a_killed_claimant(tmp_path, slack, "stuck")
    assert result.returncode == 3, (result.returncode, result.stdout, result.stderr)
    assert "waited" in result.stderr and "pending" in result.stdout + result.stderr
    assert seconds >= 55, seconds
    assert not any("Identified stuck." in str(message) for message in slack_messages(slack, incident_id))
    record = yaml.safe_load((bob / "incidents" / f"{incident_id}.yaml").read_text(encoding="utf-8"))
    assert record["timeline"][1]["deliveries"]["slack"]["state"] == "pending"


def test_claims_rejected_every_round_are_reported_pending_not_skipped(
    tmp_path: Path, slack: FakeSlack, x: FakeX
) -> None:
    """Another clone pushing first every time (a pre-push hook in alice's clone makes bob push just before
    each of alice's pushes): alice gives up claiming, says so, reports every entry pending and exits 3 —
    never exit 0 with entries silently left behind. The next publish sends each exactly once."""
    _remote, (alice, bob) = team(tmp_path, "alice", "bob")
    incident_id = open_and_push(alice, "Busy remote", "busy", "2024-12-12T00:00:00Z")
    hook = alice / ".git" / "hooks" / "pre-push"
    hook.write_text(
        "#!/bin/sh\n"
        "unset GIT_DIR GIT_INDEX_FILE GIT_WORK_TREE\n"
        f"cd '{bob}' || exit 1\n"
        'git fetch -q origin && git reset -q --hard "origin/$(git rev-parse --abbrev-ref HEAD)" || exit 1\n'
        "date +%s%N >> noise.txt && git add noise.txt && git commit -qm noise && git push -q origin HEAD || exit 1\n"
        "exit 0\n",
        encoding="utf-8",
    )
    hook.chmod(0o755)
    result = run_subprocess("publish", cwd=alice)
    assert result.returncode == 3, (result.returncode, result.stdout, result.stderr)
    assert "gave up claiming" in result.stderr
    assert "claim pushes were rejected" in result.stdout + result.stderr
    assert slack_messages(slack, incident_id) == [] and [p for p in x.posts if "busy" in p["text"]] == []
    pushes = int(git(bob, "rev-list", "--count", "HEAD", "--", "noise.txt").strip())
    assert pushes >= 12, pushes  # every claim round was beaten by a push of bob's
    hook.unlink()
    again = run_subprocess("publish", cwd=alice)
    assert again.returncode == 0, again.stderr
    assert len(slack_messages(slack, incident_id)) == 1
    assert len([p for p in x.posts if "busy" in p["text"]]) == 1


def test_merge_driver_settles_claims() -> None:
    base = _record({"state": "pending"})
    early = _record({"state": "pending", "claim": {"by": "aaa alice@h", "at": "2024-12-12T00:00:01Z"}})
    late = _record({"state": "pending", "claim": {"by": "bbb bob@h", "at": "2024-12-12T00:00:02Z"}})
    delivered = _record({"state": "delivered", "ref": "1.1", "attempts": 1})
    failed = _record({"state": "failed", "attempts": 1, "error": "503"})
    for ours, theirs in ((early, late), (late, early)):
        merged = yaml.safe_load(merge_records(base, ours, theirs).text)
        assert merged["timeline"][0]["deliveries"]["slack"]["claim"]["by"] == "aaa alice@h"
    for ours, theirs in ((early, delivered), (delivered, late)):
        merged = yaml.safe_load(merge_records(base, ours, theirs).text)
        assert merged["timeline"][0]["deliveries"]["slack"]["state"] == "delivered"
    # A failure releases the claim: against an unchanged claim (the base), the release wins.
    merged = yaml.safe_load(merge_records(early, failed, early).text)
    assert merged["timeline"][0]["deliveries"]["slack"]["state"] == "failed"


def _record(slack: dict[str, Any]) -> str:
    return yaml.safe_dump(
        {
            "schema": 1,
            "id": "2024-12-12-api-down",
            "title": "API down",
            "severity": "sev1",
            "timeline": [
                {
                    "at": "2024-12-12T00:00:00Z",
                    "status": "investigating",
                    "message": "x",
                    "deliveries": {"slack": slack},
                }
            ],
        }
    )


def test_two_new_with_the_same_title_are_two_incidents(tmp_path: Path) -> None:
    """Deterministic: Bob committed the same id offline; his push renames his record before rebasing."""
    remote, (alice, bob) = team(tmp_path, "alice", "bob")
    assert (
        run_subprocess(
            "new", "API down", "--severity", "sev1", "-m", "Alice.", "--at", "2024-12-12T00:00:00Z", cwd=alice
        ).returncode
        == 0
    )
    bob_repo = Repo.open(bob)
    bob_repo.config = bob_repo.config.model_copy(update={"git": bob_repo.config.git.model_copy(update={"push": False})})
    change = open_incident(bob_repo, "API down", severity="sev1", message="Bob.", at=_ts("2024-12-12T00:01:00Z"))
    assert change.incident.id == "2024-12-12-api-down"
    renamed = gitops.push(bob, "origin")
    assert renamed == {"2024-12-12-api-down": "2024-12-12-api-down-2"}
    fresh = tmp_path / "fresh"
    git(tmp_path, "clone", "-q", str(remote), str(fresh))
    one = yaml.safe_load((fresh / "incidents" / "2024-12-12-api-down.yaml").read_text())
    two = yaml.safe_load((fresh / "incidents" / "2024-12-12-api-down-2.yaml").read_text())
    assert [entry["message"] for entry in one["timeline"]] == ["Alice."]
    assert [entry["message"] for entry in two["timeline"]] == ["Bob."]
    assert two["id"] == "2024-12-12-api-down-2"


def test_two_new_at_the_same_moment_print_distinct_ids(tmp_path: Path) -> None:
    remote, clones = team(tmp_path, "alice", "bob")
    rng = random.Random(5)
    for number in range(4):
        processes = [
            start(
                clone,
                "new",
                f"API down {number}",
                "--severity",
                "sev1",
                "-m",
                f"{clone.name}.",
                delay=rng.uniform(0, 0.2),
            )
            for clone in clones
        ]
        results = finish(processes)
        ids = [out.strip() for _code, out, _err in results]
        assert all(code == 0 for code, _out, _err in results), results
        assert len(set(ids)) == 2, results
        for (_code, _out, err), incident_id in zip(results, ids, strict=True):
            if incident_id.endswith("-2"):
                assert "renamed" in err or "-2" in incident_id
        fresh = tmp_path / f"fresh{number}"
        git(tmp_path, "clone", "-q", str(remote), str(fresh))
        for incident_id in ids:
            record = yaml.safe_load((fresh / "incidents" / f"{incident_id}.yaml").read_text())
            assert record["id"] == incident_id
            assert len(record["timeline"]) == 1, record


def test_two_schedulers_never_double_a_reminder(tmp_path: Path, slack: FakeSlack) -> None:
    _remote, (alice, bob) = team(tmp_path, "alice", "bob")
    incident_id = open_and_push(alice, "Reminded", "reminded", "2024-12-12T00:00:00Z")
    git(bob, "pull", "-q")
    for number in range(4):
        now = f"2024-12-12T0{2 + number}:00:00Z"  # each hour a new deadline passes (sev2: 60m)
        before = len(slack.calls("chat.postMessage"))
        processes = [
            start(clone, "remind", "--notify", "--now", now, delay=random.uniform(0, 0.2)) for clone in (alice, bob)
        ]
        for code, out, err in finish(processes):
            assert code == 0, (out, err)
        posted = slack.calls("chat.postMessage")[before:]
        assert len(posted) == 1, (
            now,
            [(call["params"].get("text"), call["params"].get("thread_ts")) for call in posted],
        )
    assert incident_id


def test_a_stale_scheduler_syncs_before_deciding(tmp_path: Path, slack: FakeSlack) -> None:
    _remote, (alice, bob) = team(tmp_path, "alice", "bob")
    incident_id = open_and_push(alice, "Snoozed", "snoozed", "2024-12-12T00:00:00Z")
    git(bob, "pull", "-q")
    assert run_subprocess("snooze", incident_id, "2h", cwd=alice).returncode == 0  # snoozes from now (real time)
    # Bob has not pulled the snooze: the sync before deciding shows it.
    result = run_subprocess("remind", "--notify", cwd=bob)
    assert result.returncode == 0, result.stderr
    assert slack.calls("chat.postMessage") == []


def test_a_failed_reminder_post_releases_its_claim_and_says_so(tmp_path: Path, slack: FakeSlack) -> None:
    remote, (alice,) = team(tmp_path, "alice")
    incident_id = open_and_push(alice, "Failing", "failing", "2024-12-12T00:00:00Z")
    slack.error_next("channel_not_found", method="chat.postMessage")
    failed = run_subprocess("remind", "--notify", "--now", "2024-12-12T03:00:00Z", cwd=alice)
    assert failed.returncode == 3, failed.stderr
    assert "claim released" in failed.stderr
    record = remote_incident(tmp_path, remote, incident_id)
    assert not (record.get("reminders") or {}).get("notified")
    again = run_subprocess("remind", "--notify", "--now", "2024-12-12T03:00:00Z", cwd=alice)
    assert again.returncode == 0, again.stderr
    assert len(slack.messages) == 1  # the refused attempt stored nothing; the retry posted once


def test_publish_and_remind_push_what_a_failed_push_stranded(tmp_path: Path) -> None:
    remote, (alice,) = team(tmp_path, "alice")
    git(alice, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    stranded = run_subprocess("new", "Stranded", "--severity", "sev3", "-m", "Hi.", cwd=alice)
    assert stranded.returncode == 4, stranded.stderr
    git(alice, "remote", "set-url", "origin", str(remote))
    head = git(alice, "rev-parse", "HEAD").strip()
    result = run_subprocess("publish", cwd=alice)  # nothing to send (no secrets: exit 3, named)
    assert result.returncode == 3, result.stderr
    assert git(alice, "ls-remote", "origin", "refs/heads/main").split()[0] == head
    # remind --notify (no Slack configured) pushes too
    git(alice, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    assert run_subprocess("update", stranded.stdout.strip(), "-m", "More.", cwd=alice).returncode == 4
    git(alice, "remote", "set-url", "origin", str(remote))
    head = git(alice, "rev-parse", "HEAD").strip()
    reminded = run_subprocess("remind", "--notify", cwd=alice)
    assert reminded.returncode == 3, reminded.stderr  # Slack configured without its token: named
    assert git(alice, "ls-remote", "origin", "refs/heads/main").split()[0] == head


def test_a_failed_push_during_remind_notify_is_reported(tmp_path: Path) -> None:
    _remote, (alice,) = team(tmp_path, "alice")
    git(alice, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    assert run_subprocess("new", "Stranded", "--severity", "sev3", "-m", "Hi.", cwd=alice).returncode == 4
    reminded = run_subprocess("remind", "--notify", cwd=alice)
    assert reminded.returncode == 4, reminded.stderr
    assert "push" in reminded.stderr


def test_a_push_that_landed_before_the_connection_dropped_is_not_called_local(tmp_path: Path) -> None:
    _remote, (alice,) = team(tmp_path, "alice")
    wrapper = tmp_path / "receive-pack-then-fail"
    wrapper.write_text('#!/bin/sh\ngit-receive-pack "$@"\nexit 1\n')
    wrapper.chmod(0o755)
    git(alice, "config", "remote.origin.receivepack", str(wrapper))
    result = run_subprocess("new", "Landed", "--severity", "sev3", "-m", "Hi.", cwd=alice)
    head = git(alice, "rev-parse", "HEAD").strip()
    assert git(alice, "ls-remote", "origin", "refs/heads/main").split()[0] == head
    assert result.returncode == 0, result.stderr
    assert "committed locally" not in result.stderr


def test_a_configured_channel_without_secrets_is_named_and_exits_3(
    tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "status", config={"channels.statuspage": DELETE})
    incident_id = open_incident(repo, "API down", severity="sev2", message="Hi.").incident.id
    result = run_subprocess("publish", cwd=repo.root)
    assert result.returncode == 3, result.stderr
    assert "x: " in result.stderr and "X_API_KEY" in result.stderr
    record = Repo.open(repo.root).load(incident_id)
    assert record.timeline[0].deliveries["slack"].state == "delivered"
    assert record.timeline[0].deliveries.get("x") is None or record.timeline[0].deliveries["x"].state == "pending"
    narrowed = run_subprocess("publish", "--channel", "slack", cwd=repo.root)
    assert narrowed.returncode == 0, narrowed.stderr
    updated = run_subprocess("update", incident_id, "-m", "More.", "--publish", cwd=repo.root)
    assert updated.returncode == 3 and "X_API_KEY" in updated.stderr
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    reminded = run_subprocess("remind", "--notify", "--now", "2030-01-01T00:00:00Z", cwd=repo.root)
    assert reminded.returncode == 3, reminded.stderr
    assert "SLACK_BOT_TOKEN" in reminded.stderr

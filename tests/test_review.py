"""Review through git (SPEC "Review through git, and no silence"): ``--propose`` makes a branch with git
plumbing and touches nothing of the checkout; merged in the remote it is published once, from another
clone; before the merge nothing is sent; ``preview`` shows the bytes ``publish`` then sends; the review
policy refuses a required-review update on the default branch, and ``--no-review`` is recorded.

Real repos, a bare remote and several clones; fake Slack and X on 127.0.0.1.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from incidentctl.durations import isoformat_z, utcnow
from incidentctl.store import Repo
from testing import FakeSlack, FakeX, git, make_repo

Cli = Callable[..., Any]


def _team(tmp_path: Path, *names: str, extra: Callable[[Any], None] | None = None) -> tuple[Path, list[Path]]:
    """A bare remote (Slack and X configured, git.push on) and one clone per name."""

    def edit(config: Any) -> None:
        config["git"]["push"] = True
        del config["channels"]["statuspage"]
        if extra is not None:
            extra(config)

    make_repo(tmp_path / "seed", config=edit)
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(tmp_path / "seed"), str(remote))
    clones = []
    for name in names:
        git(tmp_path, "clone", "-q", str(remote), str(tmp_path / name))
        clones.append(tmp_path / name)
    return remote, clones


def _record(root: Path, incident_id: str) -> dict[str, Any]:
    return dict(yaml.safe_load((root / "incidents" / f"{incident_id}.yaml").read_text(encoding="utf-8")))


def _checkout_state(root: Path) -> tuple[str, ...]:
    """Everything --propose must leave alone: branch, HEAD, index, status, the work tree's bytes."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and ".git" not in p.relative_to(root).parts)
    return (
        git(root, "symbolic-ref", "HEAD"),
        git(root, "rev-parse", "HEAD"),
        git(root, "ls-files", "-s"),
        git(root, "status", "--porcelain"),
        *(f"{p.relative_to(root)}:{p.read_bytes()!r}" for p in files),
    )


def _slack_with(slack: FakeSlack, text: str) -> list[dict[str, Any]]:
    """Messages posted with ``text`` (the root message, edited to the latest state, is not a post of it)."""
    return [m for m in slack.messages if m.get("thread_ts") and text in (m.get("text") or "")]


def test_proposal_merged_in_the_remote_is_published_once_from_another_clone(
    tmp_path: Path, cli: Cli, slack: FakeSlack, x: FakeX
) -> None:
    _remote, (alice, bob, carol) = _team(tmp_path, "alice", "bob", "carol")
    opened = cli("new", "API down", "--severity", "sev2", "-c", "api=major_outage", "-m", "Looking.", repo=alice)
    assert opened.exit_code == 0, opened.output
    incident_id = opened.stdout.strip()
    assert cli("publish", repo=alice).exit_code == 0
    assert len(slack.messages) == 1 and len(x.posts) == 1

    # Alice proposes the resolution with uncommitted edits lying around (staged and not).
    (alice / "notes.txt").write_text("scratch\n")
    with (alice / "incidentctl.yaml").open("a") as handle:
        handle.write("# my local comment\n")
    (alice / "templates" / "README.md").write_text("staged edit\n")
    git(alice, "add", "templates/README.md")
    before = _checkout_state(alice)
    proposed = cli("resolve", incident_id, "-m", "Fixed by rolling back.", "--propose", repo=alice)
    assert proposed.exit_code == 0, proposed.output
    branch = proposed.stdout.strip().splitlines()[-1]
    assert branch == f"propose/{incident_id}/1"
    assert "pushed to origin" in proposed.stderr and "nothing is published until it is merged" in proposed.stderr
    assert _checkout_state(alice) == before  # branch, HEAD, index and work tree untouched
    assert git(alice, "ls-remote", "origin", f"refs/heads/{branch}").strip()
    proposed_record = yaml.safe_load(git(alice, "show", f"{branch}:incidents/{incident_id}.yaml"))
    last = proposed_record["timeline"][-1]
    assert last["status"] == "resolved" and last["review"] == "reviewed" and last["review_by"] == "Test Responder"
    assert git(alice, "rev-parse", f"{branch}~1") == git(alice, "rev-parse", "origin/main")  # on the default tip

    # A second proposal for the same incident gets the next number.
    again = cli("update", incident_id, "-m", "Another wording.", "--propose", repo=alice)
    assert again.exit_code == 0 and again.stdout.strip().endswith(f"propose/{incident_id}/2")
    # Another clone that never fetched those branches asks the remote: the next free number.
    other = cli("update", incident_id[:14], "-m", "Bob's wording.", "--propose", repo=bob)
    assert other.exit_code == 0 and other.stdout.strip().endswith(f"propose/{incident_id}/3"), other.output

    # Not merged: publishing on main (from either clone) sends nothing for it.
    for clone in (alice, bob):
        assert cli("publish", repo=clone).exit_code == 0
    assert not _slack_with(slack, "rolling back") and len(x.posts) == 1
    assert _record(bob, incident_id)["timeline"][-1]["status"] != "resolved"

    # Carol merges the first proposal (the approval) and pushes; preview first, as the PR comment would.
    git(carol, "pull", "-q", "--rebase")
    git(carol, "fetch", "-q", "origin")
    git(carol, "merge", "-q", "--no-ff", "-m", "Merge proposal", f"origin/{branch}")
    shown = cli("preview", "--base", "origin/main", "--json", repo=carol)
    assert shown.exit_code == 0, shown.output
    previews = json.loads(shown.stdout)["previews"]
    readable = cli("preview", "--base", "origin/main", repo=carol)
    assert "Fixed by rolling back." in readable.stdout and '"blocks"' not in readable.stdout
    git(carol, "push", "-q", "origin", "HEAD:main")

    # Bob publishes (catching up first): exactly once, even when run again and from Alice too.
    for clone in (bob, bob, alice):
        result = cli("publish", repo=clone)
        assert result.exit_code == 0, result.output
    replies = _slack_with(slack, "rolling back")
    assert len(replies) == 1 and replies[0]["thread_ts"] == slack.messages[0]["ts"]
    assert len([post for post in x.posts if "rolling back" in post["text"]]) == 1

    # preview == what publish sent, byte for byte.
    sent_slack = [p for p in previews if p["channel"] == "slack" and p["kind"] != "edit"]
    (item,) = sent_slack
    (reply,) = replies
    dump = lambda value: json.dumps(value, ensure_ascii=False, sort_keys=True).encode()  # noqa: E731
    assert dump(item["payload"]["blocks"]) == dump(reply["blocks"])
    assert item["payload"]["text"].encode() == reply["text"].encode()
    (edit,) = [p for p in previews if p["channel"] == "slack" and p["kind"] == "edit"]
    root = slack.messages[0]
    assert dump(edit["payload"]["blocks"]) == dump(root["blocks"]) and edit["payload"]["text"] == root["text"]
    (x_item,) = [p for p in previews if p["channel"] == "x"]
    x_sent = [post["text"] for post in x.posts[1:]]
    assert [part.encode() for part in x_item["payload"]["parts"]] == [text.encode() for text in x_sent]


def test_review_required_refuses_then_bypass_is_recorded(tmp_path: Path, cli: Cli) -> None:
    repo = make_repo(tmp_path / "r", config={"severities.sev2": {"name": "Major", "review": "required"}})
    opened = cli("new", "Slow API", "--severity", "sev2", "-m", "Looking.", repo=repo.root)
    assert opened.exit_code == 0, opened.output  # opening never waits for a reviewer
    incident_id = opened.stdout.strip()
    head = git(repo.root, "rev-parse", "HEAD")

    refused = cli("update", incident_id, "-m", "Found it.", repo=repo.root)
    assert refused.exit_code == 1
    (line,) = [text for text in refused.stderr.splitlines() if text.strip()]
    assert "--propose" in line and "--no-review" in line
    assert git(repo.root, "rev-parse", "HEAD") == head and len(_record(repo.root, incident_id)["timeline"]) == 1
    assert cli("resolve", incident_id, repo=repo.root).exit_code == 1

    internal = cli("update", incident_id, "-m", "db pool at 100%", "--internal", repo=repo.root)
    assert internal.exit_code == 0, internal.output  # an internal note is never reviewed

    assert cli("update", incident_id, "-m", "x", "--propose", "--no-review", repo=repo.root).exit_code == 2

    bypassed = cli("update", incident_id, "-m", "Found it.", "--no-review", repo=repo.root)
    assert bypassed.exit_code == 0, bypassed.output
    entry = _record(repo.root, incident_id)["timeline"][-1]
    assert entry["review"] == "bypassed" and entry["review_by"] == "Test Responder"

    proposed = cli("resolve", incident_id, "-m", "Fixed.", "--propose", repo=repo.root)  # no remote: local branch
    assert proposed.exit_code == 0, proposed.output
    assert "local only" in proposed.stderr
    git(repo.root, "merge", "-q", "--ff-only", f"propose/{incident_id}/1")

    # On another branch than the default one, nothing is refused (the merge is the review).
    git(repo.root, "checkout", "-q", "-b", "wording")
    assert cli("update", incident_id, "-m", "Postscript.", repo=repo.root).exit_code == 0

    document = cli("postmortem", incident_id, repo=repo.root).stdout
    assert "bypassed by Test Responder" in document and "reviewed (proposed by Test Responder;" in document
    assert "| Statements reviewed | 1 of 4 (1 bypassed) |" in document


def test_compare_links_for_github_and_gitlab_remotes() -> None:
    from incidentctl.propose import compare_url

    branch = "propose/2024-12-11-api-down/1"
    expected = f"https://github.com/acme/status/compare/main...{branch}?expand=1"
    for url in (
        "https://github.com/acme/status.git",
        "https://token@github.com/acme/status",
        "git@github.com:acme/status.git",
        "ssh://git@github.com/acme/status.git",
    ):
        assert compare_url(url, "main", branch) == expected, url
    gitlab = compare_url("git@gitlab.com:group/sub/status.git", "main", branch)
    assert gitlab is not None and gitlab.startswith("https://gitlab.com/group/sub/status/-/merge_requests/new?")
    assert "propose%2F2024-12-11-api-down%2F1" in gitlab and "target_branch%5D=main" in gitlab
    assert compare_url("/srv/git/status.git", "main", branch) is None
    assert compare_url("https://git.example.com/acme/status.git", "main", branch) is None


def test_every_change_prints_the_clock(tmp_path: Path, cli: Cli) -> None:
    repo = make_repo(
        tmp_path / "r",
        config={"severities.sev1": {"name": "Critical", "update_every": "30m", "holding_update": {"after": "10m"}}},
    )
    at = isoformat_z(utcnow() - timedelta(minutes=5))
    opened = cli("new", "API down", "--severity", "sev1", "-m", "Looking.", "--at", at, repo=repo.root)
    assert opened.exit_code == 0
    # 25 and 35 minutes from the test's clock; a loaded machine may start the command a minute later.
    assert "next public update promised by" in opened.stderr and re.search(r"\(in 2[45]m\)", opened.stderr)
    assert "holding update goes out at" in opened.stderr and re.search(r"\(in 3[45]m\)", opened.stderr)
    updated = cli("update", opened.stdout.strip(), "-m", "Found it.", "--next-update", "1h", repo=repo.root)
    assert "in 1h" in updated.stderr and "holding update goes out at" in updated.stderr
    assert Repo.open(repo.root).load(opened.stdout.strip()).timeline[-1].next_update_by is not None


def test_postmortem_public_summary_is_proposed_on_a_branch(tmp_path: Path, cli: Cli) -> None:
    repo = make_repo(tmp_path / "r")
    incident_id = cli("new", "API down", "--severity", "sev2", "-m", "Looking.", repo=repo.root).stdout.strip()
    assert cli("resolve", incident_id, repo=repo.root).exit_code == 0
    before = _checkout_state(repo.root)
    missing = cli("postmortem", incident_id, "--propose-public", repo=repo.root)
    assert missing.exit_code == 1 and "--summary" in missing.stderr
    proposed = cli("postmortem", incident_id, "--propose-public", "--summary", "A bad deploy.", repo=repo.root)
    assert proposed.exit_code == 0, proposed.output
    assert proposed.stdout.strip() == f"propose/{incident_id}/1" and _checkout_state(repo.root) == before
    record = yaml.safe_load(git(repo.root, "show", f"propose/{incident_id}/1:incidents/{incident_id}.yaml"))
    assert record["postmortem"] == {"public": True, "public_summary": "A bad deploy."}
    assert "postmortem" not in _record(repo.root, incident_id)


def test_a_proposal_can_add_a_new_record(tmp_path: Path) -> None:
    """The transaction mode ``maintenance schedule --propose`` uses: a new record, only on the branch."""
    from datetime import UTC, datetime

    from incidentctl.model import Entry, Incident

    repo = make_repo(tmp_path / "r")
    before = _checkout_state(repo.root)
    at = datetime(2024, 12, 12, tzinfo=UTC)
    incident = Incident(
        id="2024-12-12-db-upgrade", title="DB upgrade", severity="sev3", timeline=[Entry(at=at, status="investigating")]
    )
    with repo.transaction("2024-12-12-db-upgrade: proposed", propose=True) as tx:
        assert tx.repo.root != repo.root  # reads and writes go to the default branch's copy
        tx.save(incident)
    assert tx.branch == "propose/2024-12-12-db-upgrade/1" and tx.proposal is not None
    assert tx.proposal.pushed_to is None and tx.commit_sha == git(repo.root, "rev-parse", tx.branch).strip()
    assert _checkout_state(repo.root) == before and not repo.record_path(incident.id).exists()
    shown = git(repo.root, "show", "--name-status", "--format=%s", tx.branch).split()
    assert shown == ["2024-12-12-db-upgrade:", "proposed", "A", "incidents/2024-12-12-db-upgrade.yaml"]
    assert not list((repo.root / ".git" / "incidentctl").glob("propose-*"))  # scratch removed


def test_a_maintenance_is_proposed_on_a_branch_with_the_checkout_untouched(tmp_path: Path) -> None:
    from testing import invoke_cli

    repo = make_repo(tmp_path / "status")
    head = git(repo.root, "rev-parse", "HEAD")
    result = invoke_cli(
        "maintenance", "schedule", "Database upgrade", "--start", "2099-01-05T02:00:00Z", "--duration", "2h",
        "--propose", repo=repo.root,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    incident_id = result.stdout.strip()
    assert incident_id == "2099-01-05-database-upgrade", "stdout carries the id only"
    assert f"propose/{incident_id}/1" in result.stderr
    assert git(repo.root, "rev-parse", "HEAD") == head and not (repo.incidents_dir / f"{incident_id}.yaml").exists()
    text = git(repo.root, "show", f"propose/{incident_id}/1:incidents/{incident_id}.yaml")
    assert "kind: maintenance" in text and "review: reviewed" in text

"""Internal entries (and private postmortem fields) never leave the repo, on any channel.

Each incident carries internal notes with a unique marker, including as its *last* entry (the one
Slack's root edit summarises), as its only entry after the first, and a postmortem that is not
public (and one that is public, whose private fields must still stay home). After a real publish
to the fake Slack and X servers and the status page, and a ``site build``, the marker is in no
request either server received, in no site file (pages, history, feed, JSON API, style), in no
dry-run preview, and in nothing ``publish --json`` prints; it is still in the record.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from incidentctl.channels import RetryPolicy, use_retry_policy
from incidentctl.lifecycle import add_update, open_incident, resolve_incident
from incidentctl.model import Postmortem
from incidentctl.store import Repo
from testing import FakeSlack, FakeX, make_repo

MARKER = "ZZ-INTERNAL-7c1e-do-not-publish"
STATUS_CONFIG = {"output": "site", "title": "Example Status", "url": "https://status.example.com"}
T0 = datetime(2025, 2, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fast_retries() -> Iterator[None]:
    with use_retry_policy(RetryPolicy(base_delay=0.01)):
        yield


@pytest.fixture
def fakes(slack: FakeSlack, x: FakeX) -> tuple[FakeSlack, FakeX]:
    """Both fakes running, the environment pointing at them (conftest's `slack` and `x`)."""
    return slack, x


def _repo(path: Path) -> Repo:
    return make_repo(path, config={"channels.statuspage": STATUS_CONFIG})


def _seed(repo: Repo) -> list[str]:
    ids = []
    # 1: internal notes between public updates, and as the latest entry of an open incident.
    first = open_incident(repo, "API errors", severity="sev1", components={"api": "major_outage"},
                          message="We are investigating.", at=T0).incident.id  # fmt: skip
    add_update(repo, first, message=f"{MARKER} db password rotated", internal=True, at=T0 + timedelta(minutes=5))
    add_update(repo, first, message="Fix identified.", status="identified", at=T0 + timedelta(minutes=10))
    # (an internal entry may no longer change the status or a component: refused at input)
    add_update(repo, first, message=f"{MARKER} blame the intern", internal=True, at=T0 + timedelta(minutes=15))
    ids.append(first)
    # 2: resolved, internal note just before the resolution, a private postmortem.
    second = open_incident(repo, "Logins failing", severity="sev2", components={"web": "major_outage"},
                           message="Logins fail for some users.", at=T0 + timedelta(hours=1)).incident.id  # fmt: skip
    add_update(
        repo, second, message=f"{MARKER} customer Acme escalated", internal=True, at=T0 + timedelta(hours=1, minutes=5)
    )
    resolve_incident(repo, second, message="Logins work again.", at=T0 + timedelta(hours=2))
    ids.append(second)
    # 3: resolved, with a public postmortem whose private fields must stay private.
    third = open_incident(repo, "Sora slow", severity="sev2", components={"sora": "degraded_performance"},
                          message="Video generation is slow.", at=T0 + timedelta(hours=3)).incident.id  # fmt: skip
    add_update(
        repo, third, message=f"{MARKER} node pool 7 is cursed", internal=True, at=T0 + timedelta(hours=3, minutes=1)
    )
    resolve_incident(repo, third, message="Back to normal.", at=T0 + timedelta(hours=4))
    ids.append(third)
    with repo.transaction() as tx:
        for incident_id, public in ((second, False), (third, True)):
            incident = repo.load(incident_id)
            postmortem = Postmortem(
                public=public,
                public_summary="A config push broke logins; we rolled it back." if public else f"{MARKER} summary",
                summary=f"{MARKER} private summary",
                impact=f"{MARKER} impact",
                root_causes=[f"{MARKER} root cause"],
                trigger=f"{MARKER} trigger",
                detection=f"{MARKER} detection",
                resolution=f"{MARKER} resolution",
                authors=[f"{MARKER}-author"],
            )
            tx.save(incident.model_copy(update={"postmortem": postmortem}))
    return ids


def _files(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): path.read_text(encoding="utf-8", errors="replace")
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_internal_entries_never_reach_slack_x_or_the_status_page(
    tmp_path: Path, fakes: tuple[FakeSlack, FakeX], cli: Callable[..., Any]
) -> None:
    slack, x = fakes
    repo = _repo(tmp_path / "status")
    ids = _seed(repo)

    dry = cli("publish", "--dry-run", "--json", repo=repo.root)
    assert dry.exit_code == 0, dry.output
    assert MARKER not in dry.output
    assert len(json.loads(dry.stdout)["previews"]) == 6 * 3 + 3  # 6 public entries x 3 channels, + 3 Slack root edits

    result = cli("publish", "--json", repo=repo.root)
    assert result.exit_code == 0, result.output
    assert MARKER not in result.output
    assert json.loads(result.stdout)["failed"] == 0

    # Every request each fake received: bodies, query strings and headers.
    assert slack.messages and x.posts
    for fake in (slack, x):
        received = json.dumps([(r["method"], r["params"], r["headers"]) for r in fake.requests], ensure_ascii=False)
        assert MARKER not in received, type(fake).__name__
    assert len(x.posts) == 6 and len(slack.messages) == 6
    # The Slack root edits (the current state) skip the trailing internal entry too.
    for message in slack.roots():
        for version in [message, *message["edits"]]:
            assert MARKER not in json.dumps(version, ensure_ascii=False)

    # The status page the statuspage channel built, then a fresh `site build` elsewhere.
    built = repo.root / "site"
    other = tmp_path / "elsewhere"
    assert cli("site", "build", "--output", str(other), repo=repo.root).exit_code == 0
    for folder in (built, other):
        files = _files(folder)
        expected = {"index.html", "history.html", "feed.atom", "api/v2/summary.json", "api/v2/incidents.json",
                    "api/v2/components.json", "api/v2/status.json", "api/v2/incidents/unresolved.json",
                    *(f"incidents/{incident_id}.html" for incident_id in ids)}  # fmt: skip
        assert expected <= set(files), expected - set(files)
        leaked = [name for name, text in files.items() if MARKER in text]
        assert not leaked, leaked
        # The public postmortem summary is shown; the public updates are all there.
        assert "we rolled it back" in files[f"incidents/{ids[2]}.html"]
        assert "Fix identified." in files[f"incidents/{ids[0]}.html"]

    # Still in the record: internal means "kept in the repo", not "deleted".
    assert MARKER in repo.read_text(ids[0])
    internal = [entry for entry in repo.load(ids[0]).timeline if not entry.public]
    assert len(internal) == 2 and all(entry.deliveries == {} for entry in internal)

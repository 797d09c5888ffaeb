"""Every public word reaches X intact, once, or the user is told (real tweepy against the fake X)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from incidentctl.channels import RetryPolicy, use_retry_policy
from incidentctl.channels.x import MAX_POSTS, split_post
from incidentctl.delivery import publish
from incidentctl.durations import utcnow
from incidentctl.lifecycle import add_update, open_incident
from incidentctl.store import Repo
from testing import FakeX, config_changes, git, make_repo, modify_config

FAST = RetryPolicy(base_delay=0.01, request_timeout=2.0)
STATUS = {"output": "site", "title": "Example Corp Status", "url": "https://status.example.com"}
LONG = " ".join(f"The API gateway in region {n} returns errors while traffic is moved away." for n in range(9))


@pytest.fixture(autouse=True)
def _fast_retries() -> Iterator[None]:
    with use_retry_policy(FAST):
        yield


def _parts(repo: Repo, incident_id: str) -> list[list[str]]:
    report = publish(repo, [incident_id], channels=["x"], dry_run=True)
    return [list(preview.payload["parts"]) for preview in report.previews]


def test_a_retry_resends_exactly_what_was_first_sent(tmp_path: Path, x: FakeX) -> None:
    """Item 1: the status page URL is configured between an interrupted attempt and the retry."""
    repo = make_repo(tmp_path / "status")
    incident_id = open_incident(repo, "API errors", severity="sev1", message=LONG, next_update="30m").incident.id
    # The first post lands but its answer is lost; every later post fails.
    x.drop_next(1, after=True, method="/2/tweets")
    x.fail_next(8, status=503, method="/2/tweets")
    report = publish(repo, channels=["x"])
    assert report.failed == 1
    delivery = repo.load(incident_id).timeline[0].deliveries["x"]
    assert len(delivery.parts) > 1 and delivery.parts[0] == x.posts[0]["text"]
    first_parts = list(delivery.parts)

    x.faults.clear()
    modify_config(repo.root, config_changes({"channels.statuspage": STATUS}))
    git(repo.root, "commit", "-qam", "test: status page URL")
    repo = Repo.open(repo.root)
    assert _parts(repo, incident_id)[0] != first_parts, "the entry renders differently now"
    report = publish(repo, channels=["x"])
    assert report.failed == 0, [d.error for d in report.deliveries]
    assert [post["text"] for post in x.posts] == first_parts, "sent exactly once, as first rendered"
    assert len(x.thread()) == 1
    delivery = Repo.open(repo.root).load(incident_id).timeline[0].deliveries["x"]
    assert delivery.refs == [post["id"] for post in x.posts] and delivery.ref == x.posts[-1]["id"]


def test_every_part_of_repeated_long_updates_goes_out(repo: Repo, x: FakeX) -> None:
    """Item 2: two updates whose middle parts are identical: every part distinct, every id recorded."""
    start = utcnow() - timedelta(hours=1)
    incident_id = open_incident(repo, "API errors", severity="sev1", message="Investigating.", at=start).incident.id
    for minutes in (10, 20):
        add_update(repo, incident_id, message=LONG, at=start + timedelta(minutes=minutes))
    report = publish(repo, channels=["x"])
    assert report.failed == 0, [d.error for d in report.deliveries]
    assert [item["reason"] for item in x.rejected] == []
    timeline = Repo.open(repo.root).load(incident_id).timeline
    ids = {post["id"]: post["text"] for post in x.posts}
    for entry in timeline:
        delivery = entry.deliveries["x"]
        assert delivery.state == "delivered"
        assert [ids[ref] for ref in delivery.refs] == delivery.parts, "every part posted, every id recorded"
    assert len({post["text"] for post in x.posts}) == len(x.posts)
    assert len(x.thread()) == 1 and len(x.thread()[0]) == len(x.posts)
    assert publish(repo, channels=["x"]).deliveries == []


def test_a_part_refused_as_duplicate_is_never_recorded_delivered(repo: Repo, x: FakeX) -> None:
    """Item 2: X refuses a part as a duplicate and cannot be read: failed, twice, never `delivered`."""
    incident_id = open_incident(repo, "API errors", severity="sev1", message="Investigating.").incident.id
    (parts,) = _parts(repo, incident_id)
    x.read_forbidden = True
    x.posts.append({"id": "1", "text": parts[0], "reply_to": None})  # someone else's identical post
    for _ in range(2):
        report = publish(repo, channels=["x"])
        assert [d.state for d in report.deliveries] == ["failed"]
        assert "duplicate" in (report.deliveries[0].error or "")
    assert Repo.open(repo.root).load(incident_id).timeline[0].deliveries["x"].state == "failed"


def test_a_duplicate_after_a_lost_answer_is_adopted_with_its_id(repo: Repo, x: FakeX) -> None:
    """The post of a dropped answer is found on the account and adopted with its id."""
    incident_id = open_incident(repo, "API errors", severity="sev1", message=LONG).incident.id
    x.drop_next(2, after=True, method="/2/tweets")
    report = publish(repo, channels=["x"])
    assert report.failed == 0, [d.error for d in report.deliveries]
    delivery = Repo.open(repo.root).load(incident_id).timeline[0].deliveries["x"]
    assert delivery.refs == [post["id"] for post in x.posts]
    assert len(x.posts) == len(delivery.parts) and len(x.thread()) == 1


def test_split_update_keeps_the_promise_first_numbers_only_itself_and_never_a_lone_link(tmp_path: Path) -> None:
    """Item 3: promise in the first post, URL never alone, "(n/N)" within one update, at most 6 posts."""
    repo = make_repo(tmp_path / "status", config={"channels.statuspage": STATUS})
    incident_id = open_incident(repo, "API errors", severity="sev1", message="Short.", next_update="30m").incident.id
    add_update(repo, incident_id, message=LONG, next_update="30m")
    add_update(repo, incident_id, message=LONG * 4, next_update="30m")
    short, split, capped = _parts(repo, incident_id)
    url = f"https://status.example.com/incidents/{incident_id}.html"
    assert len(short) == 1 and "(1/1)" not in short[0]
    for parts in (split, capped):
        assert 1 < len(parts) <= MAX_POSTS
        assert "Next update by" in parts[0], "the promise is in the first post"
        assert [part.rsplit(" (", 1)[1] for part in parts] == [f"{n}/{len(parts)})" for n in range(1, len(parts) + 1)]
        assert all(part.rsplit(" (", 1)[0].strip() != url for part in parts), "a post holding only the link"
    assert len(capped) == MAX_POSTS and capped[-1].rsplit(" (", 1)[0].endswith(f"Full update: {url}")


def test_parts_are_valid_for_x_whatever_the_text() -> None:
    """Item 3: a byte-order mark and non-characters are dropped; a family emoji is never cut."""
    from twitter_text import parse_tweet

    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
    for offset in range(265, 280):
        text = "\ufeff" + "x" * offset + family + "y" * 40 + "\ufffe\uffff"
        parts = split_post(text)
        assert all(parse_tweet(part).valid for part in parts), parts
        assert sum(part.count(family) for part in parts) == 1

"""Bluesky through `incidentctl publish`: real HTTP (XRPC) against a fake PDS on 127.0.0.1."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from incidentctl.channels import RetryPolicy, use_retry_policy
from incidentctl.channels.bluesky import record_key, rich_text
from incidentctl.store import Repo
from testing.channel_repos import assert_secret_nowhere, channel_repo, leave_pending, three_entries
from testing.fakes.fake_bluesky import DID, FakeBluesky

SNAPSHOT = Path(__file__).parent / "snapshots" / "bluesky_dry_run.json"


@pytest.fixture(autouse=True)
def _bluesky_channel(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("BLUESKY_APP_PASSWORD", raising=False)
    with use_retry_policy(RetryPolicy(base_delay=0.01, request_timeout=2.0)):
        yield


@pytest.fixture
def pds(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBluesky]:
    with FakeBluesky() as fake:
        monkeypatch.setenv("BLUESKY_APP_PASSWORD", fake.password)
        yield fake


@pytest.fixture
def repo(tmp_path: Path, pds: FakeBluesky) -> Repo:
    return channel_repo(tmp_path / "status", f"bluesky: {{handle: {pds.account}, service: {pds.url}}}")


def _publish(cli: Callable[..., Any], repo: Repo, *args: str) -> Any:
    return cli("publish", *args, "--channel", "bluesky", "--json", repo=repo.root)


def _deliveries(cli: Callable[..., Any], repo: Repo, incident_id: str) -> list[dict[str, Any]]:
    shown = json.loads(cli("show", incident_id, "--json", repo=repo.root).stdout)
    return [entry["deliveries"]["bluesky"] for entry in shown["timeline"] if entry["visibility"] == "public"]


def test_thread_exactly_once(repo: Repo, pds: FakeBluesky, cli: Callable[..., Any]) -> None:
    incident_id = three_entries(repo)
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 0, result.output
    posts = pds.posts()
    assert len(posts) == 3
    assert "reply" not in posts[0]["value"]
    assert posts[1]["value"]["reply"]["root"]["uri"] == posts[0]["uri"]
    assert posts[2]["value"]["reply"]["parent"]["uri"] == posts[1]["uri"]
    link = posts[0]["value"]["facets"][0]["features"][0]["uri"]
    assert link.startswith("https://status.example.com/incidents/")
    assert [d["ref"] for d in _deliveries(cli, repo, incident_id)] == [p["uri"] for p in posts]
    before = len(pds.requests)
    again = _publish(cli, repo, incident_id)
    assert again.exit_code == 0 and len(pds.requests) == before
    assert_secret_nowhere(repo.root, pds.password, result.output, again.output)
    assert_secret_nowhere(repo.root, pds.jwt, result.output)


def test_long_update_is_a_thread_of_300(repo: Repo, pds: FakeBluesky, cli: Callable[..., Any]) -> None:
    words = [f"wörd{n:04d}" for n in range(120)]
    incident_id = three_entries(repo, message=" ".join(words))
    assert _publish(cli, repo, incident_id).exit_code == 0
    refs = _deliveries(cli, repo, incident_id)[0]["refs"]
    assert len(refs) >= 4
    texts = [p["value"]["text"] for p in pds.posts()[: len(refs)]]
    assert all(len(text) <= 300 for text in texts)
    assert all(word in " ".join(texts) for word in words)


def test_length_counts_graphemes_not_code_points(repo: Repo, pds: FakeBluesky, cli: Callable[..., Any]) -> None:
    from incidentctl.channels.bluesky import grapheme_length

    # "👍🏽" is two code points and one grapheme; "e\u0301" (e + combining acute) likewise.
    assert grapheme_length("👍🏽e\u0301!") == 3
    thumbs = " ".join(["👍🏽"] * 30)  # 59 graphemes, 89 code points
    incident_id = three_entries(repo, message=f"{thumbs} {thumbs}")  # one post's message: over 300 code points
    assert _publish(cli, repo, incident_id).exit_code == 0
    first = _deliveries(cli, repo, incident_id)[0]
    text = pds.posts()[0]["value"]["text"]
    assert len(first["refs"]) == 1 and len(text) > 300 >= grapheme_length(text), "one post, not a thread"


def test_lost_answer_is_not_doubled(repo: Repo, pds: FakeBluesky, cli: Callable[..., Any]) -> None:
    incident_id = three_entries(repo)
    pds.drop_next(1, after=True, method="com.atproto.repo.createRecord")
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 0, result.output
    assert len(pds.posts()) == 3
    assert _deliveries(cli, repo, incident_id)[0]["ref"] == pds.posts()[0]["uri"]


def test_crashed_run_that_had_posted_is_adopted(repo: Repo, pds: FakeBluesky, cli: Callable[..., Any]) -> None:
    incident_id = three_entries(repo)
    leave_pending(repo, incident_id, "bluesky", position=0)
    entry = next(entry for entry in repo.load(incident_id).timeline if entry.public)
    rkey = record_key(incident_id, entry, 0)
    uri = f"at://{DID}/app.bsky.feed.post/{rkey}"
    pds.records[rkey] = {"uri": uri, "cid": "bafyreilanded", "value": {"text": "(posted by the killed run)"}}
    pds.order.append(rkey)
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 0, result.output
    assert len(pds.posts()) == 3
    deliveries = _deliveries(cli, repo, incident_id)
    assert deliveries[0]["ref"] == uri and deliveries[0]["attempts"] == 1
    root = pds.posts()[1]["value"]["reply"]["root"]
    assert (root["uri"], root["cid"]) == (uri, "bafyreilanded")


def test_retries_after_503(repo: Repo, pds: FakeBluesky, cli: Callable[..., Any]) -> None:
    incident_id = three_entries(repo)
    pds.fail_next(2, status=503, body={"error": "Unavailable"}, method="com.atproto.repo.createRecord")
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 0, result.output
    assert len(pds.posts()) == 3


def test_rate_limit_is_waited_out(repo: Repo, pds: FakeBluesky, cli: Callable[..., Any]) -> None:
    incident_id = three_entries(repo)
    pds.fail_next(
        1,
        status=429,
        headers={"RateLimit-Reset": "0", "Retry-After": "0"},
        body={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
        method="com.atproto.repo.createRecord",
    )
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 0, result.output
    assert len(pds.posts()) == 3
    assert [d["attempts"] for d in _deliveries(cli, repo, incident_id)] == [2, 1, 1]


def test_link_facets_are_utf8_byte_ranges() -> None:
    text = "Ünïcode 🧵 first https://a.example/x, then (https://b.example/ü?q=1). Done"
    body, facets = rich_text(text)
    assert body == text
    encoded = text.encode("utf-8")
    spans = [encoded[f.index.byte_start : f.index.byte_end].decode("utf-8") for f in facets]
    assert spans == ["https://a.example/x", "https://b.example/ü?q=1"]
    assert [f.features[0].uri for f in facets] == spans
    assert rich_text("no links here") == ("no links here", [])


def test_missing_library_names_the_extra(
    repo: Repo, pds: FakeBluesky, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "atproto", None)  # as if atproto were not installed
    incident_id = three_entries(repo)
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 3
    assert "pip install 'incidentctl[bluesky]'" in result.output and "Traceback" not in result.output
    assert pds.requests == []
    dry = cli("publish", incident_id, "--channel", "bluesky", "--dry-run", repo=repo.root)
    assert dry.exit_code == 0, "a dry run needs no library"


def test_wrong_password_is_fatal_and_never_printed(
    repo: Repo, pds: FakeBluesky, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLUESKY_APP_PASSWORD", "wrong-app-password")
    incident_id = three_entries(repo)
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 3 and "BLUESKY_APP_PASSWORD" in result.output
    assert pds.posts() == []
    assert_secret_nowhere(repo.root, "wrong-app-password", result.output)


def test_dry_run_snapshot(repo: Repo, pds: FakeBluesky, cli: Callable[..., Any]) -> None:
    incident_id = three_entries(repo)
    result = cli("publish", incident_id, "--channel", "bluesky", "--dry-run", "--json", repo=repo.root)
    assert result.exit_code == 0, result.output
    assert pds.requests == []
    previews = json.loads(result.stdout)["previews"]
    text = json.dumps(previews, indent=2, ensure_ascii=False, sort_keys=True).replace(incident_id, "<id>") + "\n"
    if not SNAPSHOT.exists():  # first run writes it; review and commit it
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert text == SNAPSHOT.read_text(encoding="utf-8")

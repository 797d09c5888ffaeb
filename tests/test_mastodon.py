"""Mastodon through `incidentctl publish`: the real Mastodon.py client against a fake instance on 127.0.0.1."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from incidentctl.channels import RetryPolicy, use_retry_policy
from incidentctl.channels.mastodon import idempotency_key
from incidentctl.store import Repo
from testing import modify_config
from testing.channel_repos import assert_secret_nowhere, channel_repo, leave_pending, three_entries
from testing.fakes.fake_mastodon import FakeMastodon

SNAPSHOT = Path(__file__).parent / "snapshots" / "mastodon_dry_run.json"


@pytest.fixture(autouse=True)
def _mastodon_channel(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("MASTODON_ACCESS_TOKEN", raising=False)
    with use_retry_policy(RetryPolicy(base_delay=0.01, request_timeout=2.0)):
        yield


@pytest.fixture
def instance(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMastodon]:
    with FakeMastodon() as fake:
        monkeypatch.setenv("MASTODON_ACCESS_TOKEN", fake.token)
        yield fake


@pytest.fixture
def repo(tmp_path: Path, instance: FakeMastodon) -> Repo:
    return channel_repo(tmp_path / "status", f"mastodon: {{instance: {instance.url}, visibility: unlisted}}")


def _publish(cli: Callable[..., Any], repo: Repo, *args: str) -> Any:
    return cli("publish", *args, "--channel", "mastodon", "--json", repo=repo.root)


def _deliveries(cli: Callable[..., Any], repo: Repo, incident_id: str) -> list[dict[str, Any]]:
    shown = json.loads(cli("show", incident_id, "--json", repo=repo.root).stdout)
    return [entry["deliveries"]["mastodon"] for entry in shown["timeline"] if entry["visibility"] == "public"]


def _posts(instance: FakeMastodon) -> list[dict[str, Any]]:
    return [r for r in instance.requests if r["method"] == "/api/v1/statuses" and r["fault"] is None]


def test_thread_exactly_once_with_idempotency_keys(repo: Repo, instance: FakeMastodon, cli: Callable[..., Any]) -> None:
    incident_id = three_entries(repo)
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 0, result.output
    chain = instance.thread(instance.statuses[0]["id"])
    assert len(chain) == 3 == len(instance.statuses)
    assert chain[0]["text"].startswith("Investigating: API unavailable")
    assert chain[2]["text"].startswith("Resolved: API unavailable")
    assert all(status["visibility"] == "unlisted" for status in chain)
    keys = [status["idempotency_key"] for status in chain]
    assert all(keys) and len(set(keys)) == 3
    assert "bad deploy" not in json.dumps(instance.statuses)
    instance_reads = [r for r in instance.requests if r["method"] == "/api/v2/instance"]
    assert len(instance_reads) == 1, "the instance's limits are read once per run"
    assert [d["ref"] for d in _deliveries(cli, repo, incident_id)] == [s["id"] for s in chain]

    before = len(instance.requests)
    again = _publish(cli, repo, incident_id)
    assert again.exit_code == 0 and len(instance.requests) == before
    assert_secret_nowhere(repo.root, instance.token, result.output, again.output)


def test_long_update_is_a_thread_within_the_instance_limit(
    repo: Repo, instance: FakeMastodon, cli: Callable[..., Any]
) -> None:
    link = "https://example.com/" + "a" * 200  # counts 23, whatever its length
    words = [f"word{n:04d}" for n in range(300)]
    incident_id = three_entries(repo, message=" ".join(words) + f" details: {link}")
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 0, result.output
    refs = _deliveries(cli, repo, incident_id)[0]["refs"]
    assert len(refs) >= 6
    parts = [next(s for s in instance.statuses if s["id"] == ref) for ref in refs]
    assert all(instance.length(part["text"]) <= 500 for part in parts)
    assert parts[0]["text"].endswith(f"(1/{len(refs)})")
    joined = " ".join(part["text"] for part in parts)
    assert all(word in joined for word in words) and link in joined
    assert [part["in_reply_to_id"] for part in parts[1:]] == refs[:-1]
    # The next entry replies to the last part.
    second = next(s for s in instance.statuses if s["id"] == _deliveries(cli, repo, incident_id)[1]["ref"])
    assert second["in_reply_to_id"] == refs[-1]


def test_a_larger_instance_limit_means_fewer_parts(
    tmp_path: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeMastodon(max_characters=5000) as big:
        monkeypatch.setenv("MASTODON_ACCESS_TOKEN", big.token)
        repo = channel_repo(tmp_path / "big", f"mastodon: {{instance: {big.url}}}")
        incident_id = three_entries(repo, message=" ".join(f"word{n:04d}" for n in range(300)))
        preview = cli("publish", incident_id, "--channel", "mastodon", "--dry-run", "--json", repo=repo.root)
        assert len(json.loads(preview.stdout)["previews"][0]["payload"]["parts"]) > 1  # dry run assumes 500
        assert _publish(cli, repo, incident_id).exit_code == 0
        assert len(_deliveries(cli, repo, incident_id)[0]["refs"]) == 1


def test_retries_after_503_and_429(repo: Repo, instance: FakeMastodon, cli: Callable[..., Any]) -> None:
    incident_id = three_entries(repo)
    instance.fail_next(1, status=503, body={"error": "unavailable"}, method="/api/v1/statuses")
    instance.rate_limit_next()
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 0, result.output
    assert _deliveries(cli, repo, incident_id)[0]["attempts"] == 3
    assert len(instance.statuses) == 3


def test_lost_answer_is_retried_without_a_double(repo: Repo, instance: FakeMastodon, cli: Callable[..., Any]) -> None:
    incident_id = three_entries(repo)
    instance.drop_next(1, after=True, method="/api/v1/statuses")  # created, then the connection drops
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 0, result.output
    assert len(instance.statuses) == 3 and instance.replayed == 1
    assert _deliveries(cli, repo, incident_id)[0]["ref"] == instance.statuses[0]["id"]


def test_crashed_run_that_had_posted_is_finished_without_a_double(
    repo: Repo, instance: FakeMastodon, cli: Callable[..., Any]
) -> None:
    incident_id = three_entries(repo)
    # The killed run had saved `pending` (attempt 1) and its POST had landed, unrecorded.
    leave_pending(repo, incident_id, "mastodon", position=0)
    entry = next(entry for entry in repo.load(incident_id).timeline if entry.public)
    key = idempotency_key(incident_id, entry, 1, 1)
    instance.statuses.append(
        {
            "id": "109999999999999999",
            "text": "(posted by the killed run)",
            "in_reply_to_id": None,
            "visibility": "unlisted",
            "idempotency_key": key,
        }
    )
    instance.keys[key] = "109999999999999999"
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 0, result.output
    assert len(instance.statuses) == 3 and instance.replayed == 1
    deliveries = _deliveries(cli, repo, incident_id)
    assert deliveries[0]["ref"] == "109999999999999999" and deliveries[0]["attempts"] == 2
    assert instance.thread("109999999999999999")[1]["id"] == deliveries[1]["ref"]


def test_mentions_in_incident_text_do_not_notify(repo: Repo, instance: FakeMastodon, cli: Callable[..., Any]) -> None:
    incident_id = three_entries(repo, message="Thanks @alice@example.social and @bob for the report.")
    assert _publish(cli, repo, incident_id).exit_code == 0
    text = instance.statuses[0]["text"]
    assert "@alice" not in text and "@\u200balice@\u200bexample.social" in text and "@\u200bbob" in text


def test_wrong_token_is_fatal_and_never_printed(
    repo: Repo, instance: FakeMastodon, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MASTODON_ACCESS_TOKEN", "wrong-token-777777")
    incident_id = three_entries(repo)
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 3
    assert "401 Unauthorized" in result.output and "MASTODON_ACCESS_TOKEN" in result.output
    assert len(_posts(instance)) == 1
    assert_secret_nowhere(repo.root, "wrong-token-777777", result.output)


def test_missing_library_names_the_extra(
    repo: Repo, instance: FakeMastodon, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mastodon", None)  # as if Mastodon.py were not installed
    incident_id = three_entries(repo)
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 3
    assert "pip install 'incidentctl[mastodon]'" in result.output and "Traceback" not in result.output
    dry = cli("publish", incident_id, "--channel", "mastodon", "--dry-run", repo=repo.root)
    assert dry.exit_code == 0, "a dry run needs no library"


def test_missing_token_and_bad_settings_are_named(tmp_path: Path, cli: Callable[..., Any]) -> None:
    repo = channel_repo(tmp_path / "a", "mastodon: {instance: https://mastodon.example}")
    incident_id = three_entries(repo)
    result = _publish(cli, repo, incident_id)
    assert result.exit_code == 3 and "MASTODON_ACCESS_TOKEN is not set" in result.stderr  # SPEC: named, exit 3
    modify_config(repo.root, lambda config: config["channels"].update(mastodon={"visibility": "loud"}))
    result = cli("publish", incident_id, "--channel", "mastodon", repo=repo.root)
    assert result.exit_code == 1 and "channels.mastodon.instance: " in result.output
    assert "channels.mastodon.visibility: " in result.output and "Traceback" not in result.output


def test_dry_run_snapshot(repo: Repo, instance: FakeMastodon, cli: Callable[..., Any]) -> None:
    incident_id = three_entries(repo)
    result = cli("publish", incident_id, "--channel", "mastodon", "--dry-run", "--json", repo=repo.root)
    assert result.exit_code == 0, result.output
    assert instance.requests == []
    previews = json.loads(result.stdout)["previews"]
    text = json.dumps(previews, indent=2, ensure_ascii=False, sort_keys=True).replace(incident_id, "<id>") + "\n"
    if not SNAPSHOT.exists():  # first run writes it; review and commit it
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert text == SNAPSHOT.read_text(encoding="utf-8")

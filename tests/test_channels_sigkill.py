"""SIGKILL ``incidentctl publish`` at random points on each channel beyond Slack and X (issue 14;
Slack and X: test_publish_crash.py).

A real process, the channel's real client, the channel's fake server on 127.0.0.1 answering after it
stored (so many kills land in between). Each loop runs a fixed number of iterations: add an entry (or
open or resolve an incident), start ``publish``, kill it at a random point of its run
(``testing.KillTimer``) unless it finishes first. After every iteration the records parse and
validate and ``git fsck`` is clean; no temp file outlives the next writing command. After the final
un-killed run(s), what the fake holds proves:

- every public entry is there exactly once (no double post, nothing lost), counted by a token unique
  to each entry and by the total the fake stores;
- each in the right place: Mastodon and Bluesky replies chain through the incident's posts in order,
  Discord messages sit in their incident's forum thread, Atlassian updates on their incident, email
  replies refer to the incident's first mail, a webhook body names its incident;
- a rerun sends nothing, and the working tree is committed.

How each channel keeps a send cut off by a kill from doubling: Mastodon resends with the same
Idempotency-Key (the fake answers with the status it already has), Bluesky's record keys are fixed by
the entry (a second createRecord with the key is refused, the record adopted), Atlassian finds its
incident by our id in the metadata and its update by the newest one (a lookup that cannot be answered, a
420 because the killed run's request was under a second ago or a 5xx, is asked again and, still
unanswered, sends nothing). Webhook and email may deliver again, but only with the same
``webhook-id`` / ``Message-ID`` (receivers and mail clients keep one):
"exactly once" is counted per id. Discord and Teams cannot be asked: such a send is reported on every
later run (exit 3, ``--resend-interrupted``) and never resent on its own; the loop's "user" settles
each one by looking at the fake, as a person would: the entry is there → ``--mark-interrupted-sent``,
else ``--resend-interrupted``.

The fast set runs ``FAST`` iterations per channel; ``@pytest.mark.slow`` runs ``SLOW``. How many runs
were killed mid-run (and where) is printed, never asserted: it depends on the machine.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from incidentctl.channels.email import SMTP_URL_ENV
from incidentctl.channels.webhook import SUBSCRIBERS_ENV
from incidentctl.lifecycle import open_incident
from incidentctl.model import Incident
from incidentctl.store import Repo
from testing import (
    KillTimer,
    assert_sound,
    git,
    random_incident_work,
    remove_git_locks,
    run_subprocess,
    start_incidentctl,
    temp_files,
)
from testing.channel_repos import channel_repo
from testing.fakes.fake_atlassian import DEFAULT_PAGE, FakeAtlassian
from testing.fakes.fake_bluesky import FakeBluesky
from testing.fakes.fake_discord import FakeDiscord
from testing.fakes.fake_mastodon import FakeMastodon
from testing.fakes.fake_teams import FakeTeams
from testing.fakes.mailbox import FakeSmtp
from testing.fakes.server import FakeServer
from testing.fakes.webhook_receiver import WebhookReceiver

FAST = 6
SLOW = 30
_TOKEN = re.compile(r"\bk\d+q\b")  # each entry's message carries one: k<n>q


# -- what each channel's fake holds --------------------------------------------------------------------


def _discord_original(message: dict[str, Any]) -> str:
    """A Discord message as first posted (the incident's first message is edited afterwards)."""
    first = message["edits"][0] if message["edits"] else message
    return json.dumps([first["content"], first["embeds"]], ensure_ascii=False)


def _subscribers(receiver: WebhookReceiver, folder: Path) -> str:
    path = folder / "webhooks.yaml"
    path.write_text(f"- {{id: all, url: '{receiver.url('/hooks/all')}', secret: plain-shared-secret}}\n")
    return str(path)


def _webhook_bodies(receiver: WebhookReceiver) -> dict[str, dict[str, Any]]:
    """What the subscriber got, by ``webhook-id``: a receiver keeps one body per id (Standard Webhooks)."""
    return {item["headers"]["webhook-id"]: item["body"] for item in receiver.received("/hooks/all")}


def _newest_update(body: dict[str, Any]) -> dict[str, Any]:
    """The entry a webhook body is for: its incident's newest update (Statuspage lists them newest first)."""
    return dict(body["incident"]["incident_updates"][0])


def _mails(smtp: FakeSmtp) -> dict[str, EmailMessage]:
    """What the recipient's mailbox shows, by ``Message-ID`` (a mail client keeps one message per id)."""
    return {item["message"]["Message-ID"]: item["message"] for item in smtp.mailbox.messages}


def _plain(mail: EmailMessage) -> str:
    body = mail.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


@dataclass(frozen=True)
class Target:
    """One channel under the loop: its fake, config, environment, and how to read what the fake holds."""

    name: str
    fake: Callable[[], FakeServer | FakeSmtp]
    config: Callable[[Any], str]
    env: Callable[[Any, Path], dict[str, str]]
    """The channel's secrets (a file of them may go in the given folder, outside the repo)."""
    texts: Callable[[Any], list[str]]
    """Everything the fake shows, one text per stored post/update (as first posted)."""
    recognised: Callable[[Any], int] = lambda fake: 0
    """Resends the fake recognised as one it had (same Idempotency-Key, webhook-id or Message-ID)."""
    confirms: bool = True
    threads: bool = False
    """Long updates (threads of several posts) are part of the mix."""


TARGETS = {
    "mastodon": Target(
        "mastodon",
        FakeMastodon,
        lambda fake: f"mastodon: {{instance: {fake.url}}}",
        lambda fake, _: {"MASTODON_ACCESS_TOKEN": fake.token},
        lambda fake: [status["text"] for status in fake.statuses],
        recognised=lambda fake: fake.replayed,
        threads=True,
    ),
    "bluesky": Target(
        "bluesky",
        FakeBluesky,
        lambda fake: f"bluesky: {{handle: {fake.account}, service: {fake.url}}}",
        lambda fake, _: {"BLUESKY_APP_PASSWORD": fake.password},
        lambda fake: [post["value"]["text"] for post in fake.posts()],
        threads=True,
    ),
    "discord": Target(
        "discord",
        partial(FakeDiscord, forum=True),
        lambda fake: "discord: {}",
        lambda fake, _: {"DISCORD_WEBHOOK_URL": fake.url},
        lambda fake: [_discord_original(message) for message in fake.messages],
        confirms=False,
    ),
    "teams": Target(
        "teams",
        FakeTeams,
        lambda fake: "teams: {}",
        lambda fake, _: {"TEAMS_WEBHOOK_URL": fake.url},
        lambda fake: [json.dumps(card, ensure_ascii=False) for card in fake.posts],
        confirms=False,
    ),
    "webhook": Target(
        "webhook",
        WebhookReceiver,
        lambda fake: "webhook: {}",
        lambda fake, folder: {SUBSCRIBERS_ENV: _subscribers(fake, folder)},
        lambda fake: [_newest_update(body)["body"] for body in _webhook_bodies(fake).values()],
        recognised=lambda fake: len(fake.received("/hooks/all")) - len(_webhook_bodies(fake)),
    ),
    "email": Target(
        "email",
        FakeSmtp,
        lambda fake: "email: {from: status@example.com, to: [oncall@example.com]}",
        lambda fake, _: {SMTP_URL_ENV: fake.url},
        lambda fake: [_plain(mail) for mail in _mails(fake).values()],
        recognised=lambda fake: len(fake.mailbox.messages) - len(_mails(fake)),
    ),
    "atlassian": Target(
        "atlassian",
        FakeAtlassian,
        lambda fake: f"atlassian: {{page_id: {DEFAULT_PAGE}, components: {{api: cmpapi000001, web: cmpweb000002}}}}",
        lambda fake, _: {"INCIDENTCTL_ATLASSIAN_API_URL": fake.url, "STATUSPAGE_API_KEY": fake.key},
        lambda fake: [update["body"] for incident in fake.incidents for update in incident["incident_updates"]],
    ),
}


PARAMS = list(TARGETS)


@pytest.fixture
def target(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    spec = TARGETS[request.param]
    with spec.fake() as fake:
        for name, value in spec.env(fake, tmp_path).items():
            monkeypatch.setenv(name, value)
        fake.latency = 0.3  # answered after storing: many kills land between the two
        # A request the loaded test machine's fake has not handled within the default 5 s would be retried by
        # design (SPEC: timeouts are retried) and could then land twice; this loop is about kills, not timeouts.
        monkeypatch.setenv("INCIDENTCTL_REQUEST_TIMEOUT", "30")
        repo = channel_repo(tmp_path / "status", spec.config(fake))
        yield spec, fake, repo


# -- the loop --------------------------------------------------------------------------------------------


def _counts(spec: Target, fake: Any) -> Counter[str]:
    """How many stored posts carry each entry's token."""
    return Counter(token for text in spec.texts(fake) for token in set(_TOKEN.findall(text)))


def _public(repo: Repo) -> list[tuple[Incident, list[int]]]:
    repo = Repo.open(repo.root)
    incidents = [repo.load(incident_id) for incident_id in repo.ids()]
    return [(incident, [i for i, entry in enumerate(incident.timeline) if entry.public]) for incident in incidents]


def _settle(spec: Target, fake: Any, repo: Repo) -> Counter[str]:
    """The user after an exit 3 naming ``--resend-interrupted``: look at the fake for each reported entry."""
    done: Counter[str] = Counter()
    there = _counts(spec, fake)
    for incident, indexes in _public(repo):
        for index in indexes:
            delivery = incident.timeline[index].deliveries.get(spec.name)
            if delivery is None or not delivery.interrupted:
                continue
            token = _TOKEN.search(incident.timeline[index].message)
            assert token is not None
            how = "--mark-interrupted-sent" if there[token.group(0)] else "--resend-interrupted"
            done[how] += 1
            settled = run_subprocess("publish", incident.id, "--channel", spec.name, how, cwd=repo.root)
            assert settled.returncode in (0, 3), settled.stdout + settled.stderr
            assert "Traceback" not in settled.stderr
    return done


def _window(spec: Target, fake: Any, repo: Repo) -> Counter[str]:
    """Where a kill landed: deliveries it left ``pending`` after an attempt began, and those of them the
    fake had already stored (the window the channel's reconciliation exists for)."""
    landed: Counter[str] = Counter()
    stored = _counts(spec, fake)
    for incident, indexes in _public(repo):
        for index in indexes:
            entry = incident.timeline[index]
            delivery = entry.deliveries.get(spec.name)
            if delivery is not None and delivery.state == "pending" and delivery.attempts > 0:
                landed["left_pending"] += 1
                token = _TOKEN.search(entry.message)
                landed["left_pending_but_stored"] += bool(token and stored[token.group(0)])
    return landed


def _finished(spec: Target, fake: Any, repo: Repo, run: Any, stats: Counter[str]) -> None:
    """A run that finished: clean (0), or (Discord, Teams) reporting cut-off sends, which the user settles."""
    assert "Traceback" not in run.stderr, run.stderr
    output = run.stdout + run.stderr
    if run.returncode == 3 and not spec.confirms and "--resend-interrupted" in output:
        stats["reported_interrupted"] += 1
        stats.update(_settle(spec, fake, repo))
        return
    assert run.returncode == 0, output


def crash_loop(spec: Target, fake: Any, repo: Repo, iterations: int, seed: int) -> dict[str, Any]:
    rng = random.Random(int(os.environ.get("CRASH_SEED", str(seed))))
    start = partial(start_incidentctl, "publish", "--channel", spec.name, cwd=repo.root)
    ids = [open_incident(repo, "API errors", severity="sev1", components={"api": "major_outage"},
                         message="We are investigating k0q.").incident.id]  # fmt: skip
    timer = KillTimer.calibrate(start, rng)
    stats: Counter[str] = Counter()
    for n in range(1, iterations + 1):
        stats["git_locks_removed"] += remove_git_locks(repo.root)
        random_incident_work(repo, rng, ids, n, long_steps=40 if spec.threads else 0)
        leftovers = temp_files(repo.root / "incidents")
        assert not leftovers, f"the next writing command left temp files: {leftovers}"
        run = timer.run(start)
        if run.killed:
            stats["killed"] += 1
            stats.update(_window(spec, fake, repo))
        else:
            stats["finished"] += 1
            _finished(spec, fake, repo, run, stats)
        assert_sound(repo.root)
    assert timer.killed == stats["killed"] and len(timer.runs) == iterations

    stats["git_locks_removed"] += remove_git_locks(repo.root)
    for _ in range(3):  # the final run; on Discord and Teams the user settles what it reports, then runs again
        final = run_subprocess("publish", "--channel", spec.name, cwd=repo.root, timeout=180)
        if final.returncode == 0:
            break
        _finished(spec, fake, repo, final, stats)
    assert final.returncode == 0, final.stdout + final.stderr
    requests = len(fake.requests)
    again = run_subprocess("publish", "--channel", spec.name, cwd=repo.root)
    assert again.returncode == 0 and "nothing to publish" in again.stderr, again.stdout + again.stderr
    assert len(fake.requests) == requests, "a rerun sent something"

    assert_sound(repo.root)
    assert temp_files(repo.root / "incidents") == []
    assert git(repo.root, "status", "--porcelain", "--untracked-files=no").strip() == ""
    figures = assert_exactly_once(spec, fake, repo)
    print(f"\n{spec.name} crash loop: {timer.summary()}, {dict(stats)}, {figures}")
    return {"timer": timer, "stats": stats, "figures": figures}


# -- exactly once, in the right place ----------------------------------------------------------------------


def assert_exactly_once(spec: Target, fake: Any, repo: Repo) -> dict[str, int]:
    counts = _counts(spec, fake)
    incidents = _public(repo)
    tokens: dict[str, str] = {}  # token -> incident id
    for incident, indexes in incidents:
        for index in indexes:
            entry = incident.timeline[index]
            delivery = entry.deliveries[spec.name]
            assert delivery.state == "delivered", (incident.id, entry.at, delivery)
            token = _TOKEN.search(entry.message)
            assert token is not None
            tokens[token.group(0)] = incident.id
    doubles = {token: count for token, count in counts.items() if count > 1}
    assert not doubles, f"{spec.name}: posted more than once: {doubles}"
    lost = sorted(set(tokens) - set(counts))
    assert not lost, f"{spec.name}: never posted: {lost}"
    assert set(counts) == set(tokens), "a post that is no entry's"
    CHECKS[spec.name](fake, incidents, tokens)
    return {
        "entries": len(tokens),
        "stored": len(spec.texts(fake)),
        "incidents": len(incidents),
        "resends_recognised": spec.recognised(fake),
    }


def _refs(incident: Incident, indexes: list[int], channel: str) -> list[str]:
    return [ref for index in indexes for ref in incident.timeline[index].deliveries[channel].refs]


def _check_mastodon(fake: FakeMastodon, incidents: list[tuple[Incident, list[int]]], tokens: dict[str, str]) -> None:
    """Every status is recorded; each incident's statuses form one reply chain, in the timeline's order."""
    by_id = {status["id"]: status for status in fake.statuses}
    chains = [_refs(incident, indexes, "mastodon") for incident, indexes in incidents]
    assert sorted(ref for chain in chains for ref in chain) == sorted(by_id), "a status nobody recorded"
    for chain in chains:
        assert [by_id[ref]["in_reply_to_id"] for ref in chain] == [None, *chain[:-1]]


def _check_bluesky(fake: FakeBluesky, incidents: list[tuple[Incident, list[int]]], tokens: dict[str, str]) -> None:
    """Every post is recorded; replies name the incident's first post as root and the post before as parent."""
    by_uri = {post["uri"]: post for post in fake.posts()}
    chains = [[ref.split("|")[0] for ref in _refs(incident, indexes, "bluesky")] for incident, indexes in incidents]
    assert sorted(uri for chain in chains for uri in chain) == sorted(by_uri), "a post nobody recorded"
    for chain in chains:
        assert "reply" not in by_uri[chain[0]]["value"]
        for parent, uri in itertools.pairwise(chain):
            reply = by_uri[uri]["value"]["reply"]
            assert (reply["root"]["uri"], reply["parent"]["uri"]) == (chain[0], parent)


def _check_discord(fake: FakeDiscord, incidents: list[tuple[Incident, list[int]]], tokens: dict[str, str]) -> None:
    """Each incident's messages in its forum thread. A first message marked sent by hand has no known id:
    the next entry starts the incident's thread anew (Discord cannot be asked for the lost id)."""
    by_token = {_TOKEN.findall(_discord_original(message))[0]: message for message in fake.messages}
    threads: set[str] = set()
    for incident, indexes in incidents:
        thread = None
        for index in indexes:
            entry = incident.timeline[index]
            message = by_token[_TOKEN.findall(entry.message)[0]]
            if thread is None:
                assert message["thread_name"] == incident.title and message["channel_id"] not in threads
                threads.add(message["channel_id"])
            else:
                assert message["channel_id"] == thread, f"{incident.id}: a message outside its thread"
            if thread is None and entry.deliveries["discord"].ref:
                thread = message["channel_id"]  # the incident's thread, from its first message with a known id
    assert threads == set(fake.threads)


def _check_teams(fake: FakeTeams, incidents: list[tuple[Incident, list[int]]], tokens: dict[str, str]) -> None:
    """One card per entry (no threads on Teams), each naming its incident."""
    titles = {incident.id: incident.title for incident, _ in incidents}
    for card in fake.posts:
        text = json.dumps(card, ensure_ascii=False)
        assert titles[tokens[_TOKEN.findall(text)[0]]] in text


def _check_atlassian(fake: FakeAtlassian, incidents: list[tuple[Incident, list[int]]], tokens: dict[str, str]) -> None:
    """One Statuspage incident per incident (ours by its metadata), holding exactly its entries' updates."""
    assert sorted(remote["metadata"]["incidentctl"]["id"] for remote in fake.incidents) == sorted(
        incident.id for incident, _ in incidents
    )
    for remote in fake.incidents:
        for update in remote["incident_updates"]:
            assert tokens[_TOKEN.findall(update["body"])[0]] == remote["metadata"]["incidentctl"]["id"]


def _check_webhook(
    receiver: WebhookReceiver, incidents: list[tuple[Incident, list[int]]], tokens: dict[str, str]
) -> None:
    """Each ``webhook-id`` carries one entry of its incident; a resend after a kill reuses the id."""
    for body in _webhook_bodies(receiver).values():
        assert body["incident"]["id"] == tokens[_TOKEN.findall(_newest_update(body)["body"])[0]]


def _check_email(smtp: FakeSmtp, incidents: list[tuple[Incident, list[int]]], tokens: dict[str, str]) -> None:
    """Each Message-ID is one entry of its incident; later ones refer to the incident's first mail (one thread)."""
    mails = _mails(smtp)
    for incident, indexes in incidents:
        ids = [incident.timeline[index].deliveries["email"].ref for index in indexes]
        assert all(ref in mails for ref in ids)
        for ref in ids:
            mail = mails[str(ref)]
            assert tokens[_TOKEN.findall(_plain(mail))[0]] == incident.id
            assert mail["In-Reply-To"] == (None if ref == ids[0] else ids[0])


CHECKS: dict[str, Callable[[Any, list[tuple[Incident, list[int]]], dict[str, str]], None]] = {
    "mastodon": _check_mastodon,
    "bluesky": _check_bluesky,
    "discord": _check_discord,
    "teams": _check_teams,
    "webhook": _check_webhook,
    "email": _check_email,
    "atlassian": _check_atlassian,
}


# -- the tests ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", PARAMS, indirect=True)
def test_sigkill_during_publish_never_doubles_or_loses_a_post(target: Any) -> None:
    spec, fake, repo = target
    result = crash_loop(spec, fake, repo, FAST, seed=14)
    assert result["figures"]["entries"] == FAST + 1


@pytest.mark.slow
@pytest.mark.parametrize("target", PARAMS, indirect=True)
def test_sigkill_during_publish_many_times(target: Any) -> None:
    spec, fake, repo = target
    result = crash_loop(spec, fake, repo, SLOW, seed=41)
    assert result["figures"]["entries"] >= SLOW

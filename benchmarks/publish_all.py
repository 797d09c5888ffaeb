"""Publish figures beyond Slack + X (issue 16), used by ``benchmarks/run.py``:

- ``publish_all``: one new incident's first entry to **every** channel (Slack, X, Mastodon, Bluesky, Discord,
  Teams, Atlassian, webhook subscribers, email), each fake answering 300 ms after it stored the request,
  against the slowest of the same channels published alone (goal ≤ 1.3×). Channels run in parallel: the
  floor is one channel's requests plus start-up; what all of them add is importing and connecting nine
  clients in one process.
- ``claim``: the cross-clone publish claim (``git.push`` on, a local bare remote): the seconds ``publish``
  spent claiming (its ``--json`` report's ``claim_seconds``) against one push round trip to the same remote
  (``git commit`` + ``git push`` of a one-line change, the floor). Goal: ≤ one extra push round trip.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

LATENCY = 0.3
GIT = ["git", "-c", "user.name=b", "-c", "user.email=b@b"]


@contextmanager
def _fakes(folder: Path) -> Iterator[tuple[dict[str, str], dict[str, Any]]]:
    """Every channel's fake at LATENCY: (environment, channels config)."""
    from testing import FakeSlack, FakeX
    from testing.fakes.fake_atlassian import DEFAULT_PAGE, FakeAtlassian
    from testing.fakes.fake_bluesky import FakeBluesky
    from testing.fakes.fake_discord import FakeDiscord
    from testing.fakes.fake_mastodon import FakeMastodon
    from testing.fakes.fake_teams import FakeTeams
    from testing.fakes.mailbox import FakeSmtp
    from testing.fakes.webhook_receiver import WebhookReceiver

    with ExitStack() as stack:
        slack, x = stack.enter_context(FakeSlack()), stack.enter_context(FakeX())
        mastodon, bluesky = stack.enter_context(FakeMastodon()), stack.enter_context(FakeBluesky())
        discord, teams = stack.enter_context(FakeDiscord()), stack.enter_context(FakeTeams())
        atlassian, hooks = stack.enter_context(FakeAtlassian()), stack.enter_context(WebhookReceiver())
        smtp = stack.enter_context(FakeSmtp())
        for fake in (slack, x, mastodon, bluesky, discord, teams, atlassian, hooks, smtp):
            fake.latency = LATENCY
        subscribers = folder / "webhooks.yaml"
        subscribers.write_text(f"- {{id: all, url: '{hooks.url('/hooks/all')}', secret: plain-shared-secret}}\n")
        env = {
            "SLACK_BOT_TOKEN": slack.token,
            "INCIDENTCTL_SLACK_API_URL": slack.url,
            "INCIDENTCTL_X_API_URL": x.url,
            **x.credentials,
            "MASTODON_ACCESS_TOKEN": mastodon.token,
            "BLUESKY_APP_PASSWORD": bluesky.password,
            "DISCORD_WEBHOOK_URL": discord.url,
            "TEAMS_WEBHOOK_URL": teams.url,
            "INCIDENTCTL_ATLASSIAN_API_URL": atlassian.url,
            "STATUSPAGE_API_KEY": atlassian.key,
            "INCIDENTCTL_WEBHOOK_SUBSCRIBERS": str(subscribers),
            "INCIDENTCTL_SMTP_URL": smtp.url,
        }
        channels = {
            "mastodon": {"instance": mastodon.url},
            "bluesky": {"handle": bluesky.account, "service": bluesky.url},
            "discord": {},
            "teams": {},
            "atlassian": {"page_id": DEFAULT_PAGE, "components": {"api": "cmpapi000001"}},
            "webhook": {},
            "email": {"from": "status@example.com", "to": ["oncall@example.com"]},
        }
        yield env, channels


def _repo(cli: list[str], path: Path, channels: dict[str, Any], push_to: Path | None = None) -> Path:
    from testing import modify_config

    subprocess.run(
        [*cli, "init", str(path), "--org", "Bench", "--component", "api:API"], check=True, capture_output=True
    )

    def edit(config: Any) -> None:
        config["channels"].pop("statuspage", None)  # no site build in these figures
        config["channels"].update(channels)
        if push_to is not None:
            config["git"]["push"] = True

    modify_config(path, edit)
    subprocess.run([*GIT, "commit", "-qam", "bench config"], cwd=path, check=True)
    if push_to is not None:
        subprocess.run(["git", "init", "-q", "--bare", str(push_to)], check=True)
        subprocess.run(["git", "remote", "add", "origin", str(push_to)], cwd=path, check=True)
        subprocess.run(["git", "push", "-q", "-u", "origin", "HEAD"], cwd=path, check=True, capture_output=True)
    return path


def _timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    return time.perf_counter() - started, done


def publish_all(cli: list[str], work: Path, repeat: int) -> dict[str, Any]:
    """Best-of-``repeat`` seconds of ``publish`` to every channel and to each channel alone."""
    names = ["slack", "x", "mastodon", "bluesky", "discord", "teams", "atlassian", "webhook", "email"]
    best: dict[str, float] = {}
    with _fakes(work) as (env, channels):
        for attempt in range(repeat):
            for label in ["all", *names]:
                repo = _repo(cli, work / f"pub-{label}-{attempt}", channels)
                incident = subprocess.run(
                    [*cli, "--repo", str(repo), "new", f"API down {label} {attempt}", "--severity", "sev1",
                     "-m", "Investigating."],
                    check=True, capture_output=True, text=True,
                ).stdout.strip()  # fmt: skip
                chosen = [] if label == "all" else ["--channel", label]
                seconds, done = _timed([*cli, "--repo", str(repo), "publish", incident, *chosen], repo, env)
                if done.returncode != 0:
                    raise SystemExit(f"publish failed in benchmark ({label}): {done.stderr.strip()[-400:]}")
                best[label] = min(best.get(label, seconds), seconds)
    slowest = max(names, key=lambda name: best[name])
    return {"all": best["all"], "slowest": best[slowest], "slowest_channel": slowest, "alone": best}


def claim(cli: list[str], work: Path, repeat: int) -> dict[str, Any]:
    """The claim's seconds (from ``publish --json``) against one commit + push round trip to the same remote."""
    claims: list[float] = []
    pushes: list[float] = []
    with _fakes(work) as (env, _):
        for attempt in range(repeat):
            repo = _repo(cli, work / f"claim-{attempt}", {}, push_to=work / f"remote-{attempt}.git")
            subprocess.run([*cli, "--repo", str(repo), "new", "API down", "--severity", "sev1", "-m", "Looking."],
                           check=True, capture_output=True, env={**os.environ, **env})  # fmt: skip
            _, done = _timed([*cli, "--repo", str(repo), "publish", "--json", "--channel", "slack"], repo, env)
            if done.returncode != 0:
                raise SystemExit(f"publish failed in the claim benchmark: {done.stderr.strip()[-400:]}")
            claims.append(float(json.loads(done.stdout)["claim_seconds"]))
            (repo / "floor.txt").write_text(f"{attempt}\n")
            started = time.perf_counter()
            subprocess.run([*GIT, "add", "floor.txt"], cwd=repo, check=True)
            subprocess.run([*GIT, "commit", "-qm", "floor"], cwd=repo, check=True)
            subprocess.run(["git", "push", "-q"], cwd=repo, check=True, capture_output=True)
            pushes.append(time.perf_counter() - started)
    return {"claim": min(claims), "push_round_trip": min(pushes), "claims": claims, "pushes": pushes}


BENCH: dict[str, Callable[[list[str], Path, int], dict[str, Any]]] = {"publish_all": publish_all, "claim": claim}

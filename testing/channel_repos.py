"""Helpers for the social channel tests (Discord, Teams, Mastodon, Bluesky): a repo with one channel,
a delivery left ``pending`` as a killed run leaves it, and a check that a secret went nowhere.

``from testing.channel_repos import channel_repo, three_entries, leave_pending, assert_secret_nowhere``."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from incidentctl.lifecycle import add_update, open_incident, resolve_incident
from incidentctl.model import Delivery
from incidentctl.store import Repo

from .repo import git, make_repo

T0 = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)


def channel_repo(path: Path, channel_line: str, *, status_url: bool = True) -> Repo:
    """A real incident repo whose only channels are ``channel_line`` (YAML, e.g. ``discord: {}``; several
    channels one per line). The config is edited as YAML (``testing.modify_config``), never as text."""
    import yaml

    channels = yaml.safe_load("\n".join(line.strip() for line in channel_line.splitlines()))
    assert isinstance(channels, dict), channel_line

    def edit(config: Any) -> None:
        config["channels"] = dict(channels)
        if status_url:
            # Present for incident links only; `--channel` keeps the site out of these runs.
            config["channels"]["statuspage"] = {"output": "site", "url": "https://status.example.com"}

    return make_repo(path, config=edit)


def three_entries(repo: Repo, message: str = "We are investigating elevated error rates on the API.") -> str:
    """An incident with an investigating post, an internal note, an update and a resolution."""
    change = open_incident(
        repo,
        "API unavailable",
        severity="sev1",
        components={"api": "major_outage"},
        message=message,
        next_update="30m",
        at=T0,
    )
    incident_id = change.incident.id
    add_update(
        repo, incident_id, message="Root cause: a bad deploy (internal).", internal=True, at=T0 + timedelta(minutes=5)
    )
    add_update(
        repo, incident_id, message="Fix identified; rolling back.", status="identified", at=T0 + timedelta(minutes=10)
    )
    resolve_incident(repo, incident_id, message="Error rates are back to normal.", at=T0 + timedelta(minutes=40))
    return incident_id


def leave_pending(repo: Repo, incident_id: str, channel: str, position: int, attempts: int = 1) -> None:
    """What a run killed after saving ``pending`` (attempts + 1) and before sending leaves behind."""
    incident = repo.load(incident_id)
    public = [index for index, entry in enumerate(incident.timeline) if entry.public]
    index = public[position]
    entry = incident.timeline[index]
    delivery = Delivery(state="pending", attempts=attempts, at=entry.at)
    entry = entry.model_copy(update={"deliveries": {**entry.deliveries, channel: delivery}})
    timeline = [*incident.timeline[:index], entry, *incident.timeline[index + 1 :]]
    repo.save(incident.model_copy(update={"timeline": timeline}))
    git(repo.root, "commit", "-qam", "test: a killed run's pending delivery")


def assert_secret_nowhere(root: Path, secret: str, *outputs: str) -> None:
    """The secret is in no output, no file of the repo and no commit."""
    for output in outputs:
        assert secret not in output
    for path in root.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    history = subprocess.run(["git", "log", "-p", "--all"], cwd=root, capture_output=True, text=True, check=True)
    assert secret not in history.stdout

"""Several channels publish from a process each (delivery/workers.py): the ledger stays in the parent.

Two plugin channels, registered through the real registry, log what they send to a file (their memory is
their own process's). The checks: each channel really ran in its own process; every record change is the
parent's (delivered refs on disk, one commit); a channel process killed right after its request landed leaves
the entry ``pending`` and reported (exit 3, never silent), the other channel is unharmed, and the next run asks
the channel, finds the post and adopts it: sent once, never twice.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from incidentctl.channels import BaseChannel, ConnectContext, Message, RenderContext, Sent, register, unregister
from incidentctl.lifecycle import add_update, open_incident
from incidentctl.store import Repo
from testing import git, make_repo


class FileLogSender:
    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.log = folder / f"{name}.log"
        self.kill = folder / f"{name}.kill"

    def _sent(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines()]

    def send(self, incident: Any, timeline_index: int, message: Message) -> Sent:
        with self.log.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"entry": timeline_index, "text": message.text, "pid": os.getpid()}) + "\n")
        if self.kill.exists():  # the request landed; the process dies before it can say so
            os.kill(os.getpid(), signal.SIGKILL)
        return Sent(ref=f"{self.name}-{os.getpid()}-{timeline_index}")

    def find_sent(self, incident: Any, timeline_index: int, message: Message) -> Sent | None:
        for item in self._sent():
            if item["entry"] == timeline_index and item["text"] == message.text:
                return Sent(ref=f"{self.name}-found-{timeline_index}")
        return None

    def finish(self, incident: Any, latest: Message | None) -> None:
        return None


class FileLogChannel(BaseChannel):
    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.folder = folder

    def render(self, context: RenderContext) -> Message:
        return Message(channel=self.name, text=f"{context.incident.title}: {context.entry.message}")

    def connect(self, context: ConnectContext) -> FileLogSender:
        return FileLogSender(self.name, self.folder)


@pytest.fixture
def channels(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "logs"
    folder.mkdir()
    made = [FileLogChannel("alpha", folder), FileLogChannel("beta", folder)]
    for channel in made:
        register(channel)
    try:
        yield folder
    finally:
        for channel in made:
            unregister(channel.name)


@pytest.fixture
def repo(tmp_path: Path, channels: Path) -> Repo:
    return make_repo(tmp_path / "status", config=lambda config: config["channels"].update(alpha={}, beta={}))


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def _publish(cli: Callable[..., Any], repo: Repo) -> tuple[int, dict[str, Any]]:
    result = cli("publish", "--json", "--channel", "alpha", "--channel", "beta", repo=repo.root)
    return result.exit_code, json.loads(result.stdout)


def test_each_channel_sends_from_its_own_process_and_the_parent_keeps_the_records(
    repo: Repo, channels: Path, cli: Callable[..., Any]
) -> None:
    incident_id = open_incident(repo, "API down", severity="sev1", message="Looking.").incident.id
    add_update(repo, incident_id, message="Rolling back.")
    code, report = _publish(cli, repo)
    assert code == 0, report
    alpha, beta = _lines(channels / "alpha.log"), _lines(channels / "beta.log")
    assert [item["entry"] for item in alpha] == [0, 1] and [item["entry"] for item in beta] == [0, 1]
    pids = {item["pid"] for item in alpha} | {item["pid"] for item in beta}
    assert len(pids) == 2 and os.getpid() not in pids, "one process per channel, none of them this one"
    record = repo.load(incident_id)
    assert [entry.deliveries["alpha"].state for entry in record.timeline] == ["delivered", "delivered"]
    assert [entry.deliveries["beta"].ref for entry in record.timeline] == [
        f"beta-{beta[0]['pid']}-0",
        f"beta-{beta[0]['pid']}-1",
    ]
    assert git(repo.root, "status", "--porcelain") == ""
    assert sorted((d["channel"], d["state"]) for d in report["deliveries"]) == [
        ("alpha", "delivered"), ("alpha", "delivered"), ("beta", "delivered"), ("beta", "delivered"),
    ]  # fmt: skip
    code, report = _publish(cli, repo)
    assert code == 0 and report["deliveries"] == []
    assert len(_lines(channels / "alpha.log")) == 2 and len(_lines(channels / "beta.log")) == 2


def test_a_channel_process_killed_after_its_request_is_reported_then_adopted_never_resent(
    repo: Repo, channels: Path, cli: Callable[..., Any]
) -> None:
    incident_id = open_incident(repo, "API down", severity="sev1", message="Looking.").incident.id
    (channels / "beta.kill").touch()
    code, report = _publish(cli, repo)
    assert code == 3, "an entry left pending is a failure to report, never a silent skip"
    by_channel = {d["channel"]: d for d in report["deliveries"]}
    assert by_channel["alpha"]["state"] == "delivered"
    assert by_channel["beta"]["state"] == "pending" and by_channel["beta"]["attempts"] == 1
    assert "stopped by signal 9" in by_channel["beta"]["error"] and "stays pending" in by_channel["beta"]["error"]
    assert any("beta: the channel's run stopped" in warning for warning in report["warnings"])
    delivery = repo.load(incident_id).timeline[0].deliveries["beta"]
    assert (delivery.state, delivery.attempts) == ("pending", 1)
    assert len(_lines(channels / "beta.log")) == 1, "the request landed before the kill"

    (channels / "beta.kill").unlink()
    code, report = _publish(cli, repo)
    assert code == 0, report
    (again,) = report["deliveries"]
    assert (again["channel"], again["state"], again["reconciled"]) == ("beta", "delivered", True)
    assert len(_lines(channels / "beta.log")) == 1, "asked, found, adopted: not sent twice"
    assert len(_lines(channels / "alpha.log")) == 1
    assert repo.load(incident_id).timeline[0].deliveries["beta"].ref == "beta-found-0"
    assert git(repo.root, "status", "--porcelain") == ""

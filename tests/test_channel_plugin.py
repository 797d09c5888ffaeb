"""A third-party channel, registered through the real registry, gets the engine for free.

"recorder" is a plugin as an outside package would write it (no incidentctl code changes): its own
settings model, secret and template (a repo override in ``templates/``). Through the real
``incidentctl publish`` command it gets templates, retries, the delivery ledger (delivered state
committed, never re-sent) and ``--dry-run``, and its config errors name the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from incidentctl.channels import (
    BaseChannel,
    ConnectContext,
    Message,
    RenderContext,
    RetryPolicy,
    Secret,
    SendError,
    Sent,
    register,
    unregister,
    use_retry_policy,
)
from incidentctl.channels.base import ChannelSettings
from incidentctl.config import channel_enabled, load_config
from incidentctl.lifecycle import add_update, open_incident
from incidentctl.store import Repo
from testing import git, make_repo

TOKEN = "RECORDER_TOKEN"


class RecorderSettings(ChannelSettings):
    room: str = "#ops"


class RecorderSender:
    def __init__(self, log: list[dict[str, Any]], fail_first: int, room: str) -> None:
        self.log = log
        self.failures_left = fail_first
        self.room = room

    def send(self, incident: Any, timeline_index: int, message: Message) -> Sent:
        self.log.append({"attempt": message.text})
        if self.failures_left > 0:
            self.failures_left -= 1
            raise SendError("recorder: 503 try again", retry_after=0.0)
        self.log.append({"sent": message.text, "room": self.room, "entry": timeline_index})
        return Sent(ref=f"rec-{sum(1 for item in self.log if 'sent' in item)}")

    def find_sent(self, incident: Any, timeline_index: int, message: Message) -> Sent | None:
        return None

    def finish(self, incident: Any, latest: Message | None) -> None:
        self.log.append({"finished": incident.id})


class RecorderChannel(BaseChannel):
    name = "recorder"
    settings_model = RecorderSettings
    secrets = (Secret(TOKEN, "export the recorder token (ask #ops)"),)

    def __init__(self) -> None:
        self.log: list[dict[str, Any]] = []
        self.fail_first = 0
        self.contexts: list[ConnectContext] = []

    def render(self, context: RenderContext) -> Message:
        return Message(channel=self.name, text=context.render_template("recorder.txt.j2").strip())

    def connect(self, context: ConnectContext) -> RecorderSender:
        self.contexts.append(context)
        return RecorderSender(self.log, self.fail_first, context.settings.room)


@pytest.fixture
def recorder() -> Iterator[RecorderChannel]:
    channel = RecorderChannel()
    register(channel)
    try:
        yield channel
    finally:
        unregister(channel.name)


@pytest.fixture
def plugin_repo(tmp_path: Path, recorder: RecorderChannel) -> Repo:
    repo = make_repo(
        tmp_path / "status", config=lambda config: config["channels"].update(recorder={"room": "#war-room"})
    )
    (repo.root / "templates").mkdir(exist_ok=True)
    (repo.root / "templates" / "recorder.txt.j2").write_text(
        "[{{ update_number }}] {{ incident.title }} ({{ status|status_label }}): {{ entry.message }}\n",
        encoding="utf-8",
    )
    git(repo.root, "add", "-A")
    git(repo.root, "commit", "-qm", "recorder template")
    return repo


def _open(repo: Repo) -> str:
    return open_incident(
        repo, "API unavailable", severity="sev1", components={"api": "major_outage"}, message="Looking into it."
    ).incident.id


def test_a_plugin_channel_gets_templates_retries_ledger_and_dry_run(
    plugin_repo: Repo, recorder: RecorderChannel, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = plugin_repo
    incident_id = _open(repo)
    add_update(repo, incident_id, message="Rolling back.")

    # Not enabled without its declared secret; the message is the channel's own fix.
    assert not channel_enabled(repo.config, "recorder")
    refused = cli("publish", "--channel", "recorder", repo=repo.root)
    assert refused.exit_code == 3  # SPEC: a configured channel that is not usable is named, exit 3
    assert f"recorder: {TOKEN} is not set: export the recorder token (ask #ops)" in refused.stderr

    # --dry-run: rendered from the repo's own template, nothing sent, no secret needed.
    dry = cli("publish", "--dry-run", "--json", "--channel", "recorder", repo=repo.root)
    assert dry.exit_code == 0, dry.output
    previews = json.loads(dry.stdout)["previews"]
    assert [p["text"] for p in previews] == [
        "[1] API unavailable (Investigating): Looking into it.",
        "[2] API unavailable (Investigating): Rolling back.",
    ]
    assert recorder.log == [] and recorder.contexts == []

    # The real run: the first send fails twice with a retryable error, then succeeds.
    monkeypatch.setenv(TOKEN, "s3cret-recorder-token")
    recorder.fail_first = 2
    sleeps: list[float] = []
    with use_retry_policy(RetryPolicy(base_delay=0.01, sleep=sleeps.append)):
        result = cli("publish", "--json", "--channel", "recorder", repo=repo.root)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(d["channel"], d["state"], d["attempts"]) for d in report["deliveries"]] == [
        ("recorder", "delivered", 3),
        ("recorder", "delivered", 1),
    ]
    assert len(sleeps) == 2, "two backoffs, through the injected policy's sleep"
    sent = [item for item in recorder.log if "sent" in item]
    assert [item["sent"] for item in sent] == [p["text"] for p in previews]
    assert {item["room"] for item in sent} == {"#war-room"}, "validated settings reach the sender"
    assert [item["entry"] for item in sent] == [0, 1], "timeline indexes"
    assert recorder.log[-1] == {"finished": incident_id}
    (context,) = recorder.contexts
    assert context.repo.root == repo.root and context.retry.policy.base_delay == 0.01

    # The ledger: delivered with the sender's ref, committed, clean tree.
    record = repo.load(incident_id)
    assert [e.deliveries["recorder"].state for e in record.timeline] == ["delivered", "delivered"]
    assert [e.deliveries["recorder"].ref for e in record.timeline] == ["rec-1", "rec-2"]
    assert git(repo.root, "status", "--porcelain") == ""
    assert "published (recorder: 2 delivered)" in git(repo.root, "log", "-1", "--format=%s")

    # A second publish sends nothing again.
    before = len(recorder.log)
    again = cli("publish", "--channel", "recorder", repo=repo.root)
    assert again.exit_code == 0
    assert "nothing to publish" in again.stderr
    assert len(recorder.log) == before


def test_plugin_settings_are_validated_with_file_and_line(tmp_path: Path, recorder: RecorderChannel) -> None:
    repo = make_repo(tmp_path / "status")
    path = repo.root / "incidentctl.yaml"
    path.write_text(
        path.read_text().replace("channels:\n", "channels:\n  recorder:\n    rooom: '#typo'\n"), encoding="utf-8"
    )
    from incidentctl.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_config(repo.root)
    line = next(
        number
        for number, text in enumerate((repo.root / "incidentctl.yaml").read_text().splitlines(), 1)
        if "rooom" in text
    )
    assert (
        str(caught.value)
        == f"{repo.root / 'incidentctl.yaml'}:{line}: channels.recorder.rooom: unknown field (check the spelling)"
    )


def test_built_ins_come_from_the_same_entry_point_group() -> None:
    from importlib.metadata import entry_points

    from incidentctl.channels import ENTRY_POINT_GROUP, channel_names, get_channel

    declared = {point.name: point.value for point in entry_points(group=ENTRY_POINT_GROUP)}
    assert {"slack", "x", "statuspage"} <= set(declared)
    assert {"slack", "x", "statuspage"} <= set(channel_names())
    for name in ("slack", "x", "statuspage"):
        assert get_channel(name).name == name


class UnsureSender(RecorderSender):
    """Its request may land without an answer (``maybe_sent``); asking whether it did raises a bug's exception
    until ``checks_work`` is set, then finds it."""

    checks_work = False

    def send(self, incident: Any, timeline_index: int, message: Message) -> Sent:
        self.log.append({"sent": message.text, "entry": timeline_index})
        raise SendError("recorder: read timed out", retry_after=0.0, maybe_sent=True)

    def find_sent(self, incident: Any, timeline_index: int, message: Message) -> Sent | None:
        if not UnsureSender.checks_work:
            raise KeyError("a plugin bug in find_sent")
        return Sent(ref="rec-found")


def test_a_check_that_fails_is_never_a_blind_resend(
    plugin_repo: Repo, recorder: RecorderChannel, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's rule for every channel: after a send that may have landed, a resend needs a "no" from
    ``find_sent``. A check that raises (a plugin bug here, a refused lookup elsewhere) sends nothing more: the
    entry is recorded failed, tried once, and the next run asks again before anything else."""
    monkeypatch.setenv(TOKEN, "s3cret-recorder-token")
    monkeypatch.setattr(recorder, "connect", lambda context: UnsureSender(recorder.log, 0, "#ops"))
    incident_id = _open(plugin_repo)
    with use_retry_policy(RetryPolicy(base_delay=0.01, max_attempts=4)):
        first = cli("publish", "--json", "--channel", "recorder", repo=plugin_repo.root)
        assert first.exit_code == 3
        (delivery,) = json.loads(first.stdout)["deliveries"]
        assert (delivery["state"], delivery["attempts"]) == ("failed", 1)
        assert "KeyError" in delivery["error"] and "nothing was resent" in delivery["error"]
        assert len([item for item in recorder.log if "sent" in item]) == 1, "sent once, never resent blind"

        second = cli("publish", "--json", "--channel", "recorder", repo=plugin_repo.root)
        assert second.exit_code == 3 and len([item for item in recorder.log if "sent" in item]) == 1
        monkeypatch.setattr(UnsureSender, "checks_work", True)
        third = cli("publish", "--json", "--channel", "recorder", repo=plugin_repo.root)
    assert third.exit_code == 0, third.output
    (delivery,) = json.loads(third.stdout)["deliveries"]
    assert (delivery["state"], delivery["reconciled"]) == ("delivered", True)
    assert len([item for item in recorder.log if "sent" in item]) == 1
    assert plugin_repo.load(incident_id).timeline[0].deliveries["recorder"].ref == "rec-found"

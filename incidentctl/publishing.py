"""Publishing: deliver every public entry not yet delivered, on every enabled channel, exactly once.

Data flows one way: record → render → send → record the delivery → commit. For each send the
delivery is saved as ``pending`` (attempts + 1) *before* the request and as ``delivered``/``failed``
after it, so a crash in between leaves a ``pending`` delivery with attempts > 0: the next run asks
the channel whether that attempt landed (Slack: our metadata marker in the thread; X: its duplicate
rule) before sending again.

Channels run in parallel (one thread each) and never block each other; within a channel the
incident's entries go out in time order, and a failure stops that channel for that incident until
the next run (a reply cannot go out before the post it replies to).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .config import channel_enabled, secret_values
from .durations import isoformat_z, utcnow
from .errors import ConfigError, IncidentctlError, PushError, UsageError
from .model import Delivery, Incident

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

    from .publishers.base import Message, Publisher, Sender
    from .store import Repo


@dataclass(frozen=True)
class Preview:
    """What one channel would receive for one entry (``--dry-run``, the demo)."""

    channel: str
    incident_id: str
    at: datetime
    kind: str
    """``post`` (a new message/thread), ``reply`` (in the incident's thread) or ``edit`` (Slack's root)."""
    text: str
    payload: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.incident_id,
            "at": isoformat_z(self.at),
            "channel": self.channel,
            "kind": self.kind,
            "text": self.text,
            "payload": self.payload,
        }


@dataclass
class DeliveryResult:
    """The outcome of one entry on one channel in this run."""

    incident_id: str
    at: datetime
    channel: str
    state: str
    ref: str | None
    attempts: int
    error: str | None
    reconciled: bool = False
    """Found already posted by an interrupted earlier run: adopted, not sent again."""
    fatal: bool = False
    """The channel itself failed (bad token, unknown channel): its other sends were not tried."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.incident_id,
            "at": isoformat_z(self.at),
            "channel": self.channel,
            "state": self.state,
            "ref": self.ref,
            "attempts": self.attempts,
            "error": self.error,
            "reconciled": self.reconciled,
        }


@dataclass
class PublishReport:
    """Everything one ``publish`` did (or, for a dry run, would do)."""

    dry_run: bool = False
    deliveries: list[DeliveryResult] = field(default_factory=list)
    previews: list[Preview] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)
    push_error: PushError | None = None

    @property
    def failed(self) -> int:
        return sum(1 for result in self.deliveries if result.state != "delivered")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"dry_run": self.dry_run}
        if self.dry_run:
            data["previews"] = [preview.to_json() for preview in self.previews]
        data["deliveries"] = [result.to_json() for result in self.deliveries]
        data["failed"] = self.failed
        data["warnings"] = list(self.warnings)
        return data


# -- rendering ------------------------------------------------------------------------------------


def _public_indexes(incident: Incident) -> list[int]:
    return [index for index, entry in enumerate(incident.timeline) if entry.public]


def _render(
    publisher: Publisher, view: Incident, view_index: int, repo: Repo, env: SandboxedEnvironment, purpose: str = "entry"
) -> Message:
    from .publishers.base import RenderContext

    context = RenderContext(
        incident=view, entry=view.timeline[view_index], index=view_index, config=repo.config, env=env, purpose=purpose
    )
    return publisher.render(context)


def _kind(view_index: int) -> str:
    return "post" if view_index == 0 else "reply"


def _summary_preview(publisher: Publisher, view: Incident, repo: Repo, env: SandboxedEnvironment) -> Preview | None:
    """Slack edits its root message to the incident's current state: show that edit too."""
    if publisher.name != "slack" or len(view.timeline) < 2:
        return None
    message = _render(publisher, view, len(view.timeline) - 1, repo, env, purpose="summary")
    return Preview(publisher.name, view.id, view.timeline[-1].at, "edit", message.text, message.payload)


def preview(repo: Repo, incident: Incident, channels: Sequence[str] | None = None) -> list[Preview]:
    """What every configured channel receives for every public entry of ``incident``.

    Needs no credentials and makes no network call. ``demo`` uses this; ``publish --dry-run``
    shows the same messages for the entries it would send.
    """
    from .publishers.base import get_publisher
    from .render import environment

    env = environment(repo.root, repo.config)
    view = incident.public_view()
    if not incident.public_entries:
        return []
    previews: list[Preview] = []
    for channel in channels or repo.config.configured_channels():
        publisher = get_publisher(channel)
        for view_index, entry in enumerate(view.timeline):
            message = _render(publisher, view, view_index, repo, env)
            previews.append(Preview(channel, incident.id, entry.at, _kind(view_index), message.text, message.payload))
        summary = _summary_preview(publisher, view, repo, env)
        if summary is not None:
            previews.append(summary)
    return previews


# -- planning -------------------------------------------------------------------------------------


def _channels(repo: Repo, requested: Sequence[str] | None, dry_run: bool) -> list[str]:
    configured = repo.config.configured_channels()
    if requested:
        for name in requested:
            if name not in configured:
                shown = ", ".join(configured) or "none"
                raise UsageError(f"--channel {name}: not configured in incidentctl.yaml (configured: {shown})")
        chosen = list(dict.fromkeys(requested))
        if not dry_run:
            for name in chosen:
                if not channel_enabled(repo.config, name):
                    raise ConfigError(_missing_secrets(name))
        return chosen
    if dry_run:
        return configured
    return [name for name in configured if channel_enabled(repo.config, name)]


def _missing_secrets(channel: str) -> str:
    from .config import SLACK_SECRET, X_SECRETS

    if channel == "slack":
        return f"slack: {SLACK_SECRET} is not set: export the bot token (xoxb-...) to publish to Slack"
    if channel == "x":
        return f"x: set {', '.join(X_SECRETS)} to publish to X"
    return f"{channel}: the channel is not enabled"


def _plan(incident: Incident, channel: str, explicit: bool) -> list[int]:
    """Timeline indexes to send on ``channel``, in order.

    Entries with no delivery record for the channel are added when the incident is open, named
    explicitly, or already partly published there; a resolved incident that never went to a newly
    enabled channel is left alone (no backfill of old history).
    """
    indexes = _public_indexes(incident)
    known = [incident.timeline[index].deliveries.get(channel) for index in indexes]
    if not any(known) and not incident.is_open and not explicit:
        return []
    return [
        index
        for index, delivery in zip(indexes, known, strict=True)
        if delivery is None or delivery.state != "delivered"
    ]


# -- the run --------------------------------------------------------------------------------------


def _scrub(text: str) -> str:
    for value in secret_values():
        text = text.replace(value, "***")
    return " ".join(text.split())[:500]


class _Records:
    """The run's copy of each record; every change is saved at once, one writer at a time."""

    def __init__(self, repo: Repo, incidents: list[Incident]) -> None:
        self.repo = repo
        self.current = {incident.id: incident for incident in incidents}
        self.changed: dict[str, dict[str, dict[str, int]]] = {}
        self.lock = threading.Lock()

    def get(self, incident_id: str) -> Incident:
        with self.lock:
            return self.current[incident_id]

    def update(self, incident_id: str, index: int, channel: str, **changes: Any) -> Delivery:
        with self.lock:
            incident = self.current[incident_id]
            entry = incident.timeline[index]
            delivery = entry.deliveries.get(channel) or Delivery()
            delivery = delivery.model_copy(update=changes)
            entry = entry.model_copy(update={"deliveries": {**entry.deliveries, channel: delivery}})
            timeline = [*incident.timeline[:index], entry, *incident.timeline[index + 1 :]]
            incident = incident.model_copy(update={"timeline": timeline})
            self.current[incident_id] = incident
            self.repo.save(incident)
            return delivery

    def count(self, incident_id: str, channel: str, state: str) -> None:
        with self.lock:
            counts = self.changed.setdefault(incident_id, {}).setdefault(channel, {})
            counts[state] = counts.get(state, 0) + 1


def publish(
    repo: Repo,
    incident_ids: Sequence[str] | None = None,
    channels: Sequence[str] | None = None,
    dry_run: bool = False,
) -> PublishReport:
    """Deliver every public entry not yet delivered (of ``incident_ids``, else all incidents).

    ``channels`` narrows to those channels; ``dry_run`` renders what would be sent and sends
    nothing (no credentials needed). Failures are recorded in the report and in the records:
    check ``report.failed``.
    """
    from .publishers.base import get_publisher
    from .render import environment

    report = PublishReport(dry_run=dry_run)
    chosen = _channels(repo, channels, dry_run)
    explicit = incident_ids is not None
    ids = [repo.resolve_id(value) for value in incident_ids] if incident_ids is not None else repo.ids()
    ids = list(dict.fromkeys(ids))
    if not chosen or not ids:
        if not chosen:
            report.warnings.append(
                "no channel is enabled: configure channels in incidentctl.yaml and set their secrets"
            )
        return report
    publishers = {name: get_publisher(name) for name in chosen}
    env = environment(repo.root, repo.config)

    if dry_run:
        for incident_id in ids:
            incident = repo.load(incident_id)
            view = incident.public_view()
            positions = {full: view_index for view_index, full in enumerate(_public_indexes(incident))}
            for name, publisher in publishers.items():
                plan = _plan(incident, name, explicit)
                for index in plan:
                    message = _render(publisher, view, positions[index], repo, env)
                    kind = _kind(positions[index])
                    report.previews.append(
                        Preview(name, incident.id, incident.timeline[index].at, kind, message.text, message.payload)
                    )
                if plan:
                    summary = _summary_preview(publisher, view, repo, env)
                    if summary is not None:
                        report.previews.append(summary)
        return report

    with repo.lock():
        incidents = [repo.load(incident_id) for incident_id in ids]
        records = _Records(repo, incidents)
        plans: dict[str, list[tuple[str, list[int]]]] = {name: [] for name in chosen}
        for incident in incidents:
            for name in chosen:
                plan = _plan(incident, name, explicit)
                if not plan:
                    continue
                plans[name].append((incident.id, plan))
                for index in plan:
                    if name not in incident.timeline[index].deliveries:
                        records.update(incident.id, index, name, state="pending")
        threads = [
            threading.Thread(
                daemon=True,  # ^C ends the run; a send in flight is reconciled by the next one
                target=_run_channel,
                args=(publishers[name], plans[name], records, repo, env, report),
                name=f"publish-{name}",
            )
            for name in chosen
            if plans[name]
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        report.deliveries.sort(
            key=lambda result: (ids.index(result.incident_id), result.at, chosen.index(result.channel))
        )
        _commit(repo, records, ids, chosen, report)
    return report


def _run_channel(
    publisher: Publisher,
    plan: list[tuple[str, list[int]]],
    records: _Records,
    repo: Repo,
    env: SandboxedEnvironment,
    report: PublishReport,
) -> None:
    """Send one channel's entries in order; never raises (failures are recorded)."""
    from . import publishers
    from .publishers.base import RetryBudget, SendError

    settings = publishers.base
    budget = RetryBudget(
        seconds=settings.RETRY_BUDGET_SECONDS,
        max_attempts=settings.MAX_ATTEMPTS,
        base_delay=settings.BASE_DELAY_SECONDS,
    )
    name = publisher.name
    sender: Sender | None = None
    fatal: str | None = None
    try:
        sender = publisher.connect(repo.config, budget)
        bind = getattr(sender, "bind_repo", None)
        if callable(bind):
            bind(repo)  # optional: senders that work on the repo itself (the status page)
    except IncidentctlError as exc:
        fatal = _scrub(str(exc))
    except Exception as exc:  # noqa: BLE001 - a plugin's bug must not stop the other channels
        fatal = _scrub(f"{name}: cannot connect: {type(exc).__name__}: {exc}")

    for incident_id, indexes in plan:
        incident = records.get(incident_id)
        view = incident.public_view()
        positions = {full: view_index for view_index, full in enumerate(_public_indexes(incident))}
        delivered_any = False
        for index in indexes:
            if fatal is not None or sender is None:
                _record_failure(
                    records, report, incident_id, index, name, fatal or f"{name}: not connected", tried=False
                )
                break
            try:
                message = _render(publisher, view, positions[index], repo, env)
            except IncidentctlError as exc:
                _record_failure(records, report, incident_id, index, name, _scrub(str(exc)), tried=False)
                break
            outcome = _deliver(sender, records, incident_id, index, name, message, budget)
            report.deliveries.append(outcome)
            records.count(incident_id, name, outcome.state)
            if outcome.state == "delivered":
                delivered_any = True
                continue
            if outcome.fatal:
                fatal = outcome.error
            break
        if delivered_any and sender is not None and len(positions) > 1:
            current = records.get(incident_id)
            current_view = current.public_view()
            try:
                summary = _render(publisher, current_view, len(current_view.timeline) - 1, repo, env, purpose="summary")
                sender.finish(current, summary)
            except SendError as exc:
                report.warnings.append(f"{incident_id}: {_scrub(str(exc))} (could not update the first message)")
            except IncidentctlError as exc:
                report.warnings.append(f"{incident_id}: {_scrub(str(exc))}")
            except Exception as exc:  # noqa: BLE001
                report.warnings.append(f"{incident_id}: {name}: {_scrub(f'{type(exc).__name__}: {exc}')}")


def _record_failure(
    records: _Records, report: PublishReport, incident_id: str, index: int, channel: str, error: str, *, tried: bool
) -> None:
    delivery = records.update(incident_id, index, channel, state="failed", error=error, at=utcnow())
    entry = records.get(incident_id).timeline[index]
    report.deliveries.append(
        DeliveryResult(incident_id, entry.at, channel, "failed", delivery.ref, delivery.attempts, error)
    )
    records.count(incident_id, channel, "failed")


def _deliver(
    sender: Sender, records: _Records, incident_id: str, index: int, channel: str, message: Message, budget: Any
) -> DeliveryResult:
    """One entry on one channel: reconcile an interrupted attempt, then send with retries."""
    from .publishers.base import SendError, Sent, with_retries

    incident = records.get(incident_id)
    entry = incident.timeline[index]
    before = entry.deliveries.get(channel) or Delivery()

    def adopt(sent: Sent, attempts: int, reconciled: bool) -> DeliveryResult:
        delivery = records.update(
            incident_id, index, channel, state="delivered", ref=sent.ref, refs=list(sent.refs), error=None,
            attempts=attempts, at=utcnow(),
        )  # fmt: skip
        return DeliveryResult(
            incident_id, entry.at, channel, "delivered", delivery.ref, delivery.attempts, None, reconciled
        )

    try:
        # An earlier attempt (crashed run, or a failure after the request went out) may have landed.
        if before.attempts > 0:
            found = sender.find_sent(records.get(incident_id), index, message)
            if found is not None:
                return adopt(found, before.attempts, True)
    except SendError:
        pass  # cannot check now: fall through and send; the channel's own rule (X duplicates) still guards
    except Exception:  # noqa: BLE001, S110 - same: a failed check must not stop the send
        pass

    attempts = before.attempts

    def mark_pending(_attempt: int) -> None:
        nonlocal attempts
        attempts += 1
        records.update(incident_id, index, channel, state="pending", attempts=attempts, at=utcnow())

    def send() -> Sent:
        try:
            return sender.send(records.get(incident_id), index, message)
        except SendError:
            raise
        except IncidentctlError as exc:
            raise SendError(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - a publisher bug becomes a recorded failure
            raise SendError(f"{channel}: {type(exc).__name__}: {exc}") from None

    def check(_exc: SendError) -> Sent | None:
        return sender.find_sent(records.get(incident_id), index, message)

    try:
        sent, _ = with_retries(send, budget, on_attempt=mark_pending, before_retry=check)
    except SendError as exc:
        error = _scrub(str(exc))
        changes: dict[str, Any] = {"state": "failed", "error": error, "attempts": attempts, "at": utcnow()}
        if exc.partial_refs:
            changes["refs"] = list(exc.partial_refs)
        delivery = records.update(incident_id, index, channel, **changes)
        return DeliveryResult(
            incident_id, entry.at, channel, "failed", delivery.ref, delivery.attempts, error, fatal=exc.fatal
        )
    return adopt(sent, attempts, False)


def _uncommitted(repo: Repo, ids: list[str]) -> set[str]:
    """Records with changes not yet committed: deliveries a killed earlier run saved but never committed."""
    from . import gitops

    if not repo.config.git.commit or not gitops.is_git_repo(repo.root):
        return set()
    try:
        dirty = set(gitops.dirty_paths(repo.root))
    except Exception:  # noqa: BLE001 - only an optimisation of what gets committed; the commit reports errors
        return set()
    return {incident_id for incident_id in ids if f"{repo.incidents_dir.name}/{incident_id}.yaml" in dirty}


def _commit(repo: Repo, records: _Records, ids: list[str], channels: list[str], report: PublishReport) -> None:
    """One commit per incident that changed: ``<id>: published (slack: 2 delivered; x: 1 failed)``.

    A record an interrupted run changed (deliveries saved, then killed before the commit) is committed
    too, even with nothing left to send: other clones must see those deliveries or they would resend.
    """
    from .lifecycle import Change, commit_paths

    leftover = _uncommitted(repo, ids)
    for incident_id in ids:
        counts = records.changed.get(incident_id)
        incident = records.current[incident_id]
        if counts is None and incident_id not in leftover:
            continue
        parts = []
        for channel, states in sorted((counts or {}).items(), key=lambda item: channels.index(item[0])):
            described = ", ".join(f"{number} {state}" for state, number in sorted(states.items()))
            parts.append(f"{channel}: {described}")
        described_run = "; ".join(parts) or "deliveries recorded by an interrupted run"
        change = Change(incident=incident, paths=[repo.record_path(incident_id)], summary="published")
        try:
            commit_paths(repo, change, f"{incident_id}: published ({described_run})")
        except PushError as exc:
            report.push_error = exc
            continue
        except IncidentctlError as exc:
            report.warnings.append(_scrub(str(exc)))
            continue
        if change.commit:
            report.commits.append(change.commit)
        report.warnings.extend(change.notes)
        if change.push_error is not None:
            report.push_error = change.push_error

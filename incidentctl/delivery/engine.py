"""Publishing: deliver every public entry not yet delivered, on every enabled channel, exactly once.

Data flows one way: record → render → send → record the delivery → commit. For each send the
delivery is saved as ``pending`` (attempts + 1) *before* the request and as ``delivered``/``failed``
after it, so a crash in between leaves a ``pending`` delivery with attempts > 0: the next run asks
the channel whether that attempt landed (``Sender.find_sent``) before sending again.

Channels run in parallel (a process or a thread each: :mod:`.workers`) and never block each other;
within a channel the incident's entries go out in time order, and a failure stops that channel for
that incident until the next run (a reply cannot go out before the post it replies to).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..channels.base import Preview
from ..config import secret_values
from ..durations import isoformat_z, utcnow
from ..errors import IncidentctlError, PushError
from ..model import Delivery
from .claims import claim_round, uses_claims
from .ledger import DeliveryResult, Ledger, commit_ledger
from .plan import (
    channel_view,
    choose_channels,
    dry_run_previews,
    plan_entries,
    public_timeline_indexes,
    render_entry,
)
from .workers import Job, LedgerAccess, Sink, run_channels

#: How ``publish`` settles sends cut off on a channel that cannot confirm them (see ``_deliver``).
Interrupted = Literal["resend", "mark-sent"]

if TYPE_CHECKING:
    from ..channels.base import Channel, Message, ProgressHook, RetryBudget, RetryPolicy, Sender
    from ..model import Incident
    from ..store import Repo
    from ..templating import Templates


@dataclass
class PublishReport:
    """Everything one ``publish`` did (or, for a dry run, would do)."""

    dry_run: bool = False
    deliveries: list[DeliveryResult] = field(default_factory=list)
    previews: list[Preview] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)
    push_error: PushError | None = None
    invalid: list[str] = field(default_factory=list)
    """``path:line: message`` of each invalid record skipped by a ``publish`` of every incident (exit 3)."""
    unusable: list[str] = field(default_factory=list)
    """Channels configured in incidentctl.yaml but not usable (what is missing): never skipped silently."""
    claim_seconds: float = 0.0
    """Time spent claiming sends on the remote (``git.push`` on)."""

    @property
    def failed(self) -> int:
        return sum(1 for result in self.deliveries if result.state not in ("delivered", "built"))

    @property
    def exit_code(self) -> int:
        """3 when a delivery failed, a configured channel was unusable or a record was invalid, else 0."""
        return 3 if self.failed or self.unusable or self.invalid else 0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"dry_run": self.dry_run}
        if self.dry_run:
            data["previews"] = [preview.to_json() for preview in self.previews]
        data["deliveries"] = [result.to_json() for result in self.deliveries]
        data["failed"] = self.failed
        data["unusable_channels"] = list(self.unusable)
        data["warnings"] = list(self.warnings)
        data["invalid"] = list(self.invalid)
        if self.claim_seconds:
            data["claim_seconds"] = round(self.claim_seconds, 3)
        return data


def _scrub(text: str) -> str:
    for value in secret_values():
        text = text.replace(value, "***")
    return " ".join(text.split())[:500]


def publish(
    repo: Repo,
    incident_ids: Sequence[str] | None = None,
    channels: Sequence[str] | None = None,
    dry_run: bool = False,
    *,
    retry: RetryPolicy | None = None,
    interrupted: Interrupted | None = None,
) -> PublishReport:
    """Deliver every public entry not yet delivered (of ``incident_ids``, else all incidents).

    ``channels`` narrows to those channels; ``dry_run`` renders what would be sent and sends
    nothing (no credentials needed). ``retry`` overrides the retry policy (default:
    :func:`~incidentctl.channels.base.current_retry_policy`). Failures are recorded in the report
    and in the records: check ``report.failed``. ``interrupted`` settles sends cut off on a channel that
    cannot be asked whether they landed (``resend`` them, or ``mark-sent``); without it they are reported.
    """
    from ..channels.base import current_retry_policy
    from ..channels.registry import get_channel
    from ..templating import templates_for

    report = PublishReport(dry_run=dry_run)
    policy = retry or current_retry_policy()  # first: a bad $INCIDENTCTL_REQUEST_TIMEOUT is refused before anything
    chosen, report.unusable = choose_channels(repo, channels, dry_run)
    explicit = incident_ids is not None
    ids = [repo.resolve_id(value) for value in incident_ids] if incident_ids is not None else repo.ids()
    ids = list(dict.fromkeys(ids))
    syncing = not dry_run and uses_claims(repo)  # the records may change when catching up
    if not chosen or (not ids and not syncing):
        if not chosen and not report.unusable:
            report.warnings.append(
                "no channel is enabled: configure channels in incidentctl.yaml and set their secrets"
            )
        if not syncing:
            return report
        with repo.transaction(None) as tx:  # nothing to send: still push what an earlier run stranded
            pass
        report.push_error = tx.push_error
        return report
    by_name = {name: get_channel(name) for name in chosen}
    templates = templates_for(repo.root, repo.config)

    if dry_run:
        if not explicit:
            ids = [incident.id for incident in _valid_incidents(repo, ids, report)]
        report.previews.extend(dry_run_previews(repo, ids, by_name, explicit, templates))
        return report

    with repo.transaction(None) as tx:  # the per-repo lock; catches up with the remote first
        if tx.sync_error:
            report.warnings.append(f"could not catch up with {repo.config.git.remote}: {_scrub(tx.sync_error)}")
        if incident_ids is None:
            ids = repo.ids()  # after catching up: incidents opened elsewhere are published too

        def load_all() -> list[Incident]:
            if explicit:
                return [repo.load(incident_id) for incident_id in ids]
            report.invalid.clear()  # one invalid record never blocks the others (SPEC): named and skipped
            return _valid_incidents(repo, ids, report)

        # `built` entries (a site built, not deployed) are tried again only once something deploys them.
        deploys = {name: getattr(repo.config.channel_settings(name), "deploy", None) is not None for name in chosen}

        def plan_of(incident: Incident, name: str) -> list[int]:
            return plan_entries(incident, name, explicit, retry_built=deploys[name])

        reconcile: set[tuple[str, int, str]] = set()
        if uses_claims(repo):
            claimed = claim_round(repo, load_all, chosen, plan_of)
            plans = claimed.plans
            reconcile = claimed.reconcile
            report.claim_seconds = claimed.claim_seconds
            report.warnings.extend(_scrub(text) for text in claimed.notes)
            incidents = claimed.incidents if claimed.incidents is not None else load_all()
            ids = [incident.id for incident in incidents]
            ledger = Ledger(repo, incidents)
            for incident_id, timeline_index, name, why in claimed.waiting:
                entry = ledger.get(incident_id).timeline[timeline_index]
                delivery = entry.deliveries.get(name) or Delivery()
                report.deliveries.append(
                    DeliveryResult(incident_id, entry.at, name, "pending", delivery.ref, delivery.attempts, why)
                )
        else:
            incidents = load_all()
            ids = [incident.id for incident in incidents]
            ledger = Ledger(repo, incidents)
            plans = {name: [] for name in chosen}
            for incident in incidents:
                for name in chosen:
                    plan = plan_of(incident, name)
                    if plan:
                        plans[name].append((incident.id, plan))
        ledger.reconcile = reconcile
        for name in chosen:
            for incident_id, plan in plans[name]:
                for timeline_index in plan:
                    if name not in ledger.get(incident_id).timeline[timeline_index].deliveries:
                        ledger.update(incident_id, timeline_index, name, state="pending")
        run_channels(
            [
                Job(
                    name,
                    plans[name],
                    functools.partial(
                        _run_channel, by_name[name], plans[name], repo=repo, templates=templates,
                        budget=policy.start(), interrupted=interrupted,
                    ),
                )
                for name in chosen
                if plans[name]
            ],
            ledger,
            report,
        )  # fmt: skip
        report.deliveries.sort(
            key=lambda result: (ids.index(result.incident_id), result.at, chosen.index(result.channel))
        )
        commit_ledger(repo, ledger, ids, chosen, report, _scrub, tx)
        ledger.progress.clear()  # every reached recipient is now on its entry's delivery
    if tx.push_error is not None:
        report.push_error = tx.push_error
    return report


def _valid_incidents(repo: Repo, ids: Sequence[str], report: PublishReport) -> list[Incident]:
    valid = []
    for incident_id in ids:
        incident, problems = repo.check(incident_id)
        if incident is None:
            report.invalid.extend(problems)
        else:
            valid.append(incident)
    return valid


def _run_channel(
    channel: Channel,
    plan: list[tuple[str, list[int]]],
    ledger: LedgerAccess,
    sink: Sink,
    *,
    repo: Repo,
    templates: Templates,
    budget: RetryBudget,
    interrupted: Interrupted | None = None,
) -> None:
    """Send one channel's entries in order (in this process or a child: see :mod:`.workers`); failures are
    recorded, not raised."""
    from ..channels.base import ConnectContext

    name = channel.name
    sender: Sender | None = None
    fatal: str | None = None
    try:
        context = ConnectContext(repo=repo, settings=repo.config.channel_settings(name), retry=budget, clock=utcnow)
        sender = channel.connect(context)
        if hasattr(sender, "record_progress"):
            sender.record_progress = _progress_hook(ledger, name)
    except IncidentctlError as exc:
        fatal = _scrub(str(exc))
    except Exception as exc:  # noqa: BLE001 - a plugin's bug must not stop the other channels
        fatal = _scrub(f"{name}: cannot connect: {type(exc).__name__}: {exc}")

    for incident_id, timeline_indexes in plan:
        incident = channel_view(ledger.get(incident_id))
        view = incident.public_view()
        public_index_of = {full: public for public, full in enumerate(public_timeline_indexes(incident))}
        delivered_any = False
        for timeline_index in timeline_indexes:
            if fatal is not None or sender is None:
                _record_failure(
                    ledger, sink, incident_id, timeline_index, name, fatal or f"{name}: not connected", tried=False
                )
                break
            try:
                message = render_entry(channel, view, public_index_of[timeline_index], repo, templates)
            except IncidentctlError as exc:
                _record_failure(ledger, sink, incident_id, timeline_index, name, _scrub(str(exc)), tried=False)
                break
            confirms = bool(getattr(channel, "confirms_delivery", True))
            outcome = _deliver(
                sender, ledger, incident_id, timeline_index, name, message, budget, confirms, interrupted
            )
            sink.result(outcome, timeline_index)
            ledger.count(incident_id, name, outcome.state)
            if outcome.note:
                sink.warn(outcome.note)
            if outcome.state in ("delivered", "built"):
                delivered_any = True
                continue
            if outcome.fatal:
                fatal = outcome.error
            break
        if delivered_any and sender is not None:
            _finish(channel, sender, channel_view(ledger.get(incident_id)), repo, templates, sink)


def _progress_hook(ledger: LedgerAccess, channel: str) -> ProgressHook:
    """Journals the recipients an entry reached so far, at once (see ``ProgressHook`` and
    :mod:`.progress`); the entry's delivery gets them when its send ends."""
    from ..channels.subscribers import entry_stamp

    def record(incident_id: str, timeline_index: int, refs: list[str]) -> None:
        incident = ledger.get(incident_id)
        stamp = entry_stamp(incident, incident.timeline[timeline_index])
        ledger.progress.record(incident_id, stamp, channel, refs)

    return record


def _fold_progress(ledger: LedgerAccess, incident_id: str, timeline_index: int, channel: str) -> None:
    """Recipients an interrupted run reached (journaled) join the delivery's refs before anything is sent."""
    from ..channels.subscribers import entry_stamp

    incident = ledger.get(incident_id)
    entry = incident.timeline[timeline_index]
    reached = ledger.progress.reached().get((incident_id, entry_stamp(incident, entry), channel))
    delivery = entry.deliveries.get(channel)
    known = list(delivery.refs) if delivery is not None else []
    if reached and not set(reached) <= set(known):
        ledger.update(incident_id, timeline_index, channel, refs=list(dict.fromkeys([*known, *reached])))


def _finish(channel: Channel, sender: Sender, incident: Incident, repo: Repo, templates: Templates, sink: Sink) -> None:
    """After an incident's sends: ``finish`` (with the summary when the channel ``edits_root``)."""
    from ..channels.base import SendError

    try:
        view = incident.public_view()
        summary = None
        if channel.edits_root and len(view.timeline) > 1:
            summary = render_entry(channel, view, len(view.timeline) - 1, repo, templates, purpose="summary")
        sender.finish(incident, summary)
    except SendError as exc:
        sink.warn(f"{incident.id}: {_scrub(str(exc))} (could not update the first message)")
    except IncidentctlError as exc:
        sink.warn(f"{incident.id}: {_scrub(str(exc))}")
    except Exception as exc:  # noqa: BLE001 - a plugin's bug is a warning, not a crash
        sink.warn(f"{incident.id}: {channel.name}: {_scrub(f'{type(exc).__name__}: {exc}')}")


def _record_failure(
    ledger: LedgerAccess,
    sink: Sink,
    incident_id: str,
    timeline_index: int,
    channel: str,
    error: str,
    *,
    tried: bool,
) -> None:
    delivery = ledger.update(incident_id, timeline_index, channel, state="failed", error=error, at=utcnow(), claim=None)
    entry = ledger.get(incident_id).timeline[timeline_index]
    sink.result(
        DeliveryResult(incident_id, entry.at, channel, "failed", delivery.ref, delivery.attempts, error), timeline_index
    )
    ledger.count(incident_id, channel, "failed")


def _cut_off(channel: str, incident_id: str, what: str) -> str:
    """The error of a send that may or may not have landed on a channel that cannot be asked."""
    return (
        f"{what}, and {channel} cannot be asked whether it landed, so it is not sent again on its own: "
        f"look at {channel}, then run `incidentctl publish {incident_id} --channel {channel} --resend-interrupted` "
        "(or `--mark-interrupted-sent` when it is there)"
    )


def _deliver(
    sender: Sender,
    ledger: LedgerAccess,
    incident_id: str,
    timeline_index: int,
    channel: str,
    message: Message,
    budget: RetryBudget,
    confirms: bool = True,
    interrupted: Interrupted | None = None,
) -> DeliveryResult:
    """One entry on one channel: reconcile an interrupted attempt, then send with retries.

    On a channel that cannot confirm (``confirms`` false), a send cut off by a crash is never resent on
    the engine's own decision: it is recorded ``failed`` + ``interrupted`` and reported on every run
    until the user settles it (``interrupted``: ``resend`` or ``mark-sent``).
    """
    from ..channels.base import SendError, Sent, ask_landed, with_retries

    _fold_progress(ledger, incident_id, timeline_index, channel)
    incident = ledger.get(incident_id)
    entry = incident.timeline[timeline_index]
    before = entry.deliveries.get(channel) or Delivery()

    def adopt(sent: Sent, attempts: int, reconciled: bool) -> DeliveryResult:
        delivery = ledger.update(
            incident_id, timeline_index, channel, state=sent.state, ref=sent.ref, refs=list(sent.refs), error=None,
            attempts=attempts, at=utcnow(), interrupted=False,
        )  # fmt: skip
        return DeliveryResult(
            incident_id,
            entry.at,
            channel,
            sent.state,
            delivery.ref,
            delivery.attempts,
            None,
            reconciled,
            note=sent.note,
        )

    def find_sent() -> Sent | None:
        try:
            return sender.find_sent(channel_view(ledger.get(incident_id)), timeline_index, message)
        except SendError:
            raise
        except Exception as exc:  # noqa: BLE001 - a publisher bug becomes a recorded failure, never a blind send
            raise SendError(f"{channel}: {type(exc).__name__}: {exc}") from None

    # An earlier attempt (crashed run, or a failure after the request went out) may have landed. When the
    # channel cannot be asked now, nothing is sent: the entry stays for the next run, which asks again.
    if before.attempts > 0 or (incident_id, timeline_index, channel) in ledger.reconcile:
        try:
            found = ask_landed(find_sent, budget)
        except SendError as exc:
            error = _scrub(str(exc))
            # attempts ≥ 1 keeps the question for the next run (a taken-over claim may have none recorded yet).
            delivery = ledger.update(
                incident_id, timeline_index, channel, state="failed", error=error, at=utcnow(), claim=None,
                attempts=max(before.attempts, 1),
            )  # fmt: skip
            return DeliveryResult(
                incident_id, entry.at, channel, "failed", delivery.ref, delivery.attempts, error, fatal=exc.fatal
            )
        if found is not None:
            return adopt(found, before.attempts, True)

    cut_off = before.interrupted or (
        not confirms and before.state == "pending" and before.attempts > 0 and before.claim is None
    )
    if cut_off and interrupted == "mark-sent":
        note = f"{channel}: the interrupted send of {incident_id} {isoformat_z(entry.at)} was marked sent by hand"
        return adopt(Sent(ref=before.ref, refs=tuple(before.refs), note=note), before.attempts, True)
    if cut_off and interrupted != "resend":
        error = (
            before.error
            if before.interrupted and before.error
            else _cut_off(channel, incident_id, f"{channel}: a send of this entry was cut off (the run was killed)")
        )
        delivery = ledger.update(
            incident_id, timeline_index, channel, state="failed", error=error, interrupted=True, at=utcnow(),
            claim=None,
        )  # fmt: skip
        return DeliveryResult(incident_id, entry.at, channel, "failed", delivery.ref, delivery.attempts, error)
    attempts = before.attempts
    # What the first attempt sends is kept (X: the thread's posts), so a retry resends exactly that.
    keep = {"parts": list(message.parts)} if message.parts and not before.parts else {}

    def mark_pending(_attempt: int) -> None:
        nonlocal attempts
        attempts += 1
        ledger.update(incident_id, timeline_index, channel, state="pending", attempts=attempts, at=utcnow(), **keep)

    def send() -> Sent:
        try:
            return sender.send(channel_view(ledger.get(incident_id)), timeline_index, message)
        except SendError as exc:
            if exc.maybe_sent and not confirms:
                # It may have landed and the channel cannot be asked: never retried on our own.
                exc.retry_after = None
                exc.interrupted = True
            raise
        except IncidentctlError as exc:
            raise SendError(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - a publisher bug becomes a recorded failure
            raise SendError(f"{channel}: {type(exc).__name__}: {exc}") from None

    def check(_exc: SendError) -> Sent | None:
        return find_sent()

    try:
        sent, _ = with_retries(send, budget, on_attempt=mark_pending, before_retry=check)
    except SendError as exc:
        error = _scrub(str(exc))
        if exc.interrupted:
            error = _cut_off(channel, incident_id, f"{error}: the request may have reached {channel}")
        changes: dict[str, Any] = {
            "state": "failed", "error": error, "attempts": attempts, "at": utcnow(), "claim": None,
            "interrupted": exc.interrupted,
        }  # fmt: skip
        if exc.partial_refs:
            changes["refs"] = list(exc.partial_refs)
        delivery = ledger.update(incident_id, timeline_index, channel, **changes)
        return DeliveryResult(
            incident_id, entry.at, channel, "failed", delivery.ref, delivery.attempts, error, fatal=exc.fatal
        )
    return adopt(sent, attempts, False)

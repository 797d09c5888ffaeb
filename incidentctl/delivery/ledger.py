"""The delivery ledger: each entry's state per channel (``pending`` → ``delivered``/``failed``), saved
at once after every change and committed once per incident at the end of a run.

All writes go through :meth:`Ledger._persist` and :func:`commit_ledger`, so moving them onto the
repo's write transaction is a change in one place.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..durations import isoformat_z
from ..errors import IncidentctlError
from ..model import Delivery, Incident

if TYPE_CHECKING:
    from ..records.transaction import Transaction
    from ..store import Repo
    from .engine import PublishReport


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
    note: str | None = None
    """What the user must be told about this delivery (a ``built`` site: where, and how it gets deployed)."""

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


class Ledger:
    """The run's copy of each record; every delivery change is saved at once, one writer at a time."""

    def __init__(self, repo: Repo, incidents: list[Incident]) -> None:
        self.repo = repo
        self.current = {incident.id: incident for incident in incidents}
        self.changed: dict[str, dict[str, dict[str, int]]] = {}
        self.lock = threading.Lock()
        self.reconcile: set[tuple[str, int, str]] = set()
        """(incident, timeline index, channel) claimed before this run: ask the channel before sending."""
        from .progress import ProgressJournal

        self.progress = ProgressJournal(repo.root)
        """Recipients reached within an entry, journaled one by one (see :mod:`.progress`)."""

    def get(self, incident_id: str) -> Incident:
        with self.lock:
            return self.current[incident_id]

    def update(self, incident_id: str, timeline_index: int, channel: str, **changes: Any) -> Delivery:
        """Change one delivery (``state``, ``attempts``, ``ref``...) and save the record."""
        with self.lock:
            incident = self.current[incident_id]
            entry = incident.timeline[timeline_index]
            delivery = entry.deliveries.get(channel) or Delivery()
            delivery = delivery.model_copy(update=changes)
            entry = entry.model_copy(update={"deliveries": {**entry.deliveries, channel: delivery}})
            timeline = [*incident.timeline[:timeline_index], entry, *incident.timeline[timeline_index + 1 :]]
            incident = incident.model_copy(update={"timeline": timeline})
            self.current[incident_id] = incident
            self._persist(incident)
            return delivery

    def _persist(self, incident: Incident) -> None:
        """The one place a delivery change reaches the disk (atomic write of the record)."""
        self.repo.save(incident)

    def count(self, incident_id: str, channel: str, state: str) -> None:
        with self.lock:
            counts = self.changed.setdefault(incident_id, {}).setdefault(channel, {})
            counts[state] = counts.get(state, 0) + 1


def _uncommitted(repo: Repo, ids: list[str]) -> set[str]:
    """Records with changes not yet committed: deliveries a killed earlier run saved but never committed."""
    from .. import gitops

    if not repo.config.git.commit or not gitops.is_git_repo(repo.root):
        return set()
    try:
        dirty = set(gitops.dirty_paths(repo.root))
    except Exception:  # noqa: BLE001 - only an optimisation of what gets committed; the commit reports errors
        return set()
    return {incident_id for incident_id in ids if f"{repo.incidents_dir.name}/{incident_id}.yaml" in dirty}


def commit_ledger(
    repo: Repo, ledger: Ledger, ids: list[str], channels: list[str], report: PublishReport, scrub: Any, tx: Transaction
) -> None:
    """One commit per incident that changed: ``<id>: published (slack: 2 delivered; x: 1 failed)``;
    the transaction pushes them once when it ends.

    A record an interrupted run changed (deliveries saved, then killed before the commit) is committed
    too, even with nothing left to send: other clones must see those deliveries or they would resend.
    """
    leftover = _uncommitted(repo, ids)
    for incident_id in ids:
        counts = ledger.changed.get(incident_id)
        if counts is None and incident_id not in leftover:
            continue
        parts = []
        for channel, states in sorted((counts or {}).items(), key=lambda item: channels.index(item[0])):
            described = ", ".join(f"{number} {state}" for state, number in sorted(states.items()))
            parts.append(f"{channel}: {described}")
        described_run = "; ".join(parts) or "deliveries recorded by an interrupted run"
        try:
            sha = tx.commit(f"{incident_id}: published ({described_run})", [incident_id])
        except IncidentctlError as exc:
            report.warnings.append(scrub(str(exc)))
            continue
        if sha:
            report.commits.append(sha)
    for remark in tx.notes:
        if remark not in report.warnings:
            report.warnings.append(remark)

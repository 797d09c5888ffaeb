"""Claims: with ``git.push`` on, the remote decides which clone sends an entry.

Before sending, a publish run records a :class:`~incidentctl.model.Claim` (who: this clone's id plus
user@host; when) on every (entry, channel) it plans to send, commits them as ONE commit and pushes
it with a single attempt. Only the clone whose claim push lands sends. A rejected claim push is
dropped (the commit is undone, the records put back), the clone catches up (fetch + rebase) and plans
again: entries delivered or claimed by another clone within the lease (``git.claim_lease``) are
skipped. A claim older than the lease with no delivery means its claimant died (or is stuck): it may
be taken over, and the taker first asks the channel (``find_sent``) whether the send landed, exactly
like a crashed run's ``pending`` attempt. A clone's own claims from an earlier run are resumed the
same way. Without ``git.push`` the per-repo ``flock`` is the arbiter, as before.
"""

from __future__ import annotations

import getpass
import random
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ..durations import format_duration, isoformat_z, utcnow
from ..records.codec import atomic_write

if TYPE_CHECKING:
    from ..model import Claim, Delivery, Incident
    from ..store import Repo

#: Claim pushes a run may lose before it gives up (each: plan, claim, push once; a rejection drops the claim and
#: catches up). Rounds spent waiting for another clone's in-flight sends do not count: those wait up to WAIT_LIMIT.
CLAIM_ROUNDS = 12
#: How long a run waits for another clone's in-flight send that its own entries must follow.
WAIT_LIMIT = timedelta(seconds=60)
CLONE_ID_FILE = Path("incidentctl") / "clone-id"


def clone_id(root: Path) -> str:
    """This clone's id: random, made once, kept in ``.git/incidentctl/clone-id`` (never committed)."""
    path = root / ".git" / CLONE_ID_FILE
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError:
        value = ""
    if value:
        return value
    value = uuid.uuid4().hex[:12]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, value + "\n")
    return path.read_text(encoding="utf-8").strip() or value


def claimant(root: Path) -> str:
    """What a claim records as ``by``: ``<clone id> <user>@<host>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    host = socket.gethostname() or "localhost"
    who = "".join(ch for ch in f"{user}@{host}" if ch.isprintable() and not ch.isspace()) or "unknown"
    return f"{clone_id(root)} {who}"


def uses_claims(repo: Repo) -> bool:
    """Claims arbitrate when records are committed and pushed to a remote this clone has."""
    from .. import gitops

    settings = repo.config.git
    return bool(
        settings.commit
        and settings.push
        and gitops.is_git_repo(repo.root)
        and gitops.has_remote(repo.root, settings.remote)
    )


def held_by_other(delivery: Delivery | None, me: str, now: datetime, lease: timedelta) -> Claim | None:
    """The live claim of another clone on this (undelivered) send, if any."""
    if delivery is None or delivery.state == "delivered" or delivery.claim is None:
        return None
    claim = delivery.claim
    if claim.clone == me.split(" ", 1)[0]:
        return None
    if now - claim.at >= lease:
        return None  # expired: its claimant died or is stuck; takeover reconciles first
    return claim


@dataclass
class ClaimOutcome:
    """What the claim rounds settled."""

    plans: dict[str, list[tuple[str, list[int]]]]
    reconcile: set[tuple[str, int, str]] = field(default_factory=set)
    """(incident, timeline index, channel) claimed before this run: ask the channel before sending."""
    waiting: list[tuple[str, int, str, str]] = field(default_factory=list)
    """(incident, timeline index, channel, why): left pending behind another clone's in-flight send."""
    notes: list[str] = field(default_factory=list)
    claim_commit: str | None = None
    rounds: int = 0
    claim_seconds: float = 0.0
    """Seconds spent on the claim's own work: saving the claim marks, committing, pushing, and after a rejected
    push dropping the commit and catching up (not the planning, which a run without claims does too)."""
    incidents: list[Incident] | None = None
    """The records as the claim left them (loaded, with this run's claim marks), when nothing changed them
    since; ``None`` when the caller must load them again."""


def claim_round(
    repo: Repo,
    load: Callable[[], list[Incident]],
    chosen: Sequence[str],
    plan_entries: Callable[[Incident, str], list[int]],
) -> ClaimOutcome:
    """Plan and claim until this clone's claim push lands (or nothing is left to claim)."""
    from .. import gitops
    from ..records.codec import round_trip

    settings = repo.config.git
    lease = settings.lease
    me = claimant(repo.root)
    started = time.monotonic()
    deadline = started + min(lease, WAIT_LIMIT).total_seconds()
    outcome = ClaimOutcome(plans={name: [] for name in chosen})
    rejected = 0
    while True:
        outcome.rounds += 1
        now = utcnow()
        incidents = load()
        plans: dict[str, list[tuple[str, list[int]]]] = {name: [] for name in chosen}
        reconcile: set[tuple[str, int, str]] = set()
        waiting: list[tuple[str, int, str, str]] = []
        others: list[str] = []
        changed: dict[str, Incident] = {}
        for incident in incidents:
            for name in chosen:
                mine: list[int] = []
                blocker: Claim | None = None
                for timeline_index in plan_entries(incident, name):
                    delivery = incident.timeline[timeline_index].deliveries.get(name)
                    held = held_by_other(delivery, me, now, lease)
                    if held is not None:
                        blocker = blocker or held
                        continue
                    if blocker is not None:
                        why = f"waiting for {blocker.by}, who claimed an earlier entry at {isoformat_z(blocker.at)}"
                        waiting.append((incident.id, timeline_index, name, why))
                        continue
                    mine.append(timeline_index)
                    if delivery is not None and delivery.claim is not None:
                        reconcile.add((incident.id, timeline_index, name))
                if blocker is not None and not any(w[0] == incident.id and w[2] == name for w in waiting):
                    others.append(
                        f"{incident.id} on {name}: being sent by {blocker.by} (claimed {isoformat_z(blocker.at)})"
                    )
                if mine:
                    plans[name].append((incident.id, mine))
                    changed[incident.id] = _with_claims(changed.get(incident.id, incident), name, mine, me, now)
        if waiting and time.monotonic() < deadline:
            time.sleep(random.uniform(0.2, 0.5))
            _catch_up_quietly(repo, outcome)
            continue
        outcome.plans, outcome.reconcile, outcome.waiting = plans, reconcile, waiting
        outcome.notes = [f"not sending {text}" for text in others]
        outcome.incidents = [changed.get(incident.id, incident) for incident in incidents]
        if not changed:
            break
        round_trip()  # the YAML writer, which this run's ledger needs anyway: loaded before the claim's clock
        claiming = time.monotonic()
        try:
            paths = [repo.save(incident) for incident in changed.values()]
            count = sum(len(indexes) for name in plans for _id, indexes in plans[name])
            sha = gitops.commit(repo.root, paths, f"publish: claim {count} send{'s' if count != 1 else ''} ({me})")
            if sha is None:  # nothing new to record (cannot happen: the claim time changes)
                outcome.incidents = None
                break
            verdict = gitops.try_push(repo.root, settings.remote)
            if verdict is None:
                outcome.claim_commit = sha
                break
            if verdict != "rejected":
                outcome.claim_commit = sha
                outcome.notes.append(
                    f"could not push the claim ({verdict}): sending anyway; another clone publishing at this "
                    "moment could send the same entries"
                )
                break
            gitops.drop_last_commit(repo.root, paths)
            _catch_up_quietly(repo, outcome)
            rejected += 1
        finally:
            outcome.claim_seconds += time.monotonic() - claiming
        outcome.incidents = None
        outcome.plans = {name: [] for name in chosen}
        outcome.reconcile, outcome.waiting = set(), []
        if rejected >= CLAIM_ROUNDS:  # never silent: each send it meant to claim is reported pending (exit 3)
            why = (
                f"not sent: {CLAIM_ROUNDS} claim pushes were rejected (other clones pushed first each time); "
                "the next publish tries again"
            )
            outcome.waiting = [
                (incident_id, timeline_index, name, why)
                for name in chosen
                for incident_id, indexes in plans[name]
                for timeline_index in indexes
            ] + waiting
            outcome.notes.append(
                f"gave up claiming after {CLAIM_ROUNDS} rejected claim pushes (other clones kept pushing first); "
                "the entries stay pending for the next publish"
            )
            return outcome
    if outcome.waiting:
        waited = format_duration(timedelta(seconds=round(time.monotonic() - started)))
        outcome.notes.append(f"waited {waited} for another clone's sends; the rest stays pending for the next publish")
    return outcome


def _with_claims(incident: Incident, channel: str, indexes: list[int], me: str, now: datetime) -> Incident:
    from ..model import Claim, Delivery

    timeline = list(incident.timeline)
    for timeline_index in indexes:
        entry = timeline[timeline_index]
        delivery = entry.deliveries.get(channel) or Delivery()
        delivery = delivery.model_copy(update={"claim": Claim(by=me, at=now)})
        timeline[timeline_index] = entry.model_copy(update={"deliveries": {**entry.deliveries, channel: delivery}})
    return incident.model_copy(update={"timeline": timeline})


def _catch_up_quietly(repo: Repo, outcome: ClaimOutcome) -> None:
    from .. import gitops
    from ..errors import IncidentctlError

    try:
        gitops.catch_up(repo.root, repo.config.git.remote)
    except IncidentctlError as exc:
        note = f"could not catch up with {repo.config.git.remote}: {exc}"
        if note not in outcome.notes:
            outcome.notes.append(note)

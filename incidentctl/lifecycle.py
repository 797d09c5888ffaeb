"""The lifecycle of an incident: open, update, resolve. Each is one transaction: one record write, one commit."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from .durations import parse_deadline, utcnow
from .errors import InputError, PushError, RecordError, UsageError
from .model import (
    IMPACTS,
    MAINTENANCE_IMPACTS,
    MESSAGE_MAX,
    STATUSES,
    TITLE_MAX,
    Delivery,
    Entry,
    Incident,
    clean_text,
)
from .store import Repo
from .vocabulary import ALL_STATUSES, MAINTENANCE_STATUSES, statuses_of

if TYPE_CHECKING:
    from .propose import Proposal
    from .records.transaction import Transaction

DEFAULT_RESOLVE_MESSAGE = "This incident has been resolved."
#: How far in the future ``--at`` may be (clocks drift); more can only be a typo.
FUTURE_SLACK = timedelta(minutes=5)


def _when(at: datetime | None) -> datetime:
    """The entry's time: ``at`` (refused when more than 5 minutes in the future) or now."""
    now = utcnow()
    if at is None:
        return now
    if at > now + FUTURE_SLACK:
        raise InputError(f"--at {at:%Y-%m-%dT%H:%M:%SZ} is in the future (now is {now:%Y-%m-%dT%H:%M:%SZ})")
    return at


def clean_title(title: str) -> str:
    """A title as stored: cleaned, on one line, not empty, not longer than ``TITLE_MAX``."""
    title = " ".join(clean_text(title).split())
    if not title:
        raise UsageError("the title is empty")
    if len(title) > TITLE_MAX:
        raise InputError(f"the title is {len(title)} characters long; the limit is {TITLE_MAX}")
    return title


def _message(text: str) -> str:
    cleaned = clean_text(text).strip()
    if len(cleaned) > MESSAGE_MAX:
        raise InputError(
            f"the message is {len(cleaned)} characters long; the limit is {MESSAGE_MAX} "
            "(link to a longer write-up instead)"
        )
    return cleaned


def _deadline(next_update: str | None, when: datetime) -> datetime | None:
    if not next_update:
        return None
    deadline = parse_deadline(next_update, when)
    if deadline <= when:
        raise InputError(
            f"--next-update {next_update!r} is not later than the entry's time ({when:%Y-%m-%dT%H:%M:%SZ})"
        )
    return deadline


@dataclass
class Change:
    """The outcome of one writing operation."""

    incident: Incident
    paths: list[Path]
    summary: str
    commit: str | None = None
    push_error: PushError | None = None
    notes: list[str] = field(default_factory=list)
    proposal: Proposal | None = None
    """``--propose``: the branch the change waits on for review (nothing is published before it is merged)."""


_SLUG_STOPWORDS = frozenset({"a", "an", "and", "the", "of", "or", "in", "on", "for", "to", "with", "is", "are"})


def slugify(title: str, limit: int = 48) -> str:
    """``ChatGPT, Sora and API unavailable`` → ``chatgpt-sora-api-unavailable``."""
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii").lower()
    words = [word for word in re.split(r"[^a-z0-9]+", text) if word]
    words = [word for word in words if word not in _SLUG_STOPWORDS] or words
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > limit:
            break
        slug = candidate
    return slug or (words[0][:limit] if words else "incident")


def new_id(repo: Repo, title: str, at: datetime) -> str:
    base = f"{at:%Y-%m-%d}-{slugify(title)}"
    candidate, counter = base, 2
    while repo.record_path(candidate).exists():
        candidate = f"{base}-{counter}"
        counter += 1
    return candidate


def parse_component_impacts(values: Sequence[str], repo: Repo) -> dict[str, str]:
    """``["api=major_outage", "web=degraded_performance"]`` → a validated mapping."""
    known = repo.config.component_ids
    impacts: dict[str, str] = {}
    for value in values:
        component, sep, impact = value.partition("=")
        component, impact = component.strip(), impact.strip()
        if not sep or not component or not impact:
            raise UsageError(f"--component {value!r}: use ID=IMPACT, e.g. api=major_outage")
        if known and component not in known:
            raise UsageError(f"--component {value!r}: unknown component {component!r} (known: {', '.join(known)})")
        if impact not in IMPACTS:
            raise UsageError(f"--component {value!r}: impact must be one of {', '.join(IMPACTS)}")
        impacts[component] = impact
    return impacts


def _check_status(status: str | None) -> None:
    if status is not None and status not in ALL_STATUSES:
        raise UsageError(f"--status {status!r}: must be one of {', '.join(STATUSES)}")


def _check_kind_status(incident: Incident, status: str | None) -> None:
    """An incident takes incident statuses only, a maintenance maintenance statuses only."""
    if status is None or status in statuses_of(incident.kind):
        return
    if incident.is_maintenance:
        raise InputError(
            f"--status {status!r}: {incident.id} is a maintenance (use one of {', '.join(MAINTENANCE_STATUSES)}"
            f"{'; or `incidentctl maintenance complete`' if status == 'resolved' else ''})"
        )
    raise InputError(f"--status {status!r}: {incident.id} is an incident (use one of {', '.join(STATUSES)})")


def _check_maintenance_update(incident: Incident, components: Mapping[str, str] | None, severity: str | None) -> None:
    if not incident.is_maintenance:
        return
    if severity is not None:
        raise InputError(f"--severity: {incident.id} is a maintenance; maintenances have no severity")
    wrong = sorted(c for c, impact in (components or {}).items() if impact not in MAINTENANCE_IMPACTS)
    if wrong:
        raise InputError(
            f"--component {', '.join(wrong)}: a maintenance sets components to under_maintenance or operational "
            "only; open an incident for an outage"
        )


def _check_severity(repo: Repo, severity: str) -> None:
    if severity not in repo.config.severities:
        raise UsageError(f"--severity {severity!r}: unknown severity (known: {', '.join(repo.config.severities)})")


def _pending(repo: Repo, visibility: str) -> dict[str, Delivery]:
    """``pending`` for every channel configured in ``incidentctl.yaml`` when the entry is written.

    From the config, never from this machine's environment: every clone writes the same record. The
    publish planner decides what to send; it reads this mark only to tell "resolved before it was
    published" (send it) from "resolved before the channel was configured" (no backfill of history).
    """
    if visibility != "public":
        return {}
    return {channel: Delivery() for channel in repo.config.configured_channels()}


def insert_entry(timeline: list[Entry], entry: Entry) -> list[Entry]:
    """Keep the timeline in time order: a backfilled entry goes where it belongs."""
    index = len(timeline)
    while index > 0 and timeline[index - 1].at > entry.at:
        index -= 1
    return [*timeline[:index], entry, *timeline[index:]]


def _promise(
    repo: Repo,
    severity: str,
    status: str,
    visibility: str,
    when: datetime,
    next_update: str | None,
    no_next_update: bool,
) -> datetime | None:
    """The entry's promise: ``--next-update``, else ``at + update_every`` of the severity for a public
    entry that is not a resolution (SPEC: a default promise), unless ``--no-next-update``."""
    if next_update and no_next_update:
        raise UsageError("give --next-update or --no-next-update, not both")
    if next_update:
        return _deadline(next_update, when)
    if no_next_update or visibility != "public" or status == "resolved":
        return None
    setting = repo.config.severities.get(severity)
    every = setting.update_every if setting is not None else None
    return when + every if every else None


def open_incident(
    repo: Repo,
    title: str,
    *,
    severity: str,
    components: Mapping[str, str] | None = None,
    status: str = "investigating",
    message: str = "",
    next_update: str | None = None,
    at: datetime | None = None,
    commander: str | None = None,
    incident_id: str | None = None,
    no_next_update: bool = False,
) -> Change:
    """Open an incident: write ``incidents/<id>.yaml`` and commit it."""
    title = clean_title(title)
    _check_severity(repo, severity)
    _check_status(status)
    when = _when(at)
    message = _message(message)
    _deadline(next_update, when)  # a bad promise is refused before the lock and the sync
    commander = clean_text(commander).strip() or None if commander is not None else None
    with repo.transaction() as tx:
        if incident_id is not None:
            repo.record_path(incident_id)  # validates the id
            if repo.record_path(incident_id).exists():
                raise RecordError(f"incident {incident_id!r} already exists; use `incidentctl update {incident_id}`")
        else:
            incident_id = new_id(repo, title, when)
        entry = Entry(
            at=when,
            status=status,
            message=message,
            components=dict(components or {}),
            next_update_by=_promise(repo, severity, status, "public", when, next_update, no_next_update),
            no_next_update=no_next_update,
            deliveries=_pending(repo, "public"),
        )
        incident = Incident(id=incident_id, title=title, severity=severity, commander=commander, timeline=[entry])
        tx.message = f"{incident.id}: opened ({severity}, {status})"
        tx.save(incident)
    return change_of(tx, incident, f"opened ({severity}, {status})")


def add_update(
    repo: Repo,
    incident_id: str,
    *,
    message: str,
    status: str | None = None,
    components: Mapping[str, str] | None = None,
    internal: bool = False,
    next_update: str | None = None,
    at: datetime | None = None,
    severity: str | None = None,
    no_next_update: bool = False,
    propose: bool = False,
    no_review: bool = False,
) -> Change:
    """Add a timeline entry; a status other than ``resolved`` on a resolved incident reopens it.

    ``propose``: the entry goes on a ``propose/<id>/<n>`` branch for review (marked ``review: reviewed``);
    ``no_review``: a required review is skipped and that is recorded (``review: bypassed``).
    """
    _check_review_flags(propose, no_review)
    _check_status(status)
    if severity is not None:
        _check_severity(repo, severity)
    when = _when(at)
    message = _message(message)
    _deadline(next_update, when)  # a bad promise is refused before the lock and the sync
    with repo.transaction(propose=propose) as tx:
        store = tx.repo  # with --propose: the default branch's tip, not the checkout
        incident = store.load(_resolve_in(store, incident_id, propose))
        _check_kind_status(incident, status)
        _check_maintenance_update(incident, components, severity)
        new_status = status or _status_at(incident, when)
        if internal:
            current = _components_at(incident, when)
            if new_status != _status_at(incident, when) or any(
                current.get(component, "operational") != impact for component, impact in (components or {}).items()
            ):
                raise InputError(
                    "--internal cannot change the status or a component: the public would never hear of it "
                    "(post the change publicly, then add an internal note)"
                )
        if not message and status is None and not components and severity is None:
            raise UsageError("nothing to record: give --message, --status, --component or --severity")
        if status == "resolved":
            after = {**_components_at(incident, when), **dict(components or {})}
            down = sorted(c for c, impact in after.items() if impact != "operational")
            if down:
                raise InputError(
                    f"--status resolved while {', '.join(down)} {'is' if len(down) == 1 else 'are'} not operational: "
                    f"use `incidentctl resolve {incident.id}` (sets every component back to operational) "
                    "or give --component ID=operational"
                )
        visibility = "internal" if internal else "public"
        if incident.is_maintenance and status is not None and not internal:
            from .maintenance import components_for

            components = {**components_for(incident, new_status), **dict(components or {})}
        review, review_by = review_marks(repo, store, severity or incident.severity, visibility, propose, no_review)
        entry = Entry(
            at=when,
            status=new_status,
            message=message,
            visibility=visibility,
            components=dict(components or {}),
            next_update_by=_promise(
                store, severity or incident.severity, new_status, visibility, when, next_update, no_next_update
            ),
            no_next_update=no_next_update and visibility == "public",
            review=review,
            review_by=review_by,
            deliveries=_pending(store, visibility),
        )
        updates: dict[str, object] = {"timeline": insert_entry(incident.timeline, entry)}
        if severity is not None:
            updates["severity"] = severity
        changed = incident.model_copy(update=updates)
        summary = _describe(incident, entry, severity)
        tx.message = f"{changed.id}: {summary}"
        tx.save(changed)
    return change_of(tx, changed, summary)


def resolve_incident(
    repo: Repo,
    incident_id: str,
    *,
    message: str | None = None,
    at: datetime | None = None,
    propose: bool = False,
    no_review: bool = False,
) -> Change:
    """Resolve: status ``resolved`` and every affected component back to ``operational``.

    ``propose`` / ``no_review``: as for :func:`add_update`."""
    _check_review_flags(propose, no_review)
    when = _when(at)
    text = _message(message or "") or DEFAULT_RESOLVE_MESSAGE
    with repo.transaction(propose=propose) as tx:
        store = tx.repo  # with --propose: the default branch's tip, not the checkout
        incident = store.load(_resolve_in(store, incident_id, propose))
        if incident.is_maintenance:
            raise InputError(
                f"{incident.id} is a maintenance: use `incidentctl maintenance complete {incident.id}` "
                f"(or `maintenance cancel {incident.id}`)"
            )
        if not incident.is_open:
            raise InputError(
                f"{incident.id} is already resolved (at {incident.resolved_at:%Y-%m-%dT%H:%M:%SZ}); "
                f"to add to it use `incidentctl update {incident.id}`"
            )
        if when < incident.started_at:
            raise InputError(
                f"--at {when:%Y-%m-%dT%H:%M:%SZ} is before the incident's first entry "
                f"({incident.started_at:%Y-%m-%dT%H:%M:%SZ})"
            )
        if when < incident.timeline[-1].at:
            raise InputError(
                f"--at {when:%Y-%m-%dT%H:%M:%SZ} is before the incident's last entry "
                f"({incident.timeline[-1].at:%Y-%m-%dT%H:%M:%SZ}): a resolution must come last"
            )
        review, review_by = review_marks(repo, store, incident.severity, "public", propose, no_review)
        entry = Entry(
            at=when,
            status="resolved",
            message=text,
            components={component: "operational" for component in incident.components},
            review=review,
            review_by=review_by,
            deliveries=_pending(store, "public"),
        )
        changed = incident.model_copy(update={"timeline": insert_entry(incident.timeline, entry)})
        note: list[str] = []
        tx.message = f"{changed.id}: resolved"
        tx.save(changed)
    result = change_of(tx, changed, "resolved")
    result.notes.extend(note)
    return result


def _resolve_in(store: Repo, incident_id: str, propose: bool) -> str:
    """The full id in ``store``; a proposal's base (the default branch) may lack an incident not pushed yet."""
    from .errors import IncidentNotFoundError

    try:
        return store.resolve_id(incident_id)
    except IncidentNotFoundError as exc:
        if not propose:
            raise
        raise IncidentNotFoundError(
            f"{exc} on the default branch (a proposal is based on it): push the incident first"
        ) from None


def _check_review_flags(propose: bool, no_review: bool) -> None:
    if propose and no_review:
        raise UsageError("give --propose (review through a branch) or --no-review (skip the review), not both")


def review_marks(
    repo: Repo, store: Repo, severity: str, visibility: str, propose: bool, no_review: bool
) -> tuple[str | None, str | None]:
    """``(review, review_by)`` for a new entry (SPEC "Review through git").

    A proposal is ``reviewed`` (by its merge), proposed by the git user. A public entry of a severity with
    ``review: required`` written straight on the default branch is refused unless ``no_review``, which is
    recorded as ``bypassed`` with who did it. ``repo`` is the checkout, ``store`` where the record is read.
    """
    from .propose import on_default_branch, proposer

    if visibility != "public":
        return None, None
    if propose:
        return "reviewed", proposer(repo.root)
    setting = store.config.severities.get(severity)
    if setting is None or setting.review != "required":
        return None, None
    if no_review:
        return "bypassed", proposer(repo.root)
    if on_default_branch(repo.root, repo.config.git.remote):
        raise InputError(
            f"{severity} requires a review of public statements: use --propose (a branch to merge) "
            "or --no-review (recorded on the entry)"
        )
    return None, None


def _components_at(incident: Incident, when: datetime) -> dict[str, str]:
    current: dict[str, str] = {}
    for entry in incident.timeline:
        if entry.at <= when:
            current.update(entry.components)
    return current


def _status_at(incident: Incident, when: datetime) -> str:
    status = incident.timeline[0].status
    for entry in incident.timeline:
        if entry.at <= when:
            status = entry.status
    return status


def _describe(before: Incident, entry: Entry, severity: str | None) -> str:
    parts = []
    if entry.visibility == "internal":
        parts.append("internal note")
    if entry.status != before.status:
        parts.append("reopened" if before.status == "resolved" else entry.status)
    elif entry.visibility == "public":
        parts.append("update")
    if severity is not None and severity != before.severity:
        parts.append(f"severity {before.severity} -> {severity}")
    if entry.components:
        parts.append(", ".join(f"{c} {i}" for c, i in entry.components.items()))
    return "; ".join(parts)


def change_of(tx: Transaction, incident: Incident, summary: str) -> Change:
    """What a finished transaction did, as the :class:`Change` the CLI reports (push error: exit 4)."""
    if incident.id in tx.renamed:  # the same id was opened elsewhere at the same moment: ours moved
        incident = incident.model_copy(update={"id": tx.renamed[incident.id]})
    return Change(
        incident=incident,
        paths=list(tx.saved),
        summary=summary,
        commit=tx.commit_sha,
        push_error=tx.push_error,
        notes=list(tx.notes),
        proposal=tx.proposal,
    )

"""The lifecycle of an incident: open, update, resolve. Each is one transaction: one record write, one commit."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .durations import parse_deadline, utcnow
from .errors import PushError, RecordError, UsageError
from .model import IMPACTS, STATUSES, Delivery, Entry, Incident
from .store import Repo

if TYPE_CHECKING:
    from .records.transaction import Transaction

DEFAULT_RESOLVE_MESSAGE = "This incident has been resolved."


@dataclass
class Change:
    """The outcome of one writing operation."""

    incident: Incident
    paths: list[Path]
    summary: str
    commit: str | None = None
    push_error: PushError | None = None
    notes: list[str] = field(default_factory=list)


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
    if status is not None and status not in STATUSES:
        raise UsageError(f"--status {status!r}: must be one of {', '.join(STATUSES)}")


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


def _insert(timeline: list[Entry], entry: Entry) -> list[Entry]:
    """Keep the timeline in time order: a backfilled entry goes where it belongs."""
    index = len(timeline)
    while index > 0 and timeline[index - 1].at > entry.at:
        index -= 1
    return [*timeline[:index], entry, *timeline[index:]]


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
) -> Change:
    """Open an incident: write ``incidents/<id>.yaml`` and commit it."""
    title = " ".join(title.split())
    if not title:
        raise UsageError("the title is empty")
    _check_severity(repo, severity)
    _check_status(status)
    when = at or utcnow()
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
            message=message.strip(),
            components=dict(components or {}),
            next_update_by=parse_deadline(next_update, when) if next_update else None,
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
) -> Change:
    """Add a timeline entry; a status other than ``resolved`` on a resolved incident reopens it."""
    _check_status(status)
    if severity is not None:
        _check_severity(repo, severity)
    when = at or utcnow()
    with repo.transaction() as tx:
        incident = repo.load(repo.resolve_id(incident_id))
        new_status = status or _status_at(incident, when)
        if not message.strip() and status is None and not components and severity is None:
            raise UsageError("nothing to record: give --message, --status, --component or --severity")
        visibility = "internal" if internal else "public"
        entry = Entry(
            at=when,
            status=new_status,
            message=message.strip(),
            visibility=visibility,
            components=dict(components or {}),
            next_update_by=parse_deadline(next_update, when) if next_update else None,
            deliveries=_pending(repo, visibility),
        )
        updates: dict[str, object] = {"timeline": _insert(incident.timeline, entry)}
        if severity is not None:
            updates["severity"] = severity
        changed = incident.model_copy(update=updates)
        summary = _describe(incident, entry, severity)
        tx.message = f"{changed.id}: {summary}"
        tx.save(changed)
    return change_of(tx, changed, summary)


def resolve_incident(repo: Repo, incident_id: str, *, message: str | None = None, at: datetime | None = None) -> Change:
    """Resolve: status ``resolved`` and every affected component back to ``operational``."""
    when = at or utcnow()
    with repo.transaction() as tx:
        incident = repo.load(repo.resolve_id(incident_id))
        entry = Entry(
            at=when,
            status="resolved",
            message=(message or DEFAULT_RESOLVE_MESSAGE).strip(),
            components={component: "operational" for component in incident.components},
            deliveries=_pending(repo, "public"),
        )
        changed = incident.model_copy(update={"timeline": _insert(incident.timeline, entry)})
        note = [] if incident.is_open else ["the incident was already resolved; a new resolution entry was added"]
        tx.message = f"{changed.id}: resolved"
        tx.save(changed)
    result = change_of(tx, changed, "resolved")
    result.notes.extend(note)
    return result


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
    return Change(
        incident=incident,
        paths=list(tx.saved),
        summary=summary,
        commit=tx.commit_sha,
        push_error=tx.push_error,
        notes=list(tx.notes),
    )


def commit_paths(repo: Repo, change: Change, message: str) -> None:
    """Compatibility shim for ``publishing.py`` (being moved to the delivery ledger, which will use
    :class:`~incidentctl.records.transaction.Transaction`): commit ``change.paths`` and push."""
    settings = repo.config.git
    if not settings.commit:
        return
    from . import gitops

    if not gitops.is_git_repo(repo.root):
        change.notes.append("not a git repository: the change is saved but not committed")
        return
    change.commit = gitops.commit(repo.root, change.paths, message)
    if settings.push:
        try:
            gitops.push(repo.root, settings.remote)
        except PushError as exc:
            change.push_error = exc

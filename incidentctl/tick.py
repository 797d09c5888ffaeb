"""``tick``: apply what is due at a moment, one commit per change.

Each kind of automatic work is a *finder*: given a valid record, the config and ``now``, it returns the
:class:`Due` actions for that record. ``tick`` applies each action in its own transaction, re-checking it
against the record as it is under the lock (so two schedulers running at once never apply one twice), then
publishes the records it changed when asked.

Finders: ``incidentctl.maintenance.due_actions`` (auto-start, auto-complete, reminder notices) and
``incidentctl.holding.due_actions`` (holding updates for lapsed promises).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Config
    from .model import Entry, Incident
    from .store import Repo


@dataclass(frozen=True)
class Due:
    """One automatic change that is due on one record.

    ``key`` names the change so it is applied once (e.g. ``start``, ``complete``, ``reminder:24h``,
    ``holding:2024-12-12T00:30:00Z``); ``build`` makes the entry from the record as it is under the lock,
    or returns ``None`` when the change is no longer due there (someone else applied it, a human acted).
    """

    incident_id: str
    key: str
    at: datetime
    summary: str
    build: Callable[[Incident, Config, datetime], Entry | None] = field(compare=False)


#: ``(incident, config, now) -> [Due]``: every finder ``tick`` asks, in order.
Finder = Callable[["Incident", "Config", datetime], list[Due]]


def finders() -> list[Finder]:
    """The finders ``tick`` asks: maintenance automation, then holding updates."""
    from . import holding, maintenance

    return [maintenance.due_actions, holding.due_actions]


@dataclass
class Applied:
    """One change ``tick`` made (or, with ``skipped``, found already made under the lock)."""

    incident_id: str
    key: str
    at: datetime
    summary: str
    commit: str | None = None
    skipped: bool = False
    push_error: Exception | None = None
    """The commit is local only (raise it after reporting: exit 4; the next write pushes it)."""

    def to_json(self) -> dict[str, object]:
        from .durations import isoformat_z

        return {
            "id": self.incident_id,
            "action": self.key,
            "at": isoformat_z(self.at),
            "summary": self.summary,
            "commit": self.commit,
            "skipped": self.skipped,
        }


@dataclass
class TickReport:
    now: datetime
    applied: list[Applied] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """``path:line: message`` of each invalid record skipped."""

    @property
    def push_error(self) -> Exception | None:
        """The last push that failed, if the last change's push failed too (earlier ones are pushed by later ones)."""
        last = [item for item in self.applied if not item.skipped]
        return last[-1].push_error if last else None

    @property
    def changed_ids(self) -> list[str]:
        return list(dict.fromkeys(item.incident_id for item in self.applied if not item.skipped))

    def to_json(self) -> dict[str, object]:
        from .durations import isoformat_z

        return {"now": isoformat_z(self.now), "applied": [item.to_json() for item in self.applied if not item.skipped]}


def due_now(incidents: list[Incident], config: Config, now: datetime, ask: list[Finder] | None = None) -> list[Due]:
    """Every action due at ``now`` on ``incidents`` (nothing is written), in time order."""
    ask = finders() if ask is None else ask
    found = [due for incident in incidents for finder in ask for due in finder(incident, config, now)]
    return sorted(found, key=lambda due: (due.at, due.incident_id, due.key))


def apply(repo: Repo, due: Due, now: datetime) -> Applied:
    """Apply one action in its own transaction (one commit), re-deciding it on the record as it is under the
    lock, after the sync: when another ticker (or a person) got there first, nothing is written."""
    from .lifecycle import insert_entry

    with repo.transaction() as tx:
        current = repo.load(due.incident_id)
        entry = due.build(current, repo.config, now)
        if entry is None:
            return Applied(due.incident_id, due.key, due.at, due.summary, skipped=True)
        changed = current.model_copy(update={"timeline": insert_entry(current.timeline, entry)})
        tx.message = f"{current.id}: {due.summary} (tick)"
        tx.save(changed)
    return Applied(due.incident_id, due.key, due.at, due.summary, commit=tx.commit_sha, push_error=tx.push_error)


def run(repo: Repo, now: datetime, ask: list[Finder] | None = None) -> TickReport:
    """Apply everything due at ``now`` on every valid record (invalid ones are named in ``problems``)."""
    report = TickReport(now=now)
    incidents = repo.scan(skip_invalid=True, problems=report.problems)
    for due in due_now(incidents, repo.config, now, ask):
        report.applied.append(apply(repo, due, now))
    return report

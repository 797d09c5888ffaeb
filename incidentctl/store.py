"""The incident store: one YAML file per incident under ``incidents/``.

Reading goes through THE record pipeline (:mod:`incidentctl.records`: listing, validate, cache);
writing goes through THE transaction (:meth:`Repo.transaction`): ruamel round-trip so comments
survive, always atomically, validated and read back, under the per-repo lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import CONFIG_FILE, Config, find_repo, load_config
from .errors import AmbiguousIdError, IncidentNotFoundError, RecordError
from .model import ID_PATTERN, Incident
from .records import cache
from .records.codec import atomic_write, merge_into, rt_dump, rt_load
from .records.listing import list_records
from .records.validate import check_bytes, check_file, decode, read_bytes
from .records.validate import record_problems as record_problems  # for the merge driver and tests

if TYPE_CHECKING:
    from .records.summaries import SummaryRows
    from .records.transaction import Transaction

INCIDENTS_DIR = "incidents"
#: Keys written in YAML flow style (``{a: b}``) to keep records compact.
FLOW_KEYS = frozenset({"components", "slack", "x", "statuspage", "refs", "notified"})


@dataclass
class Repo:
    """An incident repo on disk: its root, its config and its records."""

    root: Path
    config: Config

    @classmethod
    def open(cls, explicit: Path | str | None = None) -> Repo:
        root = find_repo(explicit)
        return cls(root=root, config=load_config(root))

    # -- paths ---------------------------------------------------------------------------------

    @property
    def incidents_dir(self) -> Path:
        return self.root / INCIDENTS_DIR

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    def record_path(self, incident_id: str) -> Path:
        """The record's path; the id is validated so it can never point outside ``incidents/``."""
        if not ID_PATTERN.match(incident_id):
            raise RecordError(f"invalid incident id {incident_id!r}: use lowercase letters, digits and '-' only")
        return self.incidents_dir / f"{incident_id}.yaml"

    def relpath(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    # -- reading -------------------------------------------------------------------------------

    def ids(self) -> list[str]:
        """Every incident id, sorted (ids start with the date, so this is chronological)."""
        return list(list_records(self.incidents_dir))

    def resolve_id(self, prefix: str) -> str:
        """An exact id, or the one id starting with ``prefix``."""
        prefix = prefix.strip()
        if not prefix:
            raise IncidentNotFoundError("empty incident id")
        if ID_PATTERN.match(prefix) and self.record_path(prefix).is_file():
            return prefix
        if "/" in prefix or "\\" in prefix or prefix.startswith("."):
            raise IncidentNotFoundError(f"no incident {prefix!r}: ids are like 2024-12-12-api-down")
        matches = [incident_id for incident_id in self.ids() if incident_id.startswith(prefix)]
        if not matches:
            raise IncidentNotFoundError(f"no incident matches {prefix!r}; `incidentctl list` shows them all")
        if len(matches) > 1:
            shown = ", ".join(matches[:10]) + (f" and {len(matches) - 10} more" if len(matches) > 10 else "")
            raise AmbiguousIdError(f"{prefix!r} matches {len(matches)} incidents: {shown}")
        return matches[0]

    def read_bytes(self, incident_id: str) -> bytes:
        path = self.record_path(incident_id)
        return read_bytes(path, self.relpath(path))

    def read_text(self, incident_id: str) -> str:
        path = self.record_path(incident_id)
        return decode(self.read_bytes(incident_id), self.relpath(path))

    def load(self, incident_id: str) -> Incident:
        """Load and validate one record (``incident_id`` must be a full id; see :meth:`resolve_id`)."""
        path = self.record_path(incident_id)
        incident, problems = check_bytes(self.read_bytes(incident_id), self.relpath(path), self.config, incident_id)
        if incident is None:
            raise RecordError("\n".join(problems))
        return incident

    def check(self, incident_id: str) -> tuple[Incident | None, list[str]]:
        """:meth:`load` without raising: the incident (or None) and every problem."""
        path = self.record_path(incident_id)
        return check_file(path, self.relpath(path), self.config, incident_id)

    def get(self, id_or_prefix: str) -> Incident:
        return self.load(self.resolve_id(id_or_prefix))

    def scan(self, *, skip_invalid: bool = False, problems: list[str] | None = None) -> list[Incident]:
        """Every incident, oldest first. Invalid records raise unless ``skip_invalid``; their
        problems (``path:line: message``) are added to ``problems`` when given."""
        return cache.load_all(self, skip_invalid=skip_invalid, problems=problems)

    def summaries(self, *, skip_invalid: bool = False, problems: list[str] | None = None) -> list[dict[str, Any]]:
        """What ``list`` shows of every incident (``Incident.summary_dict()``), oldest first.

        Validated like :meth:`scan`, but a warm call reads one small cache file, not every record.
        """
        return cache.summaries(self, skip_invalid=skip_invalid, problems=problems)

    def summary_rows(self) -> SummaryRows:
        """:meth:`summaries` for ``list``: newest first, each encoded as JSON once, filtered without
        decoding (:class:`incidentctl.records.summaries.SummaryRows`); invalid records are skipped,
        their problems in ``.problems``. Close it when done (``with repo.summary_rows() as rows``)."""
        return cache.summary_rows(self)

    # -- writing -------------------------------------------------------------------------------

    def transaction(self, message: str | None = None, *, propose: bool = False) -> Transaction:
        """THE way to write: ``with repo.transaction("<id>: <what>") as tx: tx.save(incident)``.

        ``propose=True``: the change is committed on a new ``propose/<id>/<n>`` branch instead (SPEC "Review
        through git"); the current branch, index and working tree are untouched. See
        :class:`incidentctl.records.transaction.Transaction`.
        """
        from .records.transaction import Transaction  # the writer's module (and git's) only for writes

        return Transaction(self, message, propose=propose)

    def save(self, incident: Incident) -> Path:
        """Write ``incident`` to its record, keeping the existing file's comments and key order.

        Low level: call it only inside a transaction (:meth:`transaction`), which validates and commits.
        """
        path = self.record_path(incident.id)
        record = incident.to_record()
        document = None
        if path.exists():
            document = rt_load(path.read_text(encoding="utf-8"), self.relpath(path))
            if not isinstance(document, dict):
                document = None
        if document is None:
            from ruamel.yaml.comments import CommentedMap  # ruamel only on writes: start-up time

            document = CommentedMap()
        document = merge_into(document, record, FLOW_KEYS)
        atomic_write(path, rt_dump(document))
        return path

"""The incident store: one YAML file per incident under ``incidents/``.

Reading uses the fast C loader (and a small cache outside the tracked files); writing goes through
ruamel round-trip so comments survive, always atomically and under a per-repo lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .config import CONFIG_FILE, Config, find_repo, load_config
from .errors import AmbiguousIdError, GitError, IncidentNotFoundError, RecordError
from .model import ID_PATTERN, Incident
from .yamlio import (
    atomic_write,
    fast_load,
    line_of,
    merge_into,
    remove_stale_temp_files,
    rt_dump,
    rt_load,
    validation_problems,
)

INCIDENTS_DIR = "incidents"
#: Keys written in YAML flow style (``{a: b}``) to keep records compact.
FLOW_KEYS = frozenset({"components", "slack", "x", "statuspage", "refs", "notified"})


def record_problems(
    text: str, path: Path | str, config: Config | None, expected_id: str | None = None
) -> tuple[Incident | None, list[str]]:
    """Parse and validate one record; return the incident (if valid) and every problem found."""
    try:
        data = fast_load(text, path)
    except RecordError as exc:
        return None, [str(exc)]
    return validate_record(data, path, config, expected_id, text_loader=lambda: text)


def validate_record(
    data: Any,
    path: Path | str,
    config: Config | None,
    expected_id: str | None = None,
    *,
    text_loader: Callable[[], str],
) -> tuple[Incident | None, list[str]]:
    """Validate parsed record data; ``text_loader`` gives the text for line numbers, only on error."""
    if not isinstance(data, dict):
        return None, [f"{path}:1: expected a mapping (schema, id, title, severity, timeline)"]
    try:
        incident = Incident.model_validate(data)
    except ValidationError as exc:
        return None, validation_problems(exc, path, text_loader())
    problems: list[str] = []
    if expected_id is not None and incident.id != expected_id:
        text = text_loader()
        problems.append(
            f"{path}:{line_of(text, ['id'])}: id: {incident.id!r} does not match the file name {expected_id!r}"
        )
    if config is not None and not _config_ok(incident, config):
        problems.extend(_config_problems(incident, text_loader(), path, config))
    return (incident if not problems else None), problems


def _config_ok(incident: Incident, config: Config) -> bool:
    """The fast check; the slow one (with line numbers) runs only when this fails."""
    if incident.severity not in config.severities:
        return False
    known = config.component_ids
    if not known:
        return True
    known_set = set(known)
    return all(component in known_set for entry in incident.timeline for component in entry.components)


def _config_problems(incident: Incident, text: str, path: Path | str, config: Config) -> list[str]:
    problems = []
    if incident.severity not in config.severities:
        known = ", ".join(config.severities)
        problems.append(
            f"{path}:{line_of(text, ['severity'])}: severity: unknown severity {incident.severity!r} (known: {known})"
        )
    known_components = set(config.component_ids)
    if known_components:
        for index, entry in enumerate(incident.timeline):
            for component in entry.components:
                if component not in known_components:
                    loc: list[str | int] = ["timeline", index, "components", component]
                    problems.append(
                        f"{path}:{line_of(text, loc)}: timeline.{index}.components: unknown component {component!r} "
                        f"(known: {', '.join(sorted(known_components))})"
                    )
    return problems


@dataclass
class Repo:
    """An incident repo on disk: its root, its config and its records."""

    root: Path
    config: Config
    _cache: dict[str, Incident] = field(default_factory=dict, repr=False)

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
        if not self.incidents_dir.is_dir():
            return []
        return sorted(
            name[:-5]
            for name in os.listdir(self.incidents_dir)
            if name.endswith(".yaml")
            and not name.startswith(".")
            and ID_PATTERN.match(name[:-5])
            and not os.path.islink(self.incidents_dir / name)  # a record is never a link out of the repo
        )

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

    def read_text(self, incident_id: str) -> str:
        path = self.record_path(incident_id)
        if path.is_symlink():
            raise RecordError(
                f"{self.relpath(path)}:1: is a symbolic link; a record must be a regular file in the repo"
            )
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise IncidentNotFoundError(f"no incident {incident_id!r}; `incidentctl list` shows them all") from None
        except UnicodeDecodeError:
            raise RecordError(f"{self.relpath(path)}:1: not UTF-8 text") from None
        except OSError as exc:
            raise RecordError(f"{self.relpath(path)}: cannot read: {exc.strerror}") from None

    def load(self, incident_id: str) -> Incident:
        """Load and validate one record (``incident_id`` must be a full id; see :meth:`resolve_id`)."""
        text = self.read_text(incident_id)
        incident, problems = record_problems(
            text, self.relpath(self.record_path(incident_id)), self.config, incident_id
        )
        if incident is None:
            raise RecordError("\n".join(problems))
        return incident

    def get(self, id_or_prefix: str) -> Incident:
        return self.load(self.resolve_id(id_or_prefix))

    def scan(self, *, skip_invalid: bool = False) -> list[Incident]:
        """Every incident, oldest first. Invalid records raise unless ``skip_invalid``."""
        from .cache import load_all

        return load_all(self, skip_invalid=skip_invalid)

    def summaries(self, *, skip_invalid: bool = False) -> list[dict[str, Any]]:
        """What ``list`` shows of every incident (``Incident.summary_dict()``), oldest first.

        Validated like :meth:`scan`, but a warm call reads one small cache file, not every record.
        """
        from .cache import summaries

        return summaries(self, skip_invalid=skip_invalid)

    # -- writing -------------------------------------------------------------------------------

    def save(self, incident: Incident) -> Path:
        """Write ``incident`` to its record, keeping the existing file's comments and key order."""
        path = self.record_path(incident.id)
        record = incident.to_record()
        if path.exists():
            document = rt_load(path.read_text(encoding="utf-8"), self.relpath(path))
            if not isinstance(document, dict):
                document = None
        else:
            document = None
        if document is None:
            from ruamel.yaml.comments import CommentedMap

            document = CommentedMap()
        document = merge_into(document, record, FLOW_KEYS)
        atomic_write(path, rt_dump(document))
        return path

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the per-repo write lock (``flock``: the OS releases it if we die)."""
        git_dir = self.root / ".git"
        lock_path = (git_dir if git_dir.is_dir() else self.root) / "incidentctl.lock"
        try:
            handle = open(lock_path, "a+")  # noqa: SIM115 - held for the block
        except OSError as exc:
            raise GitError(f"cannot create the lock file {lock_path}: {exc.strerror}") from None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                import sys

                print("waiting for another incidentctl command in this repo to finish...", file=sys.stderr)
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                from .cache import cache_path

                remove_stale_temp_files(self.incidents_dir, self.root, cache_path(self.root).parent)
                from .gitops import recover_interrupted

                recover_interrupted(self.root)  # a push killed mid-rebase: undo it before reading
                if self.config.git.commit and self.config.git.push:
                    from .gitops import sync

                    sync(self.root, self.config.git.remote)  # write on the latest record
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

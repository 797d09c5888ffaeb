"""THE check of one record: bytes in, ``(Incident | None, problems)`` out.

Every reader (``show``, ``list``, ``lint``, the site, ``remind``, ``stats``, the merge driver, the
demo) goes through :func:`check_bytes` or :func:`check_file`, so one broken file gets one wording
everywhere: ``path:line: message``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..errors import IncidentNotFoundError, RecordError
from ..model import Incident, validate_record_data
from .codec import MAX_RECORD_BYTES, line_of, validation_problems

if TYPE_CHECKING:
    from ..config import Config


def read_bytes(path: Path | str, rel: Path | str) -> bytes:
    """A record's bytes. Raises :class:`RecordError` (``rel:1: ...``), or :class:`IncidentNotFoundError`."""
    if os.path.islink(path):
        raise RecordError(f"{rel}:1: is a symbolic link; a record must be a regular file in the repo")
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise IncidentNotFoundError(f"no incident {Path(rel).stem!r}; `incidentctl list` shows them all") from None
    except OSError as exc:
        raise RecordError(f"{rel}:1: cannot read: {exc.strerror}") from None


def decode(data: bytes, path: Path | str) -> str:
    """UTF-8 text, or :class:`RecordError` naming the line of the first bad byte."""
    if len(data) > MAX_RECORD_BYTES:
        raise RecordError(f"{path}:1: file is larger than {MAX_RECORD_BYTES // (1024 * 1024)} MB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RecordError(f"{path}:{line}: not UTF-8 text") from None


def parse_bytes(data: bytes, path: Path | str) -> tuple[Any, str]:
    """Decode and parse (:func:`incidentctl.records.fastparse.parse`: yaml-rs, or PyYAML's C loader
    reading YAML 1.2 as the writer does): ``(parsed data, text)``; :class:`RecordError` on failure."""
    from . import fastparse  # imported on first parse: `list` on an empty repo never loads yaml-rs

    text = decode(data, path)
    return fastparse.parse(text, path), text


def check_bytes(
    data: bytes, path: Path | str, config: Config | None, expected_id: str | None = None
) -> tuple[Incident | None, list[str]]:
    """THE record check: the incident (None if invalid) and every problem as ``path:line: message``."""
    incident, _parsed, problems = check_bytes_parsed(data, path, config, expected_id)
    return incident, problems


def check_bytes_parsed(
    data: bytes, path: Path | str, config: Config | None, expected_id: str | None = None
) -> tuple[Incident | None, Any, list[str]]:
    """:func:`check_bytes`, also returning the parsed data (None when it does not parse)."""
    try:
        parsed, text = parse_bytes(data, path)
    except RecordError as exc:
        return None, None, [str(exc)]
    incident, problems = validate_record(parsed, path, config, expected_id, text_loader=lambda: text)
    return incident, parsed, problems


def check_file(
    file: Path | str, rel: Path | str, config: Config | None, expected_id: str | None = None
) -> tuple[Incident | None, list[str]]:
    """:func:`check_bytes` on a file; a file that cannot be read is one more problem, same wording."""
    incident, _parsed, problems = check_file_parsed(file, rel, config, expected_id)
    return incident, problems


def check_file_parsed(
    file: Path | str, rel: Path | str, config: Config | None, expected_id: str | None = None
) -> tuple[Incident | None, Any, list[str]]:
    """:func:`check_file`, also returning the parsed data (what the scan cache keeps)."""
    try:
        data = read_bytes(file, rel)
    except RecordError as exc:
        return None, None, [str(exc)]
    except IncidentNotFoundError:
        return None, None, [f"{rel}:1: cannot read: no such file"]
    return check_bytes_parsed(data, rel, config, expected_id)


def record_problems(
    text: str, path: Path | str, config: Config | None, expected_id: str | None = None
) -> tuple[Incident | None, list[str]]:
    """:func:`check_bytes` for text already in memory (the merge driver, tests)."""
    return check_bytes(text.encode("utf-8", "surrogatepass"), path, config, expected_id)


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
        incident = validate_record_data(data)
    except ValidationError as exc:
        return None, validation_problems(exc, path, text_loader())
    problems: list[str] = []
    if expected_id is not None and incident.id != expected_id:
        text = text_loader()
        problems.append(
            f"{path}:{line_of(text, ['id'])}: id: {incident.id!r} does not match the file name {expected_id!r}"
        )
    if config is not None and not config_ok(incident, config):
        problems.extend(config_problems(incident, text_loader(), path, config))
    return (incident if not problems else None), problems


def config_ok(incident: Incident, config: Config) -> bool:
    """The fast check; the slow one (with line numbers) runs only when this fails."""
    if incident.severity not in config.severities and incident.kind != "maintenance":
        return False
    known = config.component_table().known
    if not known:
        return True
    return all(known.issuperset(entry.components) for entry in incident.timeline)


def config_problems(incident: Incident, text: str, path: Path | str, config: Config) -> list[str]:
    problems = []
    if incident.severity not in config.severities and incident.kind != "maintenance":
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

"""``incidentctl lint``: every problem in every file, as ``path:line: message``."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .config import CONFIG_FILE, Config, parse_config
from .errors import IncidentctlError
from .model import ID_PATTERN, Incident, is_clean_text
from .records.codec import format_loc, line_of
from .records.validate import check_file_parsed
from .store import INCIDENTS_DIR

#: Extra checks run after the records: ``(root, config, incidents) -> problems``. Templates,
#: postmortems and plugins add theirs here.
Check = Callable[[Path, Config, list[Incident]], list[str]]
EXTRA_CHECKS: list[Check] = []


def is_warning(problem: str) -> bool:
    """Checks report warnings as ``path:line: warning: message``; they never fail ``lint``."""
    return ": warning: " in problem


def lint_repo(root: Path) -> list[str]:
    """Validate the config, every record and every extra check; return every problem found."""
    from .postmortem import lint_postmortems

    if lint_postmortems not in EXTRA_CHECKS:
        EXTRA_CHECKS.append(lint_postmortems)
    from .render import lint_templates

    if lint_templates not in EXTRA_CHECKS:
        EXTRA_CHECKS.append(lint_templates)
    from .channels.subscribers import lint_subscribers

    if lint_subscribers not in EXTRA_CHECKS:
        EXTRA_CHECKS.append(lint_subscribers)
    from .site.checks import lint_site_templates

    if lint_site_templates not in EXTRA_CHECKS:
        EXTRA_CHECKS.append(lint_site_templates)
    problems: list[str] = []
    config: Config | None = None
    config_path = root / CONFIG_FILE
    try:
        config = parse_config(config_path.read_text(encoding="utf-8"), CONFIG_FILE)
    except FileNotFoundError:
        problems.append(f"{CONFIG_FILE}:1: missing; run `incidentctl init`")
    except UnicodeDecodeError:
        problems.append(f"{CONFIG_FILE}:1: not UTF-8 text")
    except IncidentctlError as exc:
        problems.extend(str(exc).splitlines())

    incidents: list[Incident] = []
    folder = root / INCIDENTS_DIR
    names = sorted(os.listdir(folder)) if folder.is_dir() else []
    for name in names:
        rel = f"{INCIDENTS_DIR}/{name}"
        if name.startswith(".") or (folder / name).is_dir():
            continue
        if not name.endswith(".yaml"):
            if name.endswith(".yml"):
                problems.append(f"{rel}:1: records must end in .yaml (rename it to {name[:-4]}.yaml)")
            continue
        if (folder / name).is_symlink():
            problems.append(f"{rel}:1: is a symbolic link; a record must be a regular file in the repo")
            continue
        stem = name[:-5]
        if not ID_PATTERN.match(stem):
            problems.append(f"{rel}:1: file name must be the incident id ([a-z0-9-] only)")
            continue
        incident, parsed, found = check_file_parsed(folder / name, rel, config, stem)
        problems.extend(found)
        if parsed is not None:
            problems.extend(text_problems(parsed, folder / name, rel))
        if incident is not None:
            incidents.append(incident)
    if config is not None:
        for check in EXTRA_CHECKS:
            try:
                problems.extend(check(root, config, incidents))
            except IncidentctlError as exc:
                problems.extend(str(exc).splitlines())
    return problems


#: Fields holding text entered by people (SPEC "text hygiene"); ids, refs and errors are checked elsewhere.
_TEXT_KEYS = frozenset(
    {
        "title",
        "message",
        "commander",
        "author",
        "owner",
        "summary",
        "public_summary",
        "impact",
        "trigger",
        "detection",
        "resolution",
        "root_causes",
        "went_well",
        "went_wrong",
        "lucky",
        "authors",
    }
)


def text_problems(data: object, file: Path, rel: str) -> list[str]:
    """Text fields holding control characters, a byte-order mark, non-characters or non-NFC text
    (a hand edit; every write stores them cleaned)."""
    found: list[tuple[int | str, ...]] = []

    def walk(value: object, loc: tuple[int | str, ...], text_field: bool) -> None:
        if isinstance(value, str):
            if text_field and not is_clean_text(value):
                found.append(loc)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, (*loc, str(key)), text_field or str(key) in _TEXT_KEYS)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, (*loc, index), text_field)

    walk(data, (), False)
    if not found:
        return []
    text = file.read_text(encoding="utf-8", errors="replace")
    return [
        f"{rel}:{line_of(text, list(loc))}: {format_loc(loc)}: control characters, a byte-order mark, "
        "non-characters or text not in NFC form (the next write by incidentctl cleans it)"
        for loc in found
    ]

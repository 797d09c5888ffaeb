"""The layout rules: the library never imports the CLI, one vocabulary, one due-period grammar."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from incidentctl.config import Severity, parse_config
from incidentctl.display import incident_markup
from incidentctl.durations import add_due_period, parse_due_period
from incidentctl.errors import UsageError
from incidentctl.model import Entry, Incident, missing_postmortem_fields
from incidentctl.vocabulary import IMPACT_LABELS, IMPACT_RANK, IMPACTS, INDICATOR_RANK, INDICATORS, STATUSES
from testing import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "incidentctl"


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports, made absolute."""
    package = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts[:-1])
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            found.append(".".join([*base, node.module or ""]).rstrip("."))
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return found


def test_the_library_never_imports_the_cli() -> None:
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)} imports {name}"
        for path in PACKAGE.rglob("*.py")
        if "cli" not in path.relative_to(PACKAGE).parts and path.name != "__main__.py"
        for name in _imports(path)
        if name == "incidentctl.cli" or name.startswith("incidentctl.cli.")
    ]
    assert offenders == []


def test_every_command_has_its_own_module() -> None:
    commands = {path.stem for path in (PACKAGE / "cli" / "commands").glob("*.py")}
    assert {"incidents", "list", "show", "init", "lint", "demo", "remind", "snooze", "site", "stats"} <= commands


def test_the_vocabulary_is_complete_and_ordered() -> None:
    assert set(IMPACT_RANK) == set(IMPACTS) == set(IMPACT_LABELS)
    assert STATUSES[0] == "investigating" and STATUSES[-1] == "resolved"
    assert max(IMPACTS, key=IMPACT_RANK.__getitem__) == "major_outage"
    assert [INDICATOR_RANK[name] for name in INDICATORS] == list(range(len(INDICATORS)))


@pytest.mark.parametrize(
    ("text", "expected"), [("5bd", 5), ("0bd", 0), ("3d", timedelta(days=3)), ("90", timedelta(minutes=90))]
)
def test_due_periods_parse_one_way(text: str, expected: int | timedelta) -> None:
    assert parse_due_period(text) == expected
    assert Severity(name="x", postmortem_due=text).postmortem_due == text


@pytest.mark.parametrize("text", ["5xd", "bd", "-1bd", "soon"])
def test_the_config_refuses_what_the_reminders_cannot_count(text: str) -> None:
    with pytest.raises(UsageError):
        parse_due_period(text)
    with pytest.raises(ValueError, match="invalid duration"):
        Severity(name="x", postmortem_due=text)


def test_business_days_skip_the_weekend() -> None:
    friday = datetime(2024, 12, 13, 22, 0, tzinfo=UTC)  # 17:00 in New York
    assert add_due_period(friday, "1bd", ZoneInfo("America/New_York")) == datetime(2024, 12, 16, 22, 0, tzinfo=UTC)
    assert date(2024, 12, 16).weekday() == 0


def test_the_incident_view_is_library_code() -> None:
    at = datetime(2024, 12, 12, 0, 0, tzinfo=UTC)
    incident = Incident(
        id="2024-12-12-api",
        title="API [down]",
        severity="sev1",
        timeline=[Entry(at=at, status="investigating", message="Looking.", components={"api": "major_outage"})],
    )
    config = parse_config("organization: Example\ncomponents:\n  - {id: api, name: API}\n")
    lines = incident_markup(incident, config, now=at + timedelta(minutes=90))
    assert lines[0] == "[bold]API \\[down][/]"  # escaped: a title cannot inject markup
    assert "  duration   1h 30m (ongoing)" in lines
    assert any("Major outage" in line for line in lines)
    assert missing_postmortem_fields(incident.postmortem)[0] == "summary"

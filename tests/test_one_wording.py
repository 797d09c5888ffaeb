"""One record pipeline: every reading command reports a broken record in the same words."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from incidentctl.lifecycle import open_incident
from incidentctl.records.validate import check_bytes
from testing import make_repo

GOOD = "2024-01-01-fine"
BROKEN = {
    # not UTF-8 on line 3
    "2024-01-02-latin1": b"schema: 1\nid: 2024-01-02-latin1\ntitle: caf\xe9 down\n",
    # bad YAML (the parser notices at the end, line 3)
    "2024-01-03-bad-yaml": b"schema: 1\ntitle: [unclosed\n",
    # a schema error (unknown severity is a model error: a wrong status)
    "2024-01-04-schema": (
        b"schema: 1\nid: 2024-01-04-schema\ntitle: Schema\nseverity: sev2\n"
        b"timeline:\n  - at: 2024-01-04T10:00:00Z\n    status: exploded\n    message: hm\n"
    ),
}
EXPECTED = {
    "2024-01-02-latin1": "incidents/2024-01-02-latin1.yaml:3: not UTF-8 text",
    "2024-01-03-bad-yaml": "incidents/2024-01-03-bad-yaml.yaml:3: invalid YAML",
    "2024-01-04-schema": "incidents/2024-01-04-schema.yaml:7: timeline.0.status:",
}


@pytest.fixture
def broken_repo(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "r")
    open_incident(repo, "Fine", severity="sev2", incident_id=GOOD, message="ok")
    for incident_id, data in BROKEN.items():
        (repo.incidents_dir / f"{incident_id}.yaml").write_bytes(data)
    return repo.root


def _lines(text: str, incident_id: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if f"incidents/{incident_id}.yaml" in line]


def test_the_pipeline_names_path_and_line_for_each_kind_of_break() -> None:
    for incident_id, data in BROKEN.items():
        incident, problems = check_bytes(data, f"incidents/{incident_id}.yaml", None, incident_id)
        assert incident is None
        assert problems and problems[0].startswith(EXPECTED[incident_id]), problems


def test_every_command_reports_a_broken_record_in_the_same_words(
    broken_repo: Path, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    outputs: dict[str, str] = {}
    for name, args in {
        "list": ["list"],
        "site build": ["site", "build", "--output", str(tmp_path / "site")],
        "lint": ["lint"],
        "remind": ["remind"],  # SPEC: every command but lint skips broken records (exit 0), naming each one
        "stats": ["stats"],
    }.items():
        result = cli(*args, repo=broken_repo)
        assert result.exception is None, (name, result.exception)
        assert (result.exit_code == 0) == (name != "lint"), (name, result.exit_code, result.stdout)
        outputs[name] = result.stdout + result.stderr
    for incident_id in BROKEN:
        result = cli("show", incident_id, repo=broken_repo)
        assert result.exception is None and result.exit_code != 0
        outputs[f"show {incident_id}"] = result.stdout + result.stderr

    for incident_id in BROKEN:
        # The one wording, as the pipeline gives it (lint prints exactly these lines).
        _, problems = check_bytes(BROKEN[incident_id], f"incidents/{incident_id}.yaml", None, incident_id)
        message = problems[0]
        assert message.startswith(EXPECTED[incident_id]), message
        for name, text in outputs.items():
            if name.startswith("show") and name != f"show {incident_id}":
                continue
            lines = _lines(text, incident_id)
            assert lines, f"{name} does not name {incident_id}: {text}"
            assert any(message in line for line in lines), (name, message, lines)

"""The store: validation with file/line/field, atomic writes, the scan cache, lint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from incidentctl.errors import RecordError
from incidentctl.lifecycle import open_incident
from incidentctl.lint import lint_repo
from incidentctl.records import codec
from incidentctl.store import Repo, record_problems
from testing import SAMPLES, make_repo, modify_config

VALID = """\
schema: 1
id: 2024-01-01-x
title: X
severity: sev1
timeline:
  - at: 2024-01-01T00:00:00Z
    status: investigating
    message: hi
    components: {api: major_outage}
"""


@pytest.mark.parametrize(
    ("mutation", "line", "needle"),
    [
        (("status: investigating", "status: fixing"), 7, "timeline.0.status"),
        (("severity: sev1", "severity: sev9"), 4, "unknown severity 'sev9'"),
        (("{api: major_outage}", "{nope: major_outage}"), 9, "unknown component 'nope'"),
        (("{api: major_outage}", "{api: down}"), 9, "timeline.0.components.api"),
        (("at: 2024-01-01T00:00:00Z", "at: 2024-01-01 00:00:00"), 6, "time zone"),
        (("schema: 1", "schema: 2"), 1, "unsupported schema 2"),
        (("title: X", "title: X\ncolour: red"), 4, "colour: unknown field"),
        (("id: 2024-01-01-x", "id: ../../x"), 2, "invalid incident id"),
    ],
)
def test_problems_name_file_line_and_field(repo: Repo, mutation: tuple[str, str], line: int, needle: str) -> None:
    text = VALID.replace(*mutation)
    incident, problems = record_problems(text, "incidents/2024-01-01-x.yaml", repo.config, "2024-01-01-x")
    assert incident is None
    assert any(p.startswith(f"incidents/2024-01-01-x.yaml:{line}: ") and needle in p for p in problems), problems


def test_out_of_order_timeline_is_reported() -> None:
    text = VALID + "  - at: 2023-01-01T00:00:00Z\n    status: resolved\n"
    _, problems = record_problems(text, "f.yaml", None)
    assert any("f.yaml:10: timeline.1.at: entries must be in time order" in p for p in problems), problems


def test_yaml_syntax_error_has_line() -> None:
    _, problems = record_problems("schema: 1\ntitle: [unclosed\n", "f.yaml", None)
    assert problems[0].startswith("f.yaml:") and "invalid YAML" in problems[0]


def test_python_tags_and_aliases_refused() -> None:
    marker = Path("/tmp/incidentctl-pwned")
    marker.unlink(missing_ok=True)
    _, problems = record_problems(
        "x: !!python/object/apply:os.system ['touch /tmp/incidentctl-pwned']\n", "f.yaml", None
    )
    assert problems and not marker.exists()
    bomb = 'a: &a ["x","x"]\nb: &b [*a,*a]\nc: &c [*b,*b]\n'
    _, problems = record_problems(bomb, "f.yaml", None)
    assert "anchors and aliases are not allowed" in problems[0]


def test_atomic_write_interrupted_before_rename_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "incidents" / "a.yaml"
    codec.atomic_write(target, "old: 1\n")

    def boom(src: str, dst: str) -> None:
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        codec.atomic_write(target, "new: 2\n")
    assert target.read_text() == "old: 1\n"
    assert [p.name for p in target.parent.iterdir()] == ["a.yaml"]  # no temp file left


def test_stale_temp_files_removed_by_next_write(repo: Repo) -> None:
    stale = repo.incidents_dir / f"{codec.TEMP_PREFIX}abc.tmp"
    stale.write_text("half a record")
    open_incident(repo, "X", severity="sev2", message="m")
    assert not stale.exists()


def test_scan_cache_is_used_and_invalidated(repo: Repo) -> None:
    from incidentctl.records.cache import cache_path

    change = open_incident(repo, "X", severity="sev2", message="first")
    assert [i.title for i in repo.scan()] == ["X"]
    assert cache_path(repo.root).is_file()
    path = repo.record_path(change.incident.id)
    path.write_text(path.read_text().replace("title: X", "title: Y"))
    assert [i.title for i in repo.scan()] == ["Y"]
    cache_path(repo.root).write_bytes(b"garbage")
    assert [i.title for i in repo.scan()] == ["Y"]  # a broken cache is a cold start, never an error


def test_scan_raises_on_invalid_unless_skipped(repo: Repo) -> None:
    (repo.incidents_dir / "2024-01-01-bad.yaml").write_text("schema: 1\n")
    with pytest.raises(RecordError):
        repo.scan()
    assert repo.scan(skip_invalid=True) == []


def test_lint_reports_every_problem_in_every_file(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "r")
    (repo.incidents_dir / "2024-01-01-a.yaml").write_text(
        VALID.replace("2024-01-01-x", "2024-01-01-a").replace("sev1", "sev9")
    )
    (repo.incidents_dir / "2024-01-01-b.yaml").write_text("{{{")
    (repo.incidents_dir / "2024-01-01-c.yaml").write_text(VALID)  # id does not match the file
    (repo.incidents_dir / "Bad Name.yaml").write_text(VALID)
    problems = lint_repo(repo.root)
    joined = "\n".join(problems)
    assert "incidents/2024-01-01-a.yaml:4: severity" in joined
    assert "incidents/2024-01-01-b.yaml:" in joined
    assert "does not match the file name" in joined
    assert "incidents/Bad Name.yaml:1:" in joined
    result = cli("lint", repo=repo.root)
    assert result.exit_code == 1
    assert all(":" in line for line in result.stdout.splitlines())


def test_lint_config_problems(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "r")
    modify_config(repo.root, timezone="Mars/Olympus")
    result = cli("lint", repo=repo.root)
    assert result.exit_code == 1
    assert "incidentctl.yaml:6: timezone: unknown time zone 'Mars/Olympus'" in result.stdout


def test_samples_are_valid_records(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", components=(("api", "API"), ("chatgpt", "ChatGPT"), ("sora", "Sora")))
    for sample in sorted(SAMPLES.glob("*.yaml")):
        incident, problems = record_problems(sample.read_text(), sample.name, repo.config, sample.stem)
        assert incident is not None and incident.sample, problems
        assert not incident.is_open


def test_list_summaries_cache_warm_and_invalidated(repo: Repo, cli) -> None:  # type: ignore[no-untyped-def]
    from incidentctl.records.cache import cache_path

    change = open_incident(repo, "Old title", severity="sev2", message="first")
    assert [row["title"] for row in repo.summaries()] == ["Old title"]
    assert cache_path(repo.root, "summaries").is_file()
    path = repo.record_path(change.incident.id)
    path.write_text(path.read_text().replace("title: Old title", "title: New [bold]title[/bold]"))
    result = cli("list", repo=repo.root)
    assert "New [bold]title[/bold]" in result.stdout  # rich markup in a title is shown, not interpreted
    # an edited config invalidates every cached summary (validation depends on it)
    modify_config(repo.root, lambda config: config["severities"].insert(1, "sev4", config["severities"].pop("sev2")))
    listed = cli("list", "--json", repo=repo.root)
    assert listed.exit_code == 0 and "unknown severity 'sev2'" in listed.stderr  # SPEC: named, skipped


def test_cold_scan_in_two_processes_matches_one(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    from incidentctl.records import cache

    for number in range(12):
        open_incident(
            repo, f"Incident {number}", severity="sev3", message=f"m{number}", incident_id=f"2024-01-01-i{number:02d}"
        )
    (repo.incidents_dir / "2024-01-01-i99.yaml").write_text("schema: [broken\n")
    serial = [i.model_dump() for i in repo.scan(skip_invalid=True)]
    cache.clear(repo.root)
    monkeypatch.setattr(cache, "PARALLEL_THRESHOLD", 2)
    parallel = [i.model_dump() for i in repo.scan(skip_invalid=True)]
    assert parallel == serial and len(parallel) == 12
    cache.clear(repo.root)
    with pytest.raises(RecordError, match=r"2024-01-01-i99\.yaml:"):
        repo.scan()  # a problem found by the second process is reported like any other

"""Postmortems: figures from the record, the rendered sample, --init placeholders, the review branch, lint."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from incidentctl.lifecycle import add_update, open_incident, resolve_incident
from incidentctl.lint import lint_repo
from incidentctl.metrics import incident_metrics
from incidentctl.model import Entry, Incident
from incidentctl.postmortem import markdown_cell, render_postmortem
from incidentctl.store import Repo
from testing import SAMPLES, git, make_repo

FIRST = "2024-12-12-chatgpt-sora-api-unavailable"
SECOND = "2024-12-26-chatgpt-sora-elevated-error-rates"
T0 = datetime(2024, 12, 12, 15, 0, tzinfo=UTC)


def sample_repo(tmp_path: Path) -> Repo:
    repo = make_repo(tmp_path / "samples", components=(("api", "API"), ("chatgpt", "ChatGPT"), ("sora", "Sora")))
    for name in (FIRST, SECOND):
        shutil.copy(SAMPLES / f"{name}.yaml", repo.incidents_dir / f"{name}.yaml")
    git(repo.root, "add", "incidents")
    git(repo.root, "commit", "-qm", "samples")
    return repo


def test_figures_of_the_first_sample(tmp_path: Path) -> None:
    repo = sample_repo(tmp_path)
    metrics = incident_metrics(repo.get(FIRST), repo.config)
    assert metrics.time_to_identify == timedelta(minutes=47)
    assert metrics.time_to_mitigate == timedelta(hours=2, minutes=40)
    assert metrics.time_to_resolve == timedelta(hours=4, minutes=38)
    assert (metrics.public_updates, metrics.internal_entries) == (5, 2)
    longest = metrics.longest_silence
    assert longest is not None and longest.length == timedelta(hours=1, minutes=53)
    assert (metrics.updates_on_time, metrics.updates_judged) == (0, 4)
    impacted = {item.component: (item.worst, item.impacted) for item in metrics.components}
    assert impacted == {
        "api": ("major_outage", timedelta(hours=4, minutes=38)),
        "chatgpt": ("major_outage", timedelta(hours=3, minutes=38)),
        "sora": ("major_outage", timedelta(hours=3, minutes=38)),
    }


def test_rendered_sample_postmortem(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = sample_repo(tmp_path)
    result = cli("postmortem", FIRST[:12], repo=repo.root)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text == render_postmortem(repo, repo.get(FIRST))
    assert text.startswith("# Postmortem: ChatGPT, Sora and API unavailable\n")
    for section in (
        "## Public summary",
        "## Summary",
        "## Impact",
        "## Key figures",
        "## Root causes",
        "## Trigger",
        "## Detection",
        "## Resolution",
        "## Lessons learned",
        "### What went well",
        "### What went wrong",
        "### Where we got lucky",
        "## Action items",
        "## Timeline",
    ):
        assert f"\n{section}\n" in text, section
    assert "| Duration | 4h 38m |" in text
    assert "| Time to identify | 47m |" in text
    assert "| Time to mitigate | 2h 40m |" in text
    assert "| Time to resolve | 4h 38m |" in text
    assert "| Public updates | 5 |" in text
    assert "| Longest silence | 1h 53m (19:47 to 21:40 EST) |" in text
    assert "| Updates on time | 0 of 4 |" in text
    assert "| API | Major outage | 4h 38m | 2024-12-11 19:00 EST | 2024-12-11 23:38 EST |" in text
    assert (
        "| 1 | Phased rollouts with control-plane health checks for infrastructure changes | infrastructure | 2025-01-31 | - | open |"
        in text
    )
    # Internal document: internal entries are in the timeline, marked.
    assert "### 2024-12-11 19:22 EST — Investigating *(internal)*" in text
    assert "> Control plane of several large Kubernetes clusters unresponsive" in text
    assert "| Postmortem | complete |" in text


def test_sample_without_postmortem_fields_renders_placeholders(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = sample_repo(tmp_path)
    output = tmp_path / "out" / "pm.md"
    result = cli("postmortem", SECOND, "--output", str(output), repo=repo.root)
    assert result.exit_code == 0, result.output
    text = output.read_text(encoding="utf-8")
    assert "| Postmortem | not started; due 2024-12-29 20:35 EST |" in text
    assert "## Root causes\n\n_To be written._\n" in text
    assert "| Time to resolve | 7h 5m |" in text


def test_mitigation_from_components_when_status_lags(repo: Repo) -> None:
    change = open_incident(repo, "Web down", severity="sev2", components={"web": "major_outage"}, at=T0)
    incident_id = change.incident.id
    add_update(
        repo,
        incident_id,
        message="Degraded now.",
        components={"web": "degraded_performance"},
        at=T0 + timedelta(minutes=20),
    )
    add_update(repo, incident_id, message="Watching.", status="monitoring", at=T0 + timedelta(minutes=50))
    resolve_incident(repo, incident_id, at=T0 + timedelta(hours=1))
    metrics = incident_metrics(repo.get(incident_id), repo.config)
    assert metrics.time_to_identify == timedelta(minutes=50)  # status identified-or-later first at monitoring
    assert metrics.time_to_mitigate == timedelta(minutes=20)
    assert metrics.components[0].impacted == timedelta(hours=1)


def test_open_incident_figures_run_to_now() -> None:
    incident = Incident(
        id="x-1",
        title="t",
        severity="sev1",
        timeline=[
            Entry(at=T0, status="investigating", components={"api": "partial_outage"}),
            Entry(at=T0 + timedelta(minutes=5), status="investigating", visibility="internal"),
        ],
    )
    metrics = incident_metrics(incident, None, now=T0 + timedelta(hours=2))
    assert metrics.ongoing and metrics.time_to_resolve is None and metrics.time_to_identify is None
    assert metrics.components[0].impacted == timedelta(hours=2)
    longest = metrics.longest_silence
    assert longest is not None and longest.length == timedelta(hours=2)


def test_untrusted_text_cannot_break_tables() -> None:
    assert markdown_cell("a | b\nc") == "a \\| b c"


def test_init_adds_commented_placeholders_that_survive_later_saves(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "r")
    incident_id = open_incident(
        repo, "API down", severity="sev1", components={"api": "major_outage"}, at=T0
    ).incident.id
    resolve_incident(repo, incident_id, at=T0 + timedelta(hours=1))
    path = repo.record_path(incident_id)
    path.write_text("# keep me: a hand-written comment\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    git(repo.root, "commit", "-qam", "hand edit")

    result = cli("postmortem", incident_id, "--init", repo=repo.root)
    assert result.exit_code == 0, result.output
    assert git(repo.root, "log", "-1", "--format=%s").strip() == f"{incident_id}: postmortem placeholders"
    assert git(repo.root, "status", "--porcelain").strip() == ""
    text = path.read_text(encoding="utf-8")
    assert "# keep me: a hand-written comment" in text
    assert "# Postmortem (internal): fill these in" in text
    assert "  summary: null         # what happened, in two or three sentences\n" in text
    assert "  root_causes: []       # why it happened: one item per cause\n" in text
    assert "  action_items: []      # - {title: ..., owner: ..., due: 2025-01-31" in text
    incident = repo.get(incident_id)
    assert incident.postmortem is not None and incident.postmortem.summary is None

    # Another write (a snooze) keeps every placeholder and its comment.
    assert cli("snooze", incident_id, "10m", repo=repo.root).exit_code == 0
    after = path.read_text(encoding="utf-8")
    assert "  summary: null         # what happened, in two or three sentences\n" in after
    assert "  lessons:" in after and "    went_well: []" in after
    assert "reminders:" in after

    again = cli("postmortem", incident_id, "--init", repo=repo.root)
    assert again.exit_code == 0 and "nothing changed" in again.stderr

    lint = lint_repo(repo.root)
    assert any(
        line.startswith(f"incidents/{incident_id}.yaml:") and ": warning: postmortem incomplete" in line
        for line in lint
    ), lint
    assert "fill in summary, impact, root_causes, trigger, detection, resolution, action_items" in "\n".join(lint)


def test_lint_warns_on_missing_postmortem_without_failing(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "r")
    incident_id = open_incident(repo, "API down", severity="sev1", at=T0).incident.id
    resolve_incident(repo, incident_id, at=T0 + timedelta(hours=1))
    result = cli("lint", repo=repo.root)
    assert result.exit_code == 0, result.output
    assert (
        f"incidents/{incident_id}.yaml:1: warning: sev1 requires a postmortem (due 2024-12-15T16:00:00Z)"
        in result.output
    )
    # A sev3 needs none.
    other = open_incident(repo, "Slow page", severity="sev3", at=T0).incident.id
    resolve_incident(repo, other, at=T0 + timedelta(hours=1))
    assert not any(other in line for line in lint_repo(repo.root))


def test_lint_reports_a_broken_postmortem_template(tmp_path: Path) -> None:
    repo = sample_repo(tmp_path)
    (repo.root / "templates" / "postmortem.md.j2").write_text(
        "# {{ incident.title }}\n{{ nope.field }}\n", encoding="utf-8"
    )
    problems = lint_repo(repo.root)
    # An error, not a warning: `lint` fails on it.
    assert any(
        "postmortem.md.j2" in line and "'nope' is undefined" in line and ": warning:" not in line for line in problems
    ), problems


def test_repo_template_overrides_the_packaged_one(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = sample_repo(tmp_path)
    (repo.root / "templates" / "postmortem.md.j2").write_text(
        "{{ incident.id }} lasted {{ metrics.duration|duration }}, silent {{ metrics.longest_silence.length|duration }}\n",
        encoding="utf-8",
    )
    result = cli("postmortem", FIRST, repo=repo.root)
    assert result.stdout == f"{FIRST} lasted 4h 38m, silent 1h 53m\n"


def test_review_branch_leaves_the_checkout_alone(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = sample_repo(tmp_path)
    (repo.root / "notes.txt").write_text("uncommitted\n", encoding="utf-8")
    record = repo.record_path(FIRST)
    record.write_text(record.read_text(encoding="utf-8") + "# a hand edit in progress\n", encoding="utf-8")
    status_before = git(repo.root, "status", "--porcelain")
    head_before = git(repo.root, "rev-parse", "HEAD")

    result = cli("postmortem", FIRST, "--branch", repo=repo.root)
    assert result.exit_code == 0, result.output
    assert f"postmortem/{FIRST}" in result.stderr

    assert git(repo.root, "branch", "--show-current").strip() == "main"
    assert git(repo.root, "rev-parse", "HEAD") == head_before
    assert git(repo.root, "status", "--porcelain") == status_before
    assert not (repo.root / "postmortems").exists()
    branch = f"postmortem/{FIRST}"
    assert git(repo.root, "rev-parse", f"{branch}~1") == head_before
    assert git(repo.root, "log", "-1", "--format=%s", branch).strip() == f"{FIRST}: postmortem for review"
    assert git(repo.root, "diff", "--name-only", "HEAD", branch).split() == [f"postmortems/{FIRST}.md"]
    committed = git(repo.root, "show", f"{branch}:postmortems/{FIRST}.md")
    assert committed == render_postmortem(repo, repo.get(FIRST))

    again = cli("postmortem", FIRST, "--branch", repo=repo.root)
    assert again.exit_code == 1
    assert "already exists" in again.stderr and "Traceback" not in again.output


@pytest.mark.parametrize("args", [("--init", "--branch"), ("--branch", "--output", "x.md")])
def test_postmortem_options_conflict(tmp_path: Path, cli, args: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    repo = sample_repo(tmp_path)
    assert cli("postmortem", FIRST, *args, repo=repo.root).exit_code == 2


def test_demo_renders_the_sample_postmortem(tmp_path: Path) -> None:
    from incidentctl.demo import run_demo

    lines: list[str] = []
    run_demo(tmp_path / "demo", out=lines.append)
    rendered = (tmp_path / "demo" / "postmortems" / f"{FIRST}.md").read_text(encoding="utf-8")
    assert "| Time to resolve | 4h 38m |" in rendered
    assert "| Longest silence | 1h 53m" in rendered

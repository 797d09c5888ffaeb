"""The message templates: defaults, repo overrides, escaping, errors with file:line, lint."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from incidentctl.channels.base import RenderContext
from incidentctl.channels.slack import SlackChannel
from incidentctl.channels.x import XChannel
from incidentctl.durations import utcnow
from incidentctl.errors import TemplateError
from incidentctl.lifecycle import add_update, open_incident, resolve_incident
from incidentctl.render import escape_mrkdwn, lint_templates, sample_incidents
from incidentctl.store import Repo
from incidentctl.templating import forget_templates, templates_for
from testing import make_repo


def _context(repo: Repo, incident_id: str, index: int = -1) -> RenderContext:
    view = repo.load(incident_id).public_view()
    position = index % len(view.timeline)
    return RenderContext(
        incident=view,
        entry=view.timeline[position],
        public_index=position,
        config=repo.config,
        settings=None,
        templates=templates_for(repo.root, repo.config),
    )


def _open(repo: Repo, message: str = "We are investigating errors on the API.") -> str:
    # Opened six hours ago, so later entries (a resolution 4h38m in) are not in the future.
    return open_incident(
        repo,
        "API unavailable",
        severity="sev1",
        components={"api": "major_outage"},
        message=message,
        next_update="30m",
        at=utcnow() - timedelta(hours=6),
    ).incident.id


def test_slack_default_is_block_kit_with_fallback_and_escaping(repo: Repo) -> None:
    incident_id = _open(repo, message='Ping <!channel> & see <https://evil.example|here> "quoted"')
    message = SlackChannel().render(_context(repo, incident_id))
    payload = message.payload
    assert payload["blocks"][0]["type"] == "header"
    assert "Investigating" in payload["blocks"][0]["text"]["text"]
    assert "Critical" in payload["blocks"][1]["elements"][0]["text"]
    fields = payload["blocks"][2]["fields"]
    assert fields[0]["text"] == "*API*\nMajor outage"
    body = payload["blocks"][3]["text"]["text"]
    assert "<!channel>" not in body and "&lt;!channel&gt;" in body and "&amp;" in body
    assert "<!channel>" not in payload["text"], "the fallback is mrkdwn too"
    assert "Next update by" in json.dumps(payload)


def test_slack_resolution_shows_duration_and_status_link(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "status",
        config=lambda config: config["channels"]["statuspage"].update(url="https://status.example.com"),
    )
    incident_id = _open(repo)
    started = repo.load(incident_id).started_at
    resolve_incident(repo, incident_id, message="Fixed.", at=started + timedelta(hours=4, minutes=38))
    payload = SlackChannel().render(_context(repo, incident_id)).payload
    text = json.dumps(payload, ensure_ascii=False)
    assert "lasted 4h 38m" in text
    assert f"<https://status.example.com/incidents/{incident_id}.html|Status page>" in text
    assert "Next update" not in text


def test_x_default_is_plain_text_with_time_and_next_update(repo: Repo) -> None:
    incident_id = _open(repo, message="Errors <b>& timeouts</b>")
    message = XChannel().render(_context(repo, incident_id))
    assert message.text.startswith("Investigating: API unavailable (")
    assert "Errors <b>& timeouts</b>" in message.text, "X needs no escaping"
    assert "Affected: API (major outage)" in message.text
    assert "Next update by" in message.text
    assert message.parts == (message.text,)


def test_repo_template_overrides_the_packaged_one(repo: Repo) -> None:
    incident_id = _open(repo)
    (repo.root / "templates").mkdir(exist_ok=True)
    (repo.root / "templates" / "x.txt.j2").write_text(
        "{{ organization }} · {{ status|status_label }}: {{ entry.message }}\n", encoding="utf-8"
    )

    forget_templates()
    message = XChannel().render(_context(repo, incident_id))
    assert message.text == "Example Corp · Investigating: We are investigating errors on the API."
    # Slack still uses the packaged default.
    assert SlackChannel().render(_context(repo, incident_id)).payload["blocks"]


def test_template_error_names_file_and_line(repo: Repo) -> None:

    incident_id = _open(repo)
    (repo.root / "templates").mkdir(exist_ok=True)
    (repo.root / "templates" / "x.txt.j2").write_text("line one\n{{ entry.mesage }}\n", encoding="utf-8")
    forget_templates()
    with pytest.raises(TemplateError) as caught:
        XChannel().render(_context(repo, incident_id))
    assert "x.txt.j2:2:" in str(caught.value)
    assert "mesage" in str(caught.value)


def test_broken_slack_json_is_a_template_error(repo: Repo) -> None:

    incident_id = _open(repo)
    (repo.root / "templates").mkdir(exist_ok=True)
    (repo.root / "templates" / "slack.json.j2").write_text(
        '{"text": "{{ entry.message }}", "blocks": [}\n', encoding="utf-8"
    )
    forget_templates()
    with pytest.raises(TemplateError, match=r"slack.json.j2:1: the template did not render valid JSON"):
        SlackChannel().render(_context(repo, incident_id))


def test_lint_reports_template_problems_with_path_and_line(repo: Repo, cli: Callable[..., Any]) -> None:

    _open(repo)
    assert lint_templates(repo.root, repo.config, [repo.load(repo.ids()[0])]) == []
    (repo.root / "templates").mkdir(exist_ok=True)
    (repo.root / "templates" / "x.txt.j2").write_text("ok\n{{ entry.nope }}\n", encoding="utf-8")
    (repo.root / "templates" / "slack.json.j2").write_text("{% if %}\n", encoding="utf-8")
    forget_templates()
    result = cli("lint", repo=repo.root)
    assert result.exit_code == 1, result.output
    assert "templates/x.txt.j2:2:" in result.output
    assert "templates/slack.json.j2:1:" in result.output
    assert "Traceback" not in result.output


def test_packaged_templates_render_every_sample_entry(repo: Repo) -> None:
    samples = sample_incidents()
    assert samples
    assert lint_templates(repo.root, repo.config, samples) == []


def test_sandbox_blocks_unsafe_attribute_access(repo: Repo) -> None:

    incident_id = _open(repo)
    (repo.root / "templates").mkdir(exist_ok=True)
    (repo.root / "templates" / "x.txt.j2").write_text("{{ entry.__class__.__mro__ }}\n", encoding="utf-8")
    forget_templates()
    with pytest.raises(TemplateError):
        XChannel().render(_context(repo, incident_id))


def test_escape_mrkdwn() -> None:
    assert escape_mrkdwn("a & <b> c") == "a &amp; &lt;b&gt; c"


def test_internal_entries_are_not_in_the_template_context(repo: Repo) -> None:
    incident_id = _open(repo)
    add_update(repo, incident_id, message="internal: DB primary failed over", internal=True)
    add_update(repo, incident_id, message="Public: recovering.", status="monitoring")
    view = repo.load(incident_id).public_view()
    assert all("internal:" not in entry.message for entry in view.timeline)
    message = SlackChannel().render(_context(repo, incident_id))
    assert "DB primary" not in json.dumps(message.payload)

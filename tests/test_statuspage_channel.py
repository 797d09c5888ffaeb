"""The statuspage channel: `publish` rebuilds the site and records the incident page as the ref."""

from __future__ import annotations

import json
from pathlib import Path

from incidentctl.delivery import publish
from incidentctl.lifecycle import add_update, open_incident
from testing import make_repo


def test_publish_rebuilds_the_site_and_records_the_page(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    change = open_incident(
        repo, "API unavailable", severity="sev1", components={"api": "major_outage"}, message="Investigating."
    )
    incident_id = change.incident.id
    assert not (repo.root / "site").exists()
    report = publish(repo, [incident_id])
    assert report.failed == 0
    page = repo.root / "site" / "incidents" / f"{incident_id}.html"
    assert page.is_file() and "Investigating." in page.read_text()
    (entry,) = repo.load(incident_id).timeline
    assert entry.deliveries["statuspage"].state == "built"  # no `deploy`: built, not yet seen by anyone
    assert entry.deliveries["statuspage"].ref == f"incidents/{incident_id}.html"
    # a second update reaches the page on the next publish; nothing is redelivered
    add_update(repo, incident_id, message="Fix rolling out.", status="identified")
    report = publish(repo)
    assert [d.state for d in report.deliveries] == ["built"]  # the first entry is not built again
    assert "Fix rolling out." in page.read_text()
    summary = json.loads((repo.root / "site" / "api" / "v2" / "summary.json").read_text())
    assert summary["incidents"][0]["status"] == "identified"


def test_ref_is_the_public_url_when_configured(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "r",
        config=lambda config: config["channels"]["statuspage"].update(url="https://status.example.com/"),
    )
    incident_id = open_incident(repo, "Web slow", severity="sev3", message="Looking.").incident.id
    publish(repo, [incident_id], channels=["statuspage"])
    (entry,) = repo.load(incident_id).timeline
    assert entry.deliveries["statuspage"].ref == f"https://status.example.com/incidents/{incident_id}.html"


def test_site_that_cannot_be_written_is_a_recorded_failure(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    (repo.root / "site").write_text("a file where the site folder should be")
    incident_id = open_incident(repo, "API unavailable", severity="sev1", message="Investigating.").incident.id
    report = publish(repo, [incident_id])
    assert report.failed == 1
    (entry,) = repo.load(incident_id).timeline
    assert entry.deliveries["statuspage"].state == "failed"
    assert entry.deliveries["statuspage"].error

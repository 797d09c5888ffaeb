from pathlib import Path

from testing import make_repo


def test_new_update_resolve_roundtrip(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "r")
    result = cli(
        "new", "API down", "--severity", "sev1", "-c", "api=major_outage", "-m", "Investigating.", repo=repo.root
    )
    assert result.exit_code == 0, result.output
    incident_id = result.stdout.strip()
    assert cli("update", incident_id[:12], "-s", "identified", "-m", "Found.", repo=repo.root).exit_code == 0
    assert cli("resolve", incident_id, "-m", "Fixed.", repo=repo.root).exit_code == 0
    assert repo.get(incident_id).status == "resolved"

"""The fixed cost of every ``site build``, cut without changing a byte.

- Badges (SVG and shields.io JSON, per component and overall) are keyed by their label, message and
  colour: reused while those stay, rendered again the moment one changes (a rebuild still gives a
  full build's bytes).
- ``site build`` checks only ``channels.statuspage``'s settings: another channel's invalid settings
  do not stop it, invalid status page settings still do (exit 1, file and line, no traceback).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from incidentctl.model import Entry, Incident
from incidentctl.site.build import _build
from incidentctl.store import Repo
from testing import make_repo, modify_config

NOW = datetime(2024, 12, 20, 12, 0, tzinfo=UTC)
BADGES = ("components/api/badge.svg", "api/badges/api.json", "badge.svg", "api/badge.json")


def all_files(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def rebuild_matches_full_build(root: Path, out: Path, tmp_path: Path) -> None:
    """Rebuild ``out`` in place, then compare every file with a full build (no cache, no reuse)."""
    _build(Repo.open(root), out, NOW, reuse=True)
    cache = root / ".git" / "incidentctl"
    saved = {path.name: path.read_bytes() for path in cache.glob("site-*")}
    for path in cache.glob("site-*"):
        path.unlink()
    full = tmp_path / f"full-{len(list(tmp_path.iterdir()))}"
    _build(Repo.open(root), full, NOW, reuse=False)
    assert all_files(out) == all_files(full)
    for name, data in saved.items():
        (cache / name).write_bytes(data)


def incident(number: int, impact: str, *, resolved: bool) -> Incident:
    at = NOW - timedelta(hours=6 + number)
    entries = [Entry(at=at, status="investigating", message=f"Errors {number}", components={"api": impact})]
    if resolved:
        entries.append(
            Entry(at=at + timedelta(hours=1), status="resolved", message="Fixed.", components={"api": "operational"})
        )
    return Incident(id=f"{at:%Y-%m-%d}-api-{number}", title=f"API {number}", severity="sev2", timeline=entries)


def test_badges_are_reused_while_their_inputs_stay_and_redrawn_when_they_change(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    repo.save(incident(1, "major_outage", resolved=True))
    out = tmp_path / "site"
    _build(Repo.open(repo.root), out, NOW, reuse=True)
    first = {path: (out / path).read_bytes() for path in BADGES}
    inodes = {path: (out / path).stat().st_ino for path in BADGES}
    for path in BADGES:  # a reused file is not even read again: a changed one here would stay
        (out / path).write_bytes(first[path] + b" ")

    # Another resolved incident: no badge changes, each is reused as it stands.
    repo.save(incident(2, "degraded_performance", resolved=True))
    _build(Repo.open(repo.root), out, NOW, reuse=True)
    assert {path: (out / path).read_bytes() for path in BADGES} == {path: first[path] + b" " for path in BADGES}
    assert {path: (out / path).stat().st_ino for path in BADGES} == inodes
    for path in BADGES:
        (out / path).write_bytes(first[path])
    rebuild_matches_full_build(repo.root, out, tmp_path)

    # An open outage on api: its badges and the overall ones say so (message and colour change).
    repo.save(incident(3, "major_outage", resolved=False))
    rebuild_matches_full_build(repo.root, out, tmp_path)
    for path in BADGES:
        assert (out / path).read_bytes() != first[path], path
    assert b"major outage" in (out / "components/api/badge.svg").read_bytes()

    # Another impact (other words, other colour), then resolved: the first badges come back.
    repo.save(incident(3, "partial_outage", resolved=False))
    rebuild_matches_full_build(repo.root, out, tmp_path)
    repo.save(incident(3, "partial_outage", resolved=True))
    rebuild_matches_full_build(repo.root, out, tmp_path)
    assert {path: (out / path).read_bytes() for path in BADGES} == first


def test_a_renamed_component_redraws_its_badges(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    repo.save(incident(1, "major_outage", resolved=True))
    out = tmp_path / "site"
    _build(Repo.open(repo.root), out, NOW, reuse=True)

    def rename(config: Any) -> None:
        config["components"][0]["name"] = "Public API"

    modify_config(repo.root, rename)
    rebuild_matches_full_build(repo.root, out, tmp_path)
    assert b"Public API" in (out / "components/api/badge.svg").read_bytes()


def test_site_build_checks_only_the_status_page_settings(tmp_path: Path, cli: Callable[..., Any]) -> None:
    repo = make_repo(tmp_path / "r")
    modify_config(repo.root, lambda config: config["channels"].update(mastodon={"visibility": "loud"}))
    built = cli("site", "build", "--output", str(tmp_path / "site"), repo=repo.root)
    assert built.exit_code == 0, built.output
    assert (tmp_path / "site" / "index.html").is_file()
    lint = cli("lint", repo=repo.root)  # still refused where channels matter
    assert lint.exit_code == 1 and "channels.mastodon.instance: " in lint.output

    modify_config(repo.root, lambda config: config["channels"].pop("mastodon"))
    modify_config(repo.root, lambda config: config["channels"]["statuspage"].update(history_page_size="many"))
    refused = cli("site", "build", "--output", str(tmp_path / "other"), repo=repo.root)
    assert refused.exit_code == 1, refused.output
    assert "incidentctl.yaml:" in refused.output and "channels.statuspage.history_page_size" in refused.output
    assert "Traceback" not in refused.output
    assert not (tmp_path / "other").exists()

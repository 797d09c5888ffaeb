"""``stats``: counts and durations over a period, against the sample incidents plus an open one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from incidentctl.store import Repo
from testing import SAMPLES, git, make_repo

FIRST = "2024-12-12-chatgpt-sora-api-unavailable"
SECOND = "2024-12-26-chatgpt-sora-elevated-error-rates"


def stats_repo(tmp_path: Path, cli) -> tuple[Repo, str]:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "s", components=(("api", "API"), ("chatgpt", "ChatGPT"), ("sora", "Sora")))
    for name in (FIRST, SECOND):
        shutil.copy(SAMPLES / f"{name}.yaml", repo.incidents_dir / f"{name}.yaml")
    git(repo.root, "add", "incidents")
    git(repo.root, "commit", "-qm", "samples")
    result = cli(
        "new", "Sora slow", "--severity", "sev3", "-c", "sora=degraded_performance", "-m", "Slow.",
        "--at", "2025-01-10T12:00:00Z", repo=repo.root,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return repo, result.stdout.strip()


def test_stats_json(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo, open_id = stats_repo(tmp_path, cli)
    result = cli("stats", "--json", "--now", "2025-01-10T13:00:00Z", repo=repo.root)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["incidents"], data["open"], data["resolved"]) == (3, 1, 2)
    # 4h 38m and 7h 05m: mean 5h 51m 30s, median the same for two values.
    assert data["time_to_resolve"] == {"count": 2, "mean_seconds": 21090, "median_seconds": 21090}
    assert data["per_severity"]["sev1"] == {
        "incidents": 2,
        "open": 0,
        "mean_time_to_resolve_seconds": 21090,
        "median_time_to_resolve_seconds": 21090,
    }
    assert data["per_severity"]["sev3"]["open"] == 1
    assert data["per_severity"]["sev3"]["mean_time_to_resolve_seconds"] is None
    # api: 278m (first) + 220m (second, partial outage 18:30 to 22:10); sora: 218 + 425 + 60 (open, to --now).
    assert data["per_component"]["api"] == {"incidents": 2, "impact_minutes": 498}
    assert data["per_component"]["sora"] == {"incidents": 3, "impact_minutes": 703}
    assert data["updates_per_incident"] == {"mean": 3.67, "median": 5.0, "max": 5, "total": 11}
    silences = data["longest_silences"]
    assert [row["id"] for row in silences] == [SECOND, FIRST, open_id]
    assert [row["seconds"] for row in silences] == [3 * 3600 + 5 * 60, 3600 + 53 * 60, 3600]  # 19:05 to 22:10 first
    assert (silences[0]["from"], silences[0]["to"]) == ("2024-12-26T19:05:00Z", "2024-12-26T22:10:00Z")
    assert data["per_component"]["chatgpt"]["impact_minutes"] == 218 + 375


def test_stats_period_and_text(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo, _open_id = stats_repo(tmp_path, cli)
    since = json.loads(
        cli("stats", "--json", "--since", "2024-12-20", "--now", "2025-01-10T13:00:00Z", repo=repo.root).stdout
    )
    assert since["incidents"] == 2 and since["since"] == "2024-12-20T00:00:00Z"
    window = cli("stats", "--json", "--since", "2024-12-01", "--until", "2024-12-20", repo=repo.root)
    assert json.loads(window.stdout)["incidents"] == 1
    assert cli("stats", "--since", "2025-01-01", "--until", "2024-01-01", repo=repo.root).exit_code == 2
    assert cli("stats", "--since", "last tuesday", repo=repo.root).exit_code == 2

    text = cli("stats", "--since", "2024-12-01", "--until", "2025-01-01", repo=repo.root)
    assert text.exit_code == 0, text.output
    out = text.stdout
    assert "2 incidents" in out and "0 open, 2 resolved" in out
    assert "time to resolve   mean   5h 51m   median   5h 51m" in out
    assert "3h 5m  2024-12-26-chatgpt-sora-elevated-error-rates" in out
    empty = cli("stats", "--since", "2030-01-01", repo=repo.root)
    assert empty.exit_code == 0 and "0 incidents" in empty.stdout

"""The test support package itself: config edits are YAML edits that fail loudly; the kill timer counts."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from incidentctl.store import Repo
from testing import DELETE, KillTimer, config_changes, make_repo, modify_config


def test_modify_config_edits_the_yaml_and_keeps_the_comments(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", config={"git.push": True, "channels.statuspage": DELETE})
    text = (repo.root / "incidentctl.yaml").read_text(encoding="utf-8")
    assert "# incidentctl configuration." in text and "# mention:" in text
    config = Repo.open(repo.root).config
    assert config.git.push is True and config.channels.statuspage is None
    modify_config(repo.root, lambda data: data["channels"]["slack"].update(mention="<!here>"), timezone="UTC")
    config = Repo.open(repo.root).config
    assert config.timezone == "UTC" and config.channels.slack is not None


@pytest.mark.parametrize("path", ["git.psuh", "channels.slak.channel", "timezone.name"])
def test_a_path_that_does_not_exist_fails_loudly(tmp_path: Path, path: str) -> None:
    repo = make_repo(tmp_path / "r")
    before = (repo.root / "incidentctl.yaml").read_bytes()
    with pytest.raises(KeyError, match="cannot set"):
        modify_config(repo.root, config_changes({path: 1}))
    assert (repo.root / "incidentctl.yaml").read_bytes() == before


def test_kill_timer_counts_every_run_killed_or_finished() -> None:
    def sleeper(seconds: float) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"], text=True)

    timer = KillTimer(rng=random.Random(1), estimate=0.5, low=0.1, high=0.2)
    assert timer.run(lambda: sleeper(30)).killed  # killed within 0.1 s of a 30 s run
    timer.estimate = 100  # a kill point 10-20 s in: an instant run finishes first
    finished = timer.run(lambda: sleeper(0))
    assert not finished.killed and finished.returncode == 0
    assert timer.estimate == finished.elapsed  # the next kill point follows the measured run time
    assert (len(timer.runs), timer.killed, timer.finished) == (2, 1, 1)

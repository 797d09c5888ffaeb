"""SIGKILL a running ``incidentctl`` at a chosen point, for crash loops that count iterations.

A crash loop runs a fixed number of iterations. Each one starts the process and kills it after a
delay drawn at random from a fraction of how long a whole run takes *now* (``KillTimer``): a run that
finishes before its kill measures the current run time exactly, and a killed one stretches the
estimate a little, so the kill points keep spreading over the run whatever the machine's load. The
loop asserts on what every iteration left behind and reports how many runs were really killed
mid-run; nothing asserts on that count, which depends on the machine.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from incidentctl.lifecycle import add_update, open_incident, resolve_incident
from incidentctl.records.codec import TEMP_PREFIX
from incidentctl.store import Repo


def sigkill(process: subprocess.Popen[str], timeout: float = 30) -> tuple[str, str]:
    """SIGKILL ``process`` and reap it; its output so far."""
    process.send_signal(signal.SIGKILL)
    return process.communicate(timeout=timeout)


def kill_when(process: subprocess.Popen[str], landed: Callable[[], bool], timeout: float = 30) -> None:
    """SIGKILL ``process`` the moment ``landed()`` is true (e.g. a fake server stored the message)."""
    deadline = time.monotonic() + timeout
    while not landed():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the awaited event never happened"
        time.sleep(0.002)
    sigkill(process)


@dataclass
class Run:
    """One iteration's process: killed mid-run, or finished (then its exit code and output)."""

    killed: bool
    delay: float
    elapsed: float
    returncode: int | None
    stdout: str
    stderr: str


@dataclass
class KillTimer:
    """Chooses when to kill: ``uniform(low, high) × estimate`` after the start, where ``estimate``
    follows the run time the machine currently gives (see the module docstring)."""

    rng: random.Random
    estimate: float
    low: float = 0.3
    high: float = 1.0
    grow: float = 1.05
    runs: list[Run] = field(default_factory=list)

    @classmethod
    def calibrate(cls, start: Callable[[], subprocess.Popen[str]], rng: random.Random, **kwargs: float) -> KillTimer:
        """Run ``start()`` once to completion (it must succeed) to measure the first estimate."""
        started = time.monotonic()
        process = start()
        _out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        return cls(rng=rng, estimate=time.monotonic() - started, **kwargs)

    def run(self, start: Callable[[], subprocess.Popen[str]]) -> Run:
        """Start a process and kill it at the chosen point, unless it finishes first."""
        delay = self.rng.uniform(self.low, self.high) * self.estimate
        started = time.monotonic()
        process = start()
        try:
            out, err = process.communicate(timeout=delay)
        except subprocess.TimeoutExpired:
            out, err = sigkill(process)
            run = Run(True, delay, time.monotonic() - started, None, out, err)
            self.estimate *= self.grow
        else:
            run = Run(False, delay, time.monotonic() - started, process.returncode, out, err)
            self.estimate = run.elapsed  # finished early: the kill point follows the machine's speed
        self.runs.append(run)
        return run

    @property
    def killed(self) -> int:
        return sum(run.killed for run in self.runs)

    @property
    def finished(self) -> int:
        return sum(not run.killed for run in self.runs)

    def summary(self) -> str:
        return f"{len(self.runs)} runs, {self.killed} killed mid-run, {self.finished} finished"


def temp_files(root: Path) -> list[Path]:
    """Temp files a write left behind below ``root`` (none may outlive the next writing command)."""
    return [path for path in root.rglob("*") if path.name.startswith(TEMP_PREFIX) or path.name.endswith(".tmp")]


def assert_sound(root: Path) -> None:
    """Every record parses and validates; git's objects and refs are intact."""
    repo = Repo.open(root)
    for incident_id in repo.ids():
        repo.load(incident_id)
    fsck = subprocess.run(["git", "fsck", "--no-progress", "--no-dangling"], cwd=root, capture_output=True, text=True)
    assert fsck.returncode == 0 and "error" not in fsck.stderr.lower(), fsck.stdout + fsck.stderr


def remove_git_locks(root: Path) -> int:
    """What the "git is locked" message tells the user to do after a kill inside git itself."""
    locks = [path for path in (root / ".git").rglob("*.lock") if path.parent.name != "incidentctl"]
    locks = [path for path in locks if path.name != "incidentctl.lock"]  # ours is an flock
    for path in locks:
        path.unlink()
    return len(locks)


def random_incident_work(repo: Repo, rng: random.Random, ids: list[str], n: int, long_steps: int = 0) -> None:
    """A crash loop's incident work between two runs: open an incident (15%), resolve one (10%) or add an
    update, now and then after an internal note. Every public message carries the token ``k<n>q``, unique
    to the entry; with ``long_steps``, one update in four runs that many sentences (a thread of posts)."""
    open_ids = [incident_id for incident_id in ids if Repo.open(repo.root).load(incident_id).is_open]
    roll = rng.random()
    if not open_ids or roll < 0.15:
        title = rng.choice(["Website slow", "Logins failing", "Sora degraded"])
        ids.append(open_incident(repo, title, severity="sev2", components={"web": "degraded_performance"},
                                 message=f"Investigating k{n}q.").incident.id)  # fmt: skip
    elif roll < 0.25:
        resolve_incident(repo, rng.choice(open_ids), message=f"Resolved k{n}q.")
    else:
        incident_id = rng.choice(open_ids)
        if rng.random() < 0.2:
            add_update(repo, incident_id, message=f"internal note {n}", internal=True)
        steps = rng.choice([1, 1, 1, long_steps]) if long_steps else 1
        # Every sentence differs from every other entry's (X refuses a repeated text).
        text = f"Update k{n}q: " + " ".join(f"step {n}.{k} is in progress." for k in range(steps))
        add_update(repo, incident_id, message=text)

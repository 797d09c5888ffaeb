"""Generate a realistic incident repo of N incidents, through incidentctl's own store.

Several years of history, 10-40 timeline entries per incident (some internal), deliveries on
Slack, X and the status page, a few postmortems, 50 components in 5 groups. The files are written
by ``Repo.save`` (ruamel round-trip, atomic), so they are exactly what users get; git gets one
commit at the end (a real repo would have one per change, which does not change read costs).

    python benchmarks/generate.py PATH --incidents 10000 [--seed 1] [--jobs 2]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from incidentctl.model import ActionItem, Delivery, Entry, Incident, Lessons, Postmortem
from incidentctl.scaffold import config_text, init_repo
from incidentctl.store import Repo

GROUPS = ("Core API", "Web", "Mobile", "Data", "Integrations")
COMPONENTS = [(f"c{index:02d}", f"{GROUPS[index % 5]} service {index:02d}", GROUPS[index % 5]) for index in range(50)]
IMPACTS = ("degraded_performance", "partial_outage", "major_outage")
WORDS = [
    "requests",
    "errors",
    "latency",
    "database",
    "replica",
    "failover",
    "cache",
    "region",
    "deploy",
    "rollback",
    "customers",
    "elevated",
    "timeouts",
    "queue",
    "backlog",
    "recovering",
    "mitigation",
    "traffic",
    "certificate",
    "dns",
    "upstream",
    "provider",
    "monitoring",
]
START = datetime(2022, 1, 1, tzinfo=UTC)


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def make_incident(index: int, total: int, seed: int, span_days: int) -> Incident:
    rng = random.Random(seed * 1_000_003 + index)
    started = START + timedelta(seconds=int(span_days * 86400 * index / max(total, 1)) + rng.randint(0, 3600))
    affected = rng.sample(COMPONENTS, rng.randint(1, 3))
    entries: list[Entry] = []
    at = started
    count = rng.randint(10, 40)
    statuses = ["investigating", "identified", "monitoring"]
    for position in range(count):
        last = position == count - 1
        status = "resolved" if last else statuses[min(position * 3 // count, 2)]
        internal = not last and position > 0 and rng.random() < 0.25
        components = {}
        if position == 0:
            components = {cid: rng.choice(IMPACTS) for cid, _, _ in affected}
        elif last:
            components = {cid: "operational" for cid, _, _ in affected}
        deliveries = {}
        if not internal:
            deliveries = {
                "slack": Delivery(
                    state="delivered",
                    ref=f"{int(at.timestamp())}.{index:06d}",
                    attempts=1,
                    at=at + timedelta(seconds=2),
                ),
                "x": Delivery(
                    state="delivered",
                    ref=str(10**18 + index * 100 + position),
                    attempts=1,
                    at=at + timedelta(seconds=3),
                ),
                "statuspage": Delivery(
                    state="delivered", ref=f"incidents/{index}.html", attempts=1, at=at + timedelta(seconds=4)
                ),
            }
        entries.append(
            Entry(
                at=at,
                status=status,  # type: ignore[arg-type]
                message=_sentence(rng, rng.randint(8, 40)),
                visibility="internal" if internal else "public",
                components=components,  # type: ignore[arg-type]
                next_update_by=at + timedelta(minutes=30) if not last and not internal else None,
                deliveries=deliveries,
            )
        )
        at += timedelta(minutes=rng.randint(3, 45))
    postmortem = None
    if rng.random() < 0.05:
        postmortem = Postmortem(
            public=True,
            public_summary=_sentence(rng, 30),
            summary=_sentence(rng, 60),
            root_causes=[_sentence(rng, 12)],
            lessons=Lessons(went_well=[_sentence(rng, 8)], went_wrong=[_sentence(rng, 8)]),
            action_items=[ActionItem(title=_sentence(rng, 6), owner="team", due=date(2026, 1, 1))],
        )
    title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 7))).capitalize()
    return Incident(
        id=f"{started:%Y-%m-%d}-{title.lower().replace(' ', '-')[:40].strip('-')}-{index}",
        title=title,
        severity=rng.choice(("sev1", "sev2", "sev2", "sev3", "sev3", "sev3")),
        timeline=entries,
        postmortem=postmortem,
    )


def _write_range(root: str, start: int, stop: int, total: int, seed: int, span_days: int) -> int:
    repo = Repo.open(root)
    for index in range(start, stop):
        repo.save(make_incident(index, total, seed, span_days))
    return stop - start


def config_with_groups(organization: str) -> str:
    text = config_text(organization, [(cid, name) for cid, name, _ in COMPONENTS], "America/New_York")
    for cid, _, group in COMPONENTS:
        text = text.replace(f"{{id: {cid}, name:", f"{{id: {cid}, group: {group}, name:")
    return text


def generate(root: Path, incidents: int, seed: int = 1, jobs: int = 2, span_days: int = 4 * 365) -> float:
    """Create the repo; return the seconds spent writing records."""
    init_repo(root, "Benchmark Corp", [(cid, name) for cid, name, _ in COMPONENTS], "America/New_York")
    (root / "incidentctl.yaml").write_text(config_with_groups("Benchmark Corp"), encoding="utf-8")
    began = time.perf_counter()
    chunk = max(1, incidents // (jobs * 8))
    ranges = [(start, min(start + chunk, incidents)) for start in range(0, incidents, chunk)]
    if jobs > 1 and incidents > 200:
        with ProcessPoolExecutor(jobs) as pool:
            list(
                pool.map(
                    _write_range, *zip(*[(str(root), a, b, incidents, seed, span_days) for a, b in ranges], strict=True)
                )
            )
    else:
        for a, b in ranges:
            _write_range(str(root), a, b, incidents, seed, span_days)
    elapsed = time.perf_counter() - began
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@localhost",
            "commit",
            "-qm",
            f"generated {incidents} incidents",
        ],
        cwd=root,
        check=True,
    )
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path)
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    if args.path.exists() and any(args.path.iterdir()):
        print(f"{args.path} exists and is not empty", file=sys.stderr)
        return 2
    seconds = generate(args.path, args.incidents, args.seed, args.jobs)
    size = sum(f.stat().st_size for f in (args.path / "incidents").glob("*.yaml"))
    print(
        f"{args.incidents} incidents in {seconds:.1f} s ({args.incidents / seconds:.0f}/s), {size / 1e6:.1f} MB of YAML"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

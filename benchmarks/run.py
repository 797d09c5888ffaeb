"""The benchmark suite: every figure measured beside its floor in the same run, as a ratio.

    python -m benchmarks.run [--incidents 10000] [--only startup,scan,...] [--repeat 5] [--repo PATH]

``--repo`` uses an already generated repo (``benchmarks/generate.py PATH``, e.g. in /tmp) instead
of ``benchmarks/.results/repo-N``; it is copied, never changed.

Run it from the project root, as a module: the project root is then on ``sys.path`` and the fakes
come from the ``testing`` package (``from testing import ...``), as in the tests.

Machines here are noisy (2 shared cores), so each figure is the best of several runs and is set
against a floor measured the same way, in the same run. Results are printed as a table and written
to ``benchmarks/.results/latest.json``. The generated repo is cached in ``benchmarks/.results/``.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
RESULTS = HERE / ".results"
PY = sys.executable
CLI = [PY, "-m", "incidentctl"]

ONE_COMMAND_TYPER = """\
import typer

app = typer.Typer()


@app.command()
def main(name: str = "world") -> None:
    \"\"\"Say hello.\"\"\"
    print(name)


if __name__ == "__main__":
    app()
"""

C_LOADER_FLOOR = """\
import os, sys, yaml
folder = sys.argv[1]
for name in sorted(os.listdir(folder)):
    if name.endswith(".yaml"):
        with open(os.path.join(folder, name), encoding="utf-8") as handle:
            yaml.load(handle.read(), Loader=yaml.CSafeLoader)
"""


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    floor: float | None = None
    goal: str = ""
    ok: bool | None = None
    notes: dict[str, object] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return self.value / self.floor if self.floor else None


@dataclass
class Run:
    seconds: float
    peak_mb: float
    returncode: int
    stdout: str
    cpu: float = 0.0  # user + system seconds of the command and the processes it waited for


def run(cmd: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
    """Run ``cmd``; wall time and the child's own peak RSS (os.wait4)."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds, usage.ru_maxrss / 1024, proc.returncode, out.decode("utf-8", "replace"), cpu)


def best(cmd: Sequence[str], repeat: int, before: Callable[[], None] | None = None, **kw: object) -> Run:
    runs = []
    for _ in range(repeat):
        if before is not None:
            before()
        result = run(cmd, **kw)  # type: ignore[arg-type]
        if result.returncode not in (0,):
            raise SystemExit(f"benchmark command failed ({result.returncode}): {' '.join(cmd)}")
        runs.append(result)
    return min(runs, key=lambda r: r.seconds)


#: ``--repo``: a generated repo to use instead of ``benchmarks/.results/repo-N``.
GIVEN_REPO: Path | None = None


def load_average() -> float:
    """The 1-minute load average while a figure was measured (2 cores: above 2 means queueing)."""
    return round(os.getloadavg()[0], 1)


def generated_repo(incidents: int) -> Path:
    """The cached generated repo of ``incidents`` incidents (made once, copied per benchmark)."""
    if GIVEN_REPO is not None:
        return GIVEN_REPO
    target = RESULTS / f"repo-{incidents}"
    if not (target / "incidentctl.yaml").exists():
        shutil.rmtree(target, ignore_errors=True)
        RESULTS.mkdir(parents=True, exist_ok=True)
        subprocess.run([PY, str(HERE / "generate.py"), str(target), "--incidents", str(incidents)], check=True)
    return target


def fresh_copy(source: Path, into: Path) -> Path:
    target = into / source.name
    shutil.copytree(source, target, symlinks=True)
    return target


def clear_cache(root: Path) -> None:
    shutil.rmtree(root / ".git" / "incidentctl", ignore_errors=True)


# -- figures --------------------------------------------------------------------------------------


def compile_package() -> None:
    """Byte-compile incidentctl first, as an installed wheel is: with PYTHONDONTWRITEBYTECODE set
    (as on the shared machine) every run would otherwise compile our sources again, while the
    floor's typer and pydantic come precompiled from site-packages (~0.1 s of the difference)."""
    subprocess.run([PY, "-m", "compileall", "-q", str(PROJECT / "incidentctl")], check=True, capture_output=True)


def bench_startup(work: Path, repeat: int) -> list[Figure]:
    compile_package()
    script = work / "one_command.py"
    script.write_text(ONE_COMMAND_TYPER)
    empty = work / "empty"
    run([*CLI, "init", str(empty), "--org", "Bench"])
    floor = best([PY, str(script), "--help"], repeat).seconds
    # A second floor: the same program *running* with one str option. Typer 0.29 coerces every
    # non-flag parameter through a pydantic TypeAdapter built on first use, which --help never does.
    run_floor = best([PY, str(script), "--name", "x"], repeat).seconds
    help_ = best([*CLI, "--help"], repeat).seconds
    listing = best([*CLI, "--repo", str(empty), "list"], repeat).seconds
    load = load_average()
    return [
        Figure(
            "startup: --help",
            help_,
            "s",
            floor,
            "≤ 1.3× one-command Typer --help",
            help_ / floor <= 1.3,
            {"load": load},
        ),
        Figure(
            "startup: list (empty repo)",
            listing,
            "s",
            run_floor,
            "≤ 1.3× one-command Typer program (running)",
            listing / run_floor <= 1.3,
            {"typer_help_floor_s": round(floor, 3), "ratio_to_typer_help": round(listing / floor, 2), "load": load},
        ),
    ]


def bench_scan(work: Path, repeat: int, incidents: int) -> list[Figure]:
    repo = fresh_copy(generated_repo(incidents), work)
    floor_script = work / "floor.py"
    floor_script.write_text(C_LOADER_FLOOR)
    floor_run = best([PY, str(floor_script), str(repo / "incidents")], repeat)
    cold_run = best([*CLI, "--repo", str(repo), "list", "--json"], repeat, before=lambda: clear_cache(repo))
    floor, cold = floor_run.seconds, cold_run.seconds
    run([*CLI, "--repo", str(repo), "list", "--json"])
    warm = best([*CLI, "--repo", str(repo), "list", "--json"], repeat).seconds
    load: dict[str, object] = {
        "load": load_average(),
        "cpu_s": round(cold_run.cpu, 2),
        "floor_cpu_s": round(floor_run.cpu, 2),
    }
    return [
        Figure(
            f"scan: list --json cold ({incidents})", cold, "s", floor, "≤ 0.25× C loader", cold / floor <= 0.25, load
        ),
        Figure(f"scan: list --json warm ({incidents})", warm, "s", floor, "< 1.0× C loader", warm / floor < 1.0, load),
    ]


def bench_write(work: Path, repeat: int, incidents: int) -> list[Figure]:
    """``update`` on the big repo vs on a repo holding only that one record (same config, same
    record size): a write must not scan."""
    big = fresh_copy(generated_repo(incidents), work)
    small = work / "small"
    run([*CLI, "init", str(small), "--org", "Bench"])
    big_id = sorted(os.listdir(big / "incidents"))[incidents // 2].removesuffix(".yaml")
    shutil.copy(big / "incidentctl.yaml", small / "incidentctl.yaml")
    shutil.copy(big / "incidents" / f"{big_id}.yaml", small / "incidents" / f"{big_id}.yaml")
    subprocess.run(["git", "add", "-A"], cwd=small, check=True)
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "copy"], cwd=small, check=True)
    update = ["update", big_id, "-m", "Still investigating."]
    floor = best([*CLI, "--repo", str(small), *update], repeat).seconds
    value = best([*CLI, "--repo", str(big), *update], repeat).seconds
    load = {"load": load_average()}
    return [
        Figure(f"write: update, {incidents} vs 1 incidents", value, "s", floor, "≤ 1.2×", value / floor <= 1.2, load)
    ]


def bench_site(work: Path, repeat: int, incidents: int) -> list[Figure]:
    repo = fresh_copy(generated_repo(incidents), work)
    now = "2026-01-01T00:00:00Z"
    full = best(
        [*CLI, "--repo", str(repo), "site", "build", "--now", now, "--output", str(work / "full")],
        max(1, repeat // 2),
        before=lambda: clear_cache(repo),
    )
    size_kb = (work / "full" / "index.html").stat().st_size / 1024
    figures = [
        Figure(
            f"site: full build ({incidents})",
            full.seconds,
            "s",
            None,
            "≤ 5 s",
            full.seconds <= 5,
            {"index_kb": round(size_kb, 1), "load": load_average(), "cpu_s": round(full.cpu, 2)},
        ),
        Figure(
            f"site: full build peak memory ({incidents})", full.peak_mb, "MB", None, "≤ 300 MB", full.peak_mb <= 300
        ),
    ]
    # incremental: build into the default output, update one incident, rebuild; compare with a full build
    out = work / "incremental"
    run([*CLI, "--repo", str(repo), "site", "build", "--now", now, "--output", str(out)])
    target = sorted(os.listdir(repo / "incidents"))[-1].removesuffix(".yaml")
    rebuilds = []
    for attempt in range(max(1, repeat // 2)):  # best of a few update + rebuild cycles
        run(
            [
                *CLI,
                "--repo",
                str(repo),
                "update",
                target,
                "-m",
                f"A late note for the record ({attempt}).",
                "--at",
                f"2025-12-31T23:0{attempt % 10}:00Z",
            ]
        )
        rebuilds.append(run([*CLI, "--repo", str(repo), "site", "build", "--now", now, "--output", str(out)]))
    incremental = min(rebuilds, key=lambda r: r.seconds)
    reference = work / "reference"
    clear_cache(repo)
    run([*CLI, "--repo", str(repo), "site", "build", "--now", now, "--output", str(reference)])
    identical = _same_tree(out, reference)
    figures.append(
        Figure(
            "site: rebuild after one update",
            incremental.seconds,
            "s",
            None,
            "≤ 0.5 s, byte-identical to a full build",
            incremental.seconds <= 0.5 and identical,
            {"byte_identical": identical, "load": load_average(), "cpu_s": round(incremental.cpu, 2)},
        )
    )
    return figures


def _same_tree(a: Path, b: Path) -> bool:
    comparison = filecmp.dircmp(a, b)
    stack = [comparison]
    while stack:
        current = stack.pop()
        if current.left_only or current.right_only or current.funny_files:
            return False
        _, mismatch, errors = filecmp.cmpfiles(current.left, current.right, current.common_files, shallow=False)
        if mismatch or errors:
            return False
        stack.extend(current.subdirs.values())
    return True


def bench_publish(work: Path, repeat: int) -> list[Figure]:
    from testing import FakeSlack, FakeX  # the project root is on sys.path: see the module docstring

    results: dict[str, float] = {}
    with FakeSlack() as slack, FakeX() as x:
        slack.latency = 0.3
        x.latency = 0.3
        env = {
            "SLACK_BOT_TOKEN": slack.token,
            "INCIDENTCTL_SLACK_API_URL": slack.url,
            "INCIDENTCTL_X_API_URL": x.url,
            **x.credentials,
        }
        for label, channels in (("both", []), ("slack", ["--channel", "slack"]), ("x", ["--channel", "x"])):
            times = []
            for attempt in range(repeat):
                repo = work / f"pub-{label}-{attempt}"
                run([*CLI, "init", str(repo), "--org", "Bench", "--component", "api:API"])
                config = repo / "incidentctl.yaml"
                config.write_text(config.read_text().replace("  statuspage:", "  # statuspage:"))
                subprocess.run(
                    ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qam", "no site"],
                    cwd=repo,
                    check=True,
                )
                incident = run(
                    [
                        *CLI,
                        "--repo",
                        str(repo),
                        "new",
                        f"API down {label} {attempt}",
                        "--severity",
                        "sev1",
                        "-m",
                        "Investigating.",
                    ],
                    env=env,
                ).stdout.strip()
                result = run([*CLI, "--repo", str(repo), "publish", incident, *channels], env=env)
                if result.returncode != 0:
                    raise SystemExit(f"publish failed in benchmark ({label})")
                times.append(result.seconds)
            results[label] = min(times)
    slowest = max(results["slack"], results["x"])
    return [
        Figure(
            "publish: 1 entry to Slack + X (300 ms each)",
            results["both"],
            "s",
            slowest,
            "≤ 1.3× slowest single channel",
            results["both"] / slowest <= 1.3,
            {"slack_only": round(results["slack"], 3), "x_only": round(results["x"], 3)},
        )
    ]


def bench_publish_every_channel(work: Path, repeat: int) -> list[Figure]:
    from benchmarks.publish_all import publish_all

    result = publish_all(CLI, work, repeat)
    return [
        Figure(
            "publish: 1 entry to all 9 channels (300 ms each)",
            result["all"],
            "s",
            result["slowest"],
            "≤ 1.3× slowest single channel",
            result["all"] / result["slowest"] <= 1.3,
            {"slowest_channel": result["slowest_channel"], **{k: round(v, 3) for k, v in result["alone"].items()}},
        )
    ]


def bench_claim(work: Path, repeat: int) -> list[Figure]:
    from benchmarks.publish_all import claim

    result = claim(CLI, work, repeat)
    return [
        Figure(
            "publish: cross-clone claim vs one commit + push (local bare remote)",
            result["claim"],
            "s",
            result["push_round_trip"],
            "≤ one extra push round trip",
            result["claim"] <= 1.3 * result["push_round_trip"],
            {"claims": [round(v, 3) for v in result["claims"]], "pushes": [round(v, 3) for v in result["pushes"]]},
        )
    ]


STAT_FLOOR = """\
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
for name in os.listdir(fd):
    os.stat(name, dir_fd=fd, follow_symlinks=False)
"""


def bench_list(work: Path, repeat: int, incidents: int) -> list[Figure]:
    """Warm ``list --json`` (goal ≤ 1 s at 100,000), beside its floors: ``list`` on an empty repo
    (start-up) and a bare ``stat`` of every record (change detection). Then ``list --json`` after one
    record changed (its cache is rewritten): touch a record, wait out the racy window, list."""
    repo = fresh_copy(generated_repo(incidents), work)
    empty = work / "empty"
    run([*CLI, "init", str(empty), "--org", "Bench"])
    script = work / "stat_floor.py"
    script.write_text(STAT_FLOOR)
    time.sleep(3.5)  # records copied just now are "racy" (records.summaries.RACY_NS): not trusted yet
    run([*CLI, "--repo", str(repo), "list", "--json"])  # cold: fills the cache
    run([*CLI, "--repo", str(repo), "list", "--json"])
    startup = best([*CLI, "--repo", str(empty), "list", "--json"], repeat)
    stat_floor = best([PY, str(script), str(repo / "incidents")], repeat)
    warm = best([*CLI, "--repo", str(repo), "list", "--json"], repeat)
    record = sorted((repo / "incidents").iterdir())[len(list((repo / "incidents").iterdir())) // 2]

    def touch() -> None:
        os.utime(record)
        time.sleep(3.5)

    changed = best([*CLI, "--repo", str(repo), "list", "--json"], repeat, before=touch)
    load = load_average()
    notes: dict[str, object] = {
        "load": load,
        "cpu_s": round(warm.cpu, 2),
        "peak_mb": round(warm.peak_mb),
        "startup_cpu_s": round(startup.cpu, 2),
        "stat_floor_s": round(stat_floor.seconds, 3),
        "stat_floor_cpu_s": round(stat_floor.cpu, 2),
    }
    return [
        Figure(
            f"list: --json warm ({incidents})", warm.seconds, "s", startup.seconds, "≤ 1 s", warm.seconds <= 1, notes
        ),
        Figure(
            f"list: --json after one record changed ({incidents})",
            changed.seconds,
            "s",
            startup.seconds,
            "– (measured)",
            True,
            {"load": load, "cpu_s": round(changed.cpu, 2), "peak_mb": round(changed.peak_mb)},
        ),
    ]


BENCHES: dict[str, Callable[..., list[Figure]]] = {
    "publish_all": lambda work, args: bench_publish_every_channel(work, max(2, args.repeat // 2)),
    "claim": lambda work, args: bench_claim(work, max(3, args.repeat)),
    "startup": lambda work, args: bench_startup(work, args.repeat),
    "scan": lambda work, args: bench_scan(work, args.repeat, args.incidents),
    "write": lambda work, args: bench_write(work, args.repeat, args.incidents),
    "site": lambda work, args: bench_site(work, args.repeat, args.incidents),
    "publish": lambda work, args: bench_publish(work, max(2, args.repeat // 2)),
    "list": lambda work, args: bench_list(work, args.repeat, args.incidents),
}


def print_table(figures: list[Figure]) -> None:
    rows = [("figure", "value", "floor", "ratio", "goal", "met")]
    for f in figures:
        rows.append(
            (
                f.name,
                f"{f.value:.3f} {f.unit}",
                f"{f.floor:.3f} {f.unit}" if f.floor else "-",
                f"{f.ratio:.2f}×" if f.ratio else "-",
                f.goal,
                "yes" if f.ok else "NO",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))
        if index == 0:
            print("  ".join("-" * w for w in widths))
    for f in figures:
        if f.notes:
            print(f"  {f.name}: " + ", ".join(f"{key}={value}" for key, value in f.notes.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default=",".join(BENCHES))
    parser.add_argument("--repo", type=Path, help="an already generated repo to copy (see generate.py)")
    args = parser.parse_args(argv)
    global GIVEN_REPO
    GIVEN_REPO = args.repo.resolve() if args.repo else None
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="incidentctl-bench-") as tmp:
        for name in args.only.split(","):
            work = Path(tmp) / name
            work.mkdir()
            for figure in BENCHES[name](work, args):
                figures.append(figure)
                ratio = f" ({figure.ratio:.2f}× floor)" if figure.ratio else ""
                print(f"{figure.name}: {figure.value:.3f} {figure.unit}{ratio}", file=sys.stderr, flush=True)
    print_table(figures)
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = [{**asdict(f), "ratio": f.ratio} for f in figures]
    (RESULTS / "latest.json").write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwritten to {RESULTS / 'latest.json'}")
    return 0 if all(f.ok for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())

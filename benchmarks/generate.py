"""Generate a realistic incident repo of N incidents, byte-identical to what incidentctl's store writes.

Several years of history, 10-40 timeline entries per incident (some internal), deliveries on
Slack, X and the status page, a few postmortems, 50 components in 5 groups. Records are written
by string templates (``make_text``: ~0.6 ms of CPU a record, no models built); ruamel's
pure-Python round-trip emitter (``Repo.save``) made 16 records/s, building ``Incident`` models
and writing them with ``fast_dump`` ~5 ms a record. The first 20 records and every
``--check-every``-th are also built as ``Incident`` models (``make_incident``, which draws the
same random numbers) and written by ``Repo.save``'s code path; any byte of difference aborts
the run. Records are written in ``--jobs`` processes. Git gets one commit at the end (a real repo
would have one per change, which does not change read costs), its objects compressed at zlib
level 1 (the content is the same; only ``.git`` is larger).

    python benchmarks/generate.py PATH --incidents 10000 [--seed 1] [--jobs 2] [--check-every 50]
    python benchmarks/generate.py --check 500     # only compare 500 records against Repo.save
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from incidentctl.model import ActionItem, Delivery, Entry, Incident, Lessons, Postmortem
from incidentctl.records.codec import merge_into, rt_dump
from incidentctl.scaffold import config_text, init_repo
from incidentctl.store import FLOW_KEYS

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


class Unsupported(ValueError):
    """A value ``fast_dump`` cannot spell exactly as ruamel would: use the store's writer."""


#: Plain (unquoted) text ruamel writes as is: letters first, words, '.', '/', '_' and '-'; never a
#: YAML 1.1/1.2 keyword. Anything else is left to ruamel.
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9._/-]*(?: [A-Za-z0-9._/-]+)*")
_DATED_ID = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}-[a-z0-9-]*[a-z][a-z0-9-]*")  # an id: never a timestamp
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")  # ruamel quotes text that would read back as a number
_KEYWORDS = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n", "nan", "inf"})


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None or value.microsecond:
            raise Unsupported(repr(value))
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) and value.lower() not in _KEYWORDS:
            return value
        if _DATED_ID.fullmatch(value):
            return value
        if _NUMBER.fullmatch(value):
            return f"'{value}'"
    raise Unsupported(repr(value))


def _flow(value: object) -> str:
    if isinstance(value, dict) and value:
        return "{" + ", ".join(f"{key}: {_scalar(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list) and value and not any(isinstance(item, dict | list) for item in value):
        return "[" + ", ".join(_scalar(item) for item in value) + "]"
    raise Unsupported(repr(value))


def _mapping(data: dict[str, object], indent: int, out: list[str], first_prefix: str | None = None) -> None:
    """Block mapping at ``indent``; ``first_prefix`` replaces the first key's indent (a ``- `` item)."""
    if not data:
        raise Unsupported("empty mapping")
    pad = " " * indent
    for position, (key, value) in enumerate(data.items()):
        if not isinstance(key, str) or not _PLAIN.fullmatch(key):
            raise Unsupported(repr(key))
        lead = first_prefix if position == 0 and first_prefix is not None else pad
        if isinstance(value, dict | list) and key in FLOW_KEYS:
            out.append(f"{lead}{key}: {_flow(value)}\n")
        elif isinstance(value, dict):
            out.append(f"{lead}{key}:\n")
            _mapping(value, indent + 2, out)
        elif isinstance(value, list):
            out.append(f"{lead}{key}:\n")
            _sequence(value, indent + 2, out)
        else:
            out.append(f"{lead}{key}: {_scalar(value)}\n")


def _sequence(items: list[object], indent: int, out: list[str]) -> None:
    if not items:
        raise Unsupported("empty sequence")
    dash = " " * indent + "- "
    for item in items:
        if isinstance(item, dict):
            _mapping(item, indent + 2, out, first_prefix=dash)
        elif isinstance(item, list):
            raise Unsupported("nested sequence")
        else:
            out.append(f"{dash}{_scalar(item)}\n")


def fast_dump(incident: Incident) -> str:
    """The record text ``Repo.save`` writes for a new file, for the shapes this generator makes."""
    out: list[str] = []
    _mapping(incident.to_record(), 0, out)
    return "".join(out)


def store_dump(incident: Incident) -> str:
    """The text ``Repo.save`` writes for a new record (its own code path, without the file)."""
    from ruamel.yaml.comments import CommentedMap

    return rt_dump(merge_into(CommentedMap(), incident.to_record(), FLOW_KEYS))


_START_S = int(START.timestamp())
_DELIVERY = (
    "      slack: {{state: delivered, ref: '{s}.{i:06d}', attempts: 1, at: {a2}}}\n"
    "      x: {{state: delivered, ref: '{x}', attempts: 1, at: {a3}}}\n"
    "      statuspage: {{state: delivered, ref: incidents/{i}.html, attempts: 1, at: {a4}}}\n"
)


def _stamp(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def make_text(index: int, total: int, seed: int, span_days: int) -> tuple[str, str]:
    """``(id, text)`` of record ``index`` without building models: string templates only.

    Draws from the random generator exactly as ``make_incident`` does (same seed, same records), and
    writes what ``fast_dump(make_incident(...))`` writes; ``check`` and every generation run compare
    the two, and the store's writer, on a sample.
    """
    rng = random.Random(seed * 1_000_003 + index)
    choice, randint, random_ = rng.choice, rng.randint, rng.random
    started = _START_S + int(span_days * 86400 * index / max(total, 1)) + randint(0, 3600)
    affected = rng.sample(COMPONENTS, randint(1, 3))
    count = randint(10, 40)
    out: list[str] = []
    add = out.append
    at = started
    statuses = ("investigating", "identified", "monitoring")
    for position in range(count):
        last = position == count - 1
        status = "resolved" if last else statuses[min(position * 3 // count, 2)]
        internal = not last and position > 0 and random_() < 0.25
        if position == 0:
            components = ", ".join([f"{cid}: {choice(IMPACTS)}" for cid, _, _ in affected])
        elif last:
            components = ", ".join([f"{cid}: operational" for cid, _, _ in affected])
        else:
            components = ""
        words = randint(8, 40)
        message = " ".join([choice(WORDS) for _ in range(words)]).capitalize()
        add(f"  - at: {_stamp(at)}\n    status: {status}\n    message: {message}.\n")
        if internal:
            add("    visibility: internal\n")
        if components:
            add(f"    components: {{{components}}}\n")
        if not last and not internal:
            add(f"    next_update_by: {_stamp(at + 1800)}\n")
        if not internal:
            add("    deliveries:\n")
            add(
                _DELIVERY.format(
                    s=at,
                    i=index,
                    x=10**18 + index * 100 + position,
                    a2=_stamp(at + 2),
                    a3=_stamp(at + 3),
                    a4=_stamp(at + 4),
                )
            )
        at += 60 * randint(3, 45)
    if random_() < 0.05:
        public_summary, summary, cause, well, wrong, item = (_sentence(rng, words) for words in (30, 60, 12, 8, 8, 6))
        add(
            f"postmortem:\n  public: true\n  public_summary: {public_summary}\n  summary: {summary}\n"
            f"  root_causes:\n    - {cause}\n  lessons:\n    went_well:\n      - {well}\n"
            f"    went_wrong:\n      - {wrong}\n  action_items:\n    - title: {item}\n"
            "      owner: team\n      due: 2026-01-01\n"
        )
    title = " ".join([choice(WORDS) for _ in range(randint(3, 7))]).capitalize()
    severity = choice(("sev1", "sev2", "sev2", "sev3", "sev3", "sev3"))
    day = time.strftime("%Y-%m-%d", time.gmtime(started))
    ident = f"{day}-{title.lower().replace(' ', '-')[:40].strip('-')}-{index}"
    return ident, f"schema: 1\nid: {ident}\ntitle: {title}\nseverity: {severity}\ntimeline:\n" + "".join(out)


def check(incidents: int, seed: int = 1, total: int = 10_000, span_days: int = 4 * 365) -> int:
    """Compare ``make_text`` (and ``fast_dump``) with the store's writer on ``incidents`` records spread over ``total``."""
    step = max(1, total // max(incidents, 1))
    compared = postmortems = 0
    for index in range(0, total, step)[:incidents]:
        incident = make_incident(index, total, seed, span_days)
        expected = store_dump(incident)
        ident, text = make_text(index, total, seed, span_days)
        if text != expected or ident != incident.id or fast_dump(incident) != expected:
            raise SystemExit(f"the templates differ from the store's writer for record {index}: {incident.id}")
        compared += 1
        postmortems += incident.postmortem is not None
    print(f"templates byte-identical to the store's writer on {compared} records ({postmortems} with a postmortem)")
    return compared


def _write_range(root: str, start: int, stop: int, total: int, seed: int, span_days: int, check_every: int) -> int:
    folder = os.path.join(root, "incidents")
    for index in range(start, stop):
        ident, text = make_text(index, total, seed, span_days)
        if index < 20 or (check_every and index % check_every == 0):
            incident = make_incident(index, total, seed, span_days)
            if text != store_dump(incident) or ident != incident.id:
                raise SystemExit(f"the templates differ from the store's writer for record {index}: {ident}")
        # A generated fixture: no temp file + fsync + rename per record (that is the store's job).
        with open(os.path.join(folder, f"{ident}.yaml"), "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    return stop - start


def config_with_groups(organization: str) -> str:
    text = config_text(organization, [(cid, name) for cid, name, _ in COMPONENTS], "America/New_York")
    for cid, _, group in COMPONENTS:
        text = text.replace(f"{{id: {cid}, name:", f"{{id: {cid}, group: {group}, name:")
    return text


def generate(
    root: Path, incidents: int, seed: int = 1, jobs: int = 2, span_days: int = 4 * 365, check_every: int = 50
) -> float:
    """Create the repo; return the seconds spent writing records."""
    init_repo(root, "Benchmark Corp", [(cid, name) for cid, name, _ in COMPONENTS], "America/New_York")
    (root / "incidentctl.yaml").write_text(config_with_groups("Benchmark Corp"), encoding="utf-8")
    began = time.perf_counter()
    chunk = max(1, min(2000, incidents // (jobs * 8)))
    ranges = [(start, min(start + chunk, incidents)) for start in range(0, incidents, chunk)]
    if jobs > 1 and incidents > 200:
        with ProcessPoolExecutor(jobs) as pool:
            list(
                pool.map(
                    _write_range,
                    *zip(*[(str(root), a, b, incidents, seed, span_days, check_every) for a, b in ranges], strict=True),
                )
            )
    else:
        for a, b in ranges:
            _write_range(str(root), a, b, incidents, seed, span_days, check_every)
    elapsed = time.perf_counter() - began
    subprocess.run(["git", "-c", "core.looseCompression=1", "add", "-A"], cwd=root, check=True)
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
    parser.add_argument("path", type=Path, nargs="?")
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--check-every",
        type=int,
        help="compare every Nth record with the store's writer (0: never; default: about 200 records in all)",
    )
    parser.add_argument("--check", type=int, metavar="N", help="only compare N records with the store's writer")
    args = parser.parse_args(argv)
    if args.check is not None:
        check(args.check, args.seed, args.incidents)
        return 0
    if args.path is None:
        parser.error("PATH is required")
    if args.path.exists() and any(args.path.iterdir()):
        print(f"{args.path} exists and is not empty", file=sys.stderr)
        return 2
    check_every = args.check_every if args.check_every is not None else max(50, args.incidents // 200)
    seconds = generate(args.path, args.incidents, args.seed, args.jobs, check_every=check_every)
    size = sum(f.stat().st_size for f in (args.path / "incidents").glob("*.yaml"))
    print(
        f"{args.incidents} incidents in {seconds:.1f} s ({args.incidents / seconds:.0f}/s), {size / 1e6:.1f} MB of YAML"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

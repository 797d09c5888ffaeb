"""YAML parsers on the generated records: MB/s, and whether they agree after model validation.

    python benchmarks/parsers.py REPO [--files 2000] [--slow-files 200]

REPO is a generated repo (``generate.py``). Speeds are CPU seconds (``time.process_time``, best of
3), so other work on a shared machine inflates them less than wall time would. Every parser's
output for every measured record is validated into ``Incident`` and compared with today's reader
(``records.codec.fast_load``, PyYAML's C loader).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from incidentctl.model import Incident
from incidentctl.records import fastparse
from incidentctl.records.codec import fast_load


def _parsers() -> dict[str, tuple[Callable[[str], Any], bool]]:
    """name -> (parse, builds Python objects to compare)."""
    found: dict[str, tuple[Callable[[str], Any], bool]] = {
        "PyYAML CSafeLoader (codec.fast_load, today)": (lambda text: fast_load(text, "r"), True),
        "fastparse.parse (yaml-rs + routing)": (lambda text: fastparse.parse(text, "r"), True),
        "fastparse fallback (CSafeLoader, YAML 1.2)": (lambda text: fastparse.parse_fallback(text, "r"), True),
    }
    try:
        yaml_rs = importlib.import_module("yaml_rs")
        found["yaml-rs loads"] = (lambda text: yaml_rs.loads(text), True)
    except ImportError:
        pass
    try:
        ryaml = importlib.import_module("ryaml")
        found["ryaml loads"] = (lambda text: ryaml.loads(text), True)
    except ImportError:
        pass
    try:
        ryml = importlib.import_module("ryml")
        # rapidyaml's Python API gives a tree of spans, not Python objects: this is parsing only.
        found["rapidyaml parse_in_arena (tree only, no Python objects)"] = (
            lambda text: ryml.parse_in_arena(text.encode()),
            False,
        )
    except ImportError:
        pass
    from ruamel.yaml import YAML

    safe = YAML(typ="safe")  # ruamel's C loader (ruamel.yaml.clib) when installed
    found["ruamel.yaml typ=safe"] = (lambda text: safe.load(io.StringIO(text)), True)
    rt = YAML(typ="rt")
    found["ruamel.yaml typ=rt (what the store writes with)"] = (lambda text: rt.load(io.StringIO(text)), True)
    return found


SLOW = ("ruamel.yaml typ=rt (what the store writes with)", "ruamel.yaml typ=safe", "ryaml loads")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("repo", type=Path)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--slow-files", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    paths = sorted((args.repo / "incidents").glob("*.yaml"))
    step = max(1, len(paths) // args.files)
    texts = [p.read_text(encoding="utf-8") for p in paths[::step][: args.files]]
    reference = [Incident.model_validate(fast_load(text, "r")) for text in texts]
    print(f"{len(texts)} records, {sum(map(len, texts)) / 1e6:.1f} MB")
    routed = sum(1 for text in texts if fastparse._pyyaml_only(text))
    print(f"records fastparse routes to the PyYAML path: {routed}")
    print("| parser | MB/s (CPU) | records | equal after validation |")
    print("| --- | --- | --- | --- |")
    for name, (parse, comparable) in _parsers().items():
        sample = texts[: args.slow_files] if name in SLOW else texts
        size = sum(map(len, sample)) / 1e6
        best = float("inf")
        gc.disable()
        try:
            for _ in range(args.repeat if name not in SLOW else 1):
                began = time.process_time()
                results = [parse(text) for text in sample]
                best = min(best, time.process_time() - began)
        finally:
            gc.enable()
        equal = "–"
        if comparable:
            same = sum(
                1
                for result, expected in zip(results, reference, strict=False)
                if Incident.model_validate(result) == expected
            )
            equal = f"{same}/{len(sample)}"
        print(f"| {name} | {size / best:.1f} | {len(sample)} | {equal} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

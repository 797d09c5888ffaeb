"""The benchmark generator's string templates write exactly what the store's own writer writes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _generate_module() -> Any:
    spec = importlib.util.spec_from_file_location("bench_generate_templates", ROOT / "benchmarks" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_generate_templates"] = module
    spec.loader.exec_module(module)
    return module


def test_templates_are_byte_identical_to_the_store_writer() -> None:
    generate = _generate_module()
    total, seed, span = 100_000, 3, 4 * 365
    indices = list(range(0, total, 9_973))
    with_postmortem = [i for i in range(300) if "\npostmortem:\n" in generate.make_text(i, total, seed, span)[1]]
    assert with_postmortem
    for index in indices + with_postmortem[:3]:
        incident = generate.make_incident(index, total, seed, span)
        ident, text = generate.make_text(index, total, seed, span)
        assert ident == incident.id
        assert text == generate.store_dump(incident)

"""records.fastparse: the yaml-rs path and the PyYAML fallback read records identically.

Identity is checked after model validation (the reader's real output), on the sample records, on
generated records, on what ruamel (the writer) writes for arbitrary text, and on a grammar of
tricky scalars; hostile inputs must give a clean ``path:line:`` problem on both paths.
"""

from __future__ import annotations

import importlib.util
import random
import re
import string
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incidentctl.errors import RecordError
from incidentctl.model import Incident
from incidentctl.records import fastparse
from incidentctl.records.codec import fast_load, rt_dump

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "incidents").glob("*.yaml"))
HAVE_FAST = fastparse.FAST_LOADS is not None


def _generate_module() -> Any:
    spec = importlib.util.spec_from_file_location("bench_generate", ROOT / "benchmarks" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_generate"] = module
    spec.loader.exec_module(module)
    return module


def _both(text: str) -> tuple[Any, Any]:
    return fastparse.parse(text, "r.yaml"), fastparse.parse_fallback(text, "r.yaml")


def _outcome(parse: Any, text: str | bytes) -> tuple[str, Any]:
    try:
        return "ok", parse(text, "r.yaml")
    except RecordError as exc:
        return "error", str(exc)


@pytest.mark.skipif(not HAVE_FAST, reason="yaml-rs not installed")
def test_fast_path_is_used_for_written_records() -> None:
    for path in SAMPLES:
        text = path.read_text(encoding="utf-8")
        assert not fastparse._pyyaml_only(text), path.name


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_samples_parse_equal_on_both_paths_and_as_today(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    fast, fallback = _both(text)
    today = Incident.model_validate(fast_load(text, path))
    assert Incident.model_validate(fast) == today
    assert Incident.model_validate(fallback) == today
    assert fastparse.parse(text.encode("utf-8"), path) == fast


def test_generated_records_parse_equal_and_are_written_like_the_store() -> None:
    generate = _generate_module()
    for index in range(0, 10_000, 40):  # 250 records spread over four years
        incident = generate.make_incident(index, 10_000, 1, 4 * 365)
        text = generate.fast_dump(incident)
        if index % 400 == 0:  # the benchmark's --check, on a few: ruamel's emitter is slow
            assert text == generate.store_dump(incident)
        fast, fallback = _both(text)
        assert Incident.model_validate(fast) == incident
        assert Incident.model_validate(fallback) == incident
        assert Incident.model_validate(fast_load(text, "r")) == incident


@settings(max_examples=150, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40))
def test_what_ruamel_writes_reads_back_as_written(value: str) -> None:
    text = rt_dump({"message": value, "refs": [value], "at": {"k": value}})
    for parse in (fastparse.parse, fastparse.parse_fallback):
        data = parse(text, "r.yaml")
        assert data == {"message": value, "refs": [value], "at": {"k": value}}, (parse.__name__, text)


def test_yaml_12_scalars_as_ruamel_reads_them() -> None:
    text = "a: yes\nb: no\nc: on\nd: off\ne: 12:30\nf: 017\ng: 0o17\nh: true\ni: ~\nj: 1.5\nk: 2024-12-12\n"
    expected = {
        "a": "yes",
        "b": "no",
        "c": "on",
        "d": "off",
        "e": "12:30",
        "f": 17,
        "g": 15,
        "h": True,
        "i": None,
        "j": 1.5,
    }
    for data in _both(text):
        assert {k: v for k, v in data.items() if k != "k"} == expected
        assert str(data["k"]) == "2024-12-12"


def test_quoted_timestamps_stay_text() -> None:
    for data in _both("a: '2024-12-12T00:00:00Z'\nb: 2024-12-12T00:00:00Z\n"):
        assert data["a"] == "2024-12-12T00:00:00Z"
        assert data["b"].isoformat() in ("2024-12-12T00:00:00+00:00",)


HOSTILE = {
    "duplicate key": ("a: 1\nb: 2\na: 3\n", r"r\.yaml:3: invalid YAML: duplicate key 'a'"),
    "alias": ("a: &x [1, 2]\nb: *x\n", r"r\.yaml:\d+: YAML anchors and aliases are not allowed"),
    "alias bomb": (
        "a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nd: [*c, *c, *c, *c]\n",
        r"r\.yaml:\d+: YAML anchors and aliases are not allowed",
    ),
    "flow nesting": ("a: " + "[" * 5000 + "]" * 5000 + "\n", r"r\.yaml:\d+: invalid YAML: .*nesting depth"),
    "block nesting": ("".join(" " * i + f"k{i}:\n" for i in range(3000)), r"r\.yaml:\d+: invalid YAML: .*nesting"),
    "bad timestamp tag": ("at: !!timestamp '224-01-01'\n", r"r\.yaml:\d+: invalid YAML"),
    "bad int tag": ("a: !!int 'one'\n", r"r\.yaml:\d+: invalid YAML"),
    "bad float tag": ("a: !!float 'x'\n", r"r\.yaml:\d+: invalid YAML"),
    "bad binary": ("a: !!binary 'zz'\n", r"r\.yaml:\d+: invalid YAML"),
    "python tag": ("a: !!python/object/apply:os.system [echo]\n", r"r\.yaml:\d+: invalid YAML"),
    "local tag": ("a: !foo bar\n", r"r\.yaml:\d+: invalid YAML"),
    "unclosed flow": ("a: [1,\nb: 2\n", r"r\.yaml:3: invalid YAML"),
    "tab indent": ("a:\n\tb: 1\n", r"r\.yaml:2: invalid YAML"),
    "two documents": ("a: 1\n---\nb: 2\n", r"r\.yaml:\d+: invalid YAML"),
    "impossible date": ("at: 2024-02-30\n", r"r\.yaml:\d+: invalid YAML"),
    "hour 25": ("at: 2024-12-12T25:00:00Z\n", r"r\.yaml:\d+: invalid YAML"),
    "complex key": ("? [1, 2]\n: 1\n", r"r\.yaml:\d+: invalid YAML"),
    # yaml-rs stops reading at a NUL (`a: b\0c` is `{a: b}`) and keeps other control characters
    "nul byte": ("a: b\x00c\n", r"r\.yaml:1: invalid YAML: unacceptable character #x0000"),
    "control character": ("a: b\x01c\n", r"r\.yaml:1: invalid YAML: unacceptable character #x0001"),
    "delete": ("a: b\x7fc\n", r"r\.yaml:1: invalid YAML: unacceptable character #x007f"),
    "non-character": ("a: b\ufffec\n", r"r\.yaml:1: invalid YAML: unacceptable character #xfffe"),
    "line separator": ("a: b\u2028c\n", r"r\.yaml:\d+: invalid YAML"),
    "next line": ("a: b\x85c\n", r"r\.yaml:\d+: invalid YAML"),
    "carriage return": ("a: b\rc\n", r"r\.yaml:\d+: invalid YAML"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_inputs_give_a_clean_problem(name: str) -> None:
    text, message = HOSTILE[name]
    for parse in (fastparse.parse, fastparse.parse_fallback):
        with pytest.raises(RecordError) as caught:
            parse(text, "r.yaml")
        assert re.match(message, str(caught.value)), (parse.__name__, str(caught.value))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("!!int 'one'", "cannot read 'one' as int"),
        ("!!bool 'maybe'", "cannot read 'maybe' as bool"),
        ("!!float 'x'", "cannot read 'x' as float"),
        ("!!timestamp '224-12-11T19:22:00Z'", "cannot read '224-12-11T19:22:00Z' as timestamp"),
        ("!!int " + "9" * 5000, "cannot read '" + "9" * 40 + "' as int"),
        ("9" * 5000, "cannot read '" + "9" * 40 + "' as int"),  # yaml-rs reads it: routed to PyYAML
    ],
)
def test_a_bad_value_reads_as_the_codec_says_with_its_line(value: str, message: str) -> None:
    """Both paths and the codec's loader give one message, naming the value's line (not line 1)."""
    text = f"id: x\ntitle: y\nat: {value}\n"
    expected = f"r.yaml:3: invalid YAML: {message}"
    for parse in (fastparse.parse, fastparse.parse_fallback, fast_load):
        with pytest.raises(RecordError) as caught:
            parse(text, "r.yaml")
        assert str(caught.value) == expected, parse.__name__


def test_a_long_hex_integer_stays_on_the_fast_path() -> None:
    text = "a: 0x" + "f" * 5000 + "\n"  # power-of-two bases have no digit limit in Python
    assert all(data == {"a": 16**5000 - 1} for data in _both(text))


def test_bad_utf8_and_size() -> None:
    with pytest.raises(RecordError, match=r"^r\.yaml:1: not UTF-8 text$"):
        fastparse.parse(b"a: \xff\xfe\n", "r.yaml")
    with pytest.raises(RecordError, match="larger than 5 MB"):
        fastparse.parse("a: " + "x" * (5 * 1024 * 1024) + "\n", "r.yaml")


ATOMS = [
    *(
        [
            "yes",
            "No",
            "on",
            "OFF",
            "y",
            "n",
            "true",
            "False",
            "null",
            "~",
            "0x1F",
            "0o17",
            "017",
            "0b101",
            "1_000",
            "_1",
            ".inf",
            "-.INF",
            ".nan",
            "1e3",
            "1.5e-3",
            "+.51e3",
        ]
    ),
    *(
        [
            "12:30",
            "1:02:03",
            "2024-12-12",
            "2024-12-12T00:00:00Z",
            "2024-1-5",
            "2024-02-30",
            "2024-12-12T25:00:00Z",
            "2024-12-12T1:02:03Z",
        ]
    ),
    "2024-12-12 00:00:00.123 +05:30",
    *(
        [
            "+1",
            "-0",
            "0.",
            "1.",
            "=",
            "<<",
            "123456789012345678901234567890",
            "1e400",
            "'q'",
            '"d\\n"',
            "#x",
            "?",
            ":",
            "-",
            "|",
            ">",
            "[a:]",
            "{a:",
            "1}",
        ]
    ),
    "a #c",
    "a: b",
    "[1, 2]",
    "|\n  x\n",
    ">-\n  x\n  y\n",
    "|+\n  x\n\n",
    "",
]
CHARS = string.ascii_letters + string.digits + " .:-+_eExob'\"#,[]{}?|>~!&*%@`\\/=<\t\x00\x01\x7f\r\x85\u2028\ufffeé"


def test_tricky_scalars_never_differ() -> None:
    """Fuzzing: whenever the fast path accepts a text, the fallback accepts it with the same data,
    and whenever it refuses one, the fallback's message is the one given."""
    rng = random.Random(7)
    for _ in range(6000):
        if rng.random() < 0.6:
            value = rng.choice(ATOMS)
            if rng.random() < 0.3:
                value += rng.choice([" ", "", "x", ":", " #", ":? "]) + rng.choice(ATOMS)
        else:
            value = "".join(rng.choice(CHARS) for _ in range(rng.randint(0, 12)))
        text = rng.choice(["a: {}\n", "- {}\n", "a: [{}]\n", "a: {{k: {}}}\n", "{}: 1\n", "a:\n  - {}\n"]).format(value)
        fast, fallback = _outcome(fastparse.parse, text), _outcome(fastparse.parse_fallback, text)
        assert fast[0] == fallback[0], text
        assert repr(fast[1]) == repr(fallback[1]), text

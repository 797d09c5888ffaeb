"""Fast record parsing: ``yaml-rs`` (Rust) when installed, PyYAML's C loader otherwise.

Both paths read YAML 1.2, as ruamel.yaml (which writes the records) does: ``yes``/``no``/``on``/
``off`` are text, ``12:30`` is text, ``017`` is 17, only ``true``/``false`` are booleans;
timestamps become ``datetime``/``date`` objects as before (the model turns them into UTC).
Record rules, the same on both paths and as ``codec.fast_load`` (one loader function, ``codec.load_with``):

- duplicate keys are refused;
- anchors and aliases are refused (the "billion laughs" family);
- explicit tags are read by the PyYAML path only, so a bad one (``!!int 'one'``) is a clean error;
- a file over 5 MB, bad UTF-8, too deep nesting: a :class:`RecordError`, never a traceback.

Every error reads ``path:line: message``. yaml-rs gets only the plain records it reads exactly
like the fallback (checked by ``tests/test_fastparse.py``): a text with anchor, alias, tag or merge
hints, a quoted timestamp (yaml-rs would turn it into a datetime) or a short-form date goes to the
PyYAML path, and so does any text yaml-rs refuses, so errors come from one place.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import yaml

from ..errors import RecordError
from .codec import MAX_RECORD_BYTES, guard_scalars, load_with


def _fast_loads() -> Callable[[str], Any] | None:
    try:  # the optional [fast] extra
        module = importlib.import_module("yaml_rs")
    except ImportError:  # pragma: no cover - depends on the installation
        return None
    loads: Callable[..., Any] = module.loads

    def load(text: str) -> Any:
        return loads(text, parse_datetime=True)

    return load


#: The fast parser, or None when yaml-rs is not installed (tests set it to None to force the fallback).
FAST_LOADS: Callable[[str], Any] | None = _fast_loads()

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader12(_BaseLoader):  # type: ignore[valid-type,misc]
    """PyYAML's safe C loader with ruamel's YAML 1.2 scalars; duplicate keys refused."""

    yaml_implicit_resolvers: ClassVar[dict[str | None, list[tuple[str, re.Pattern[str]]]]] = {}

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[tuple[str, str]] = set()
        for key_node, _value in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = (key_node.tag, key_node.value)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key_node.value!r}", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep)

    def construct_yaml_int(self, node: Any) -> int:
        """YAML 1.2 integers: ``0o17`` is octal, ``017`` is seventeen, no sexagesimal."""
        text = str(self.construct_scalar(node)).replace("_", "")
        sign = -1 if text.startswith("-") else 1
        text = text.lstrip("+-")
        for prefix, base in (("0b", 2), ("0o", 8), ("0x", 16)):
            if text.startswith(prefix):
                return sign * int(text[2:], base)
        return sign * int(text, 10)


# ruamel.yaml's YAML 1.2 implicit resolvers (ruamel/yaml/resolver.py), minus `=` (value) which no
# constructor of the safe loader knows: it stays text.
_RESOLVERS_12 = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    (
        "tag:yaml.org,2002:float",
        r"""^(?:
         [-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        "-+0123456789.",
    ),
    (
        "tag:yaml.org,2002:int",
        r"""^(?:[-+]?0b[0-1_]+
        |[-+]?0o?[0-7_]+
        |[-+]?[0-9_]+
        |[-+]?0x[0-9a-fA-F_]+)$""",
        "-+0123456789",
    ),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", "<"),
    ("tag:yaml.org,2002:null", r"^(?: ~ |null|Null|NULL | )$", "~nN"),
    (
        "tag:yaml.org,2002:timestamp",
        r"""^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
        |[0-9][0-9][0-9][0-9] -[0-9][0-9]? -[0-9][0-9]?
        (?:[Tt]|[ \t]+)[0-9][0-9]?
        :[0-9][0-9] :[0-9][0-9] (?:\.[0-9]*)?
        (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$""",
        "0123456789",
    ),
]
for _tag, _pattern, _first in _RESOLVERS_12:
    _Loader12.add_implicit_resolver(_tag, re.compile(_pattern, re.X), list(_first))
_Loader12.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^$"), [""])
# The codec's guarded scalar constructors (a bad `!!int 'one'` is `path:line: invalid YAML: cannot
# read 'one' as int`, the value's line), with the YAML 1.2 integer.
guard_scalars(_Loader12, int=_Loader12.construct_yaml_int)

#: Texts that go to the PyYAML path: everything where yaml-rs reads differently from ruamel/PyYAML
#: (found by tests/test_fastparse.py's fuzzing) or where only PyYAML applies the record rules.
#: Records written by ruamel match none of these, except by chance in a message (then: slower, same
#: data). The checks are one cheap pass over the text: substring tests, then regular expressions
#: that each start with one literal character, so the regex engine skips to its candidates in C
#: (a pattern starting with a character class or a lookbehind is tried at every position: the
#: first version of these checks cost 3x yaml-rs's parse; this one about a fifth of it).
_PYYAML_ONLY_SUBSTRINGS = ("<<", "\t", "\ufeff", "\n---", "\n...", " " * 256)  # merge key, tabs, BOM, documents, depth
_M = re.MULTILINE
#: A flow-collection item or value starting with an indicator (`[?x]`, `{k: ?x}`, `[a:]`, `[[1]: 2]`).
_FLOW_ODD = r"[^\s\w\[\]{},'\".+-]"
_PYYAML_ONLY_PATTERNS = [
    re.compile(p, _M)
    for p in (
        r"'[0-9]{4}-[0-9]",  # a quoted date or timestamp: yaml-rs would make it a datetime
        r'"[0-9]{4}-[0-9]',
        # after four digits: short-form (2024-1-5) or impossible dates and times; a one-digit hour
        # (ruamel: a timestamp). The lookbehind comes after the `-`, so `-` is the literal to skip to.
        r"-(?<=[0-9]{4}-)(?:[0-9]-|[0-9]{2}-[0-9](?![0-9])|00|1[3-9]|[2-9][0-9]|[0-9]{2}-(?:00|3[2-9]|[4-9][0-9])"
        r"|02-(?:29|3[01])|(?:0[469]|11)-31"
        r"|[0-9]{2}-[0-9]{2}[Tt ]+(?:2[4-9]|[3-9][0-9]|[0-9]:|[0-9]{1,2}:[6-9][0-9]|[0-9]{1,2}:[0-9]{2}:[6-9][0-9]))",
        r"e(?<=[0-9.]e)[-+0-9]",  # exponents: the two spell floats differently
        r"E(?<=[0-9.]E)[-+0-9]",
        r"\n[ -]*[?:\[{]",  # complex keys, a flow collection as the document (the text's start: below)
        r"\[ *" + _FLOW_ODD,  # indicators starting an item of a flow collection
        r"\{ *" + _FLOW_ODD,
        r", *" + _FLOW_ODD,
        r":(?: +[?:%@`]|[\]},?])",  # ... or a value; `[a:]`
        r"\] *:",  # `[[1]: 2]`
        r"\} *:",
        r"\[[^\]}\n]*+$",  # a flow collection over several lines
        r"\{[^\]}\n]*+$",
    )
]
_START = re.compile(r"[ -]*[?:\[{]|[-+]?_")  # the text's start: complex key, flow document, `_1`
#: Only searched when the text holds one of the characters they need.
_GATED_PATTERNS = [
    ("&*!", re.compile(r"(?<![^\s\[{,:-])[*&!][^\s]", _M)),  # anchor, alias or tag
    # `_1`, `1_0`, `-_1`, `._`, `0x_`: numbers for one parser only (or an error for PyYAML)
    ("_", re.compile(r"_(?:[0-9]|(?<=[0-9\s\[{,:+.-]_)|(?<=0[xob]_))")),
    ("|>", re.compile(r"[\[{][^\]}\n]*: +[|>]")),  # a block-scalar indicator inside a flow collection
    # an empty block scalar (yaml-rs keeps a line break)
    ("|>", re.compile(r"[|>][-+0-9]*[ ]*(?:#.*)?\n(?![ ]*\n)(?=\S|$)", _M)),
]

#: A decimal integer longer than Python converts (``sys.get_int_max_str_digits()``, 4300): yaml-rs
#: reads it, PyYAML refuses it (``cannot read '999...' as int``), so it goes to the PyYAML path.
_INT_DIGITS = sys.get_int_max_str_digits()


#: Characters YAML does not allow raw (PyYAML refuses them; yaml-rs keeps them, or stops reading
#: at a NUL) and the carriage return (a line break for PyYAML only): found in the UTF-8 bytes.
_CONTROL_BYTES = bytes([*range(0x09), 0x0B, 0x0C, 0x0D, *range(0x0E, 0x20), 0x7F])
#: One C pass classifies every byte: a control byte becomes NUL, a digit `0`, anything else a space;
#: then a NUL or a run of more digits than Python converts (a regular expression for that run cost
#: 4x this pass) is a substring search.
_BYTE_CLASSES = bytes(0 if b in _CONTROL_BYTES else 0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_DIGITS = b"0" * (_INT_DIGITS + 1) if _INT_DIGITS else None
_ODD_UTF8 = [  # C1 controls incl. NEL, the line and paragraph separators, the non-characters U+FFFE/F
    (b"\xc2", re.compile(b"\xc2[\x80-\x9f]")),
    (b"\xe2", re.compile(b"\xe2\x80[\xa8\xa9]")),
    (b"\xef", re.compile(b"\xef\xbf[\xbe\xbf]")),
]


def _pyyaml_only(text: str) -> bool:
    if text.startswith(("---", "...")) or not text.endswith("\n"):
        return True  # no final line break: yaml-rs adds one to a block scalar at the end of the file
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        return True  # a lone surrogate
    classes = raw.translate(_BYTE_CLASSES)
    if b"\0" in classes or (_LONG_DIGITS is not None and _LONG_DIGITS in classes):
        return True
    if not text.isascii() and any(lead in raw and pattern.search(raw) for lead, pattern in _ODD_UTF8):
        return True
    if _START.match(text) or any(part in text for part in _PYYAML_ONLY_SUBSTRINGS):
        return True
    for chars, pattern in _GATED_PATTERNS:
        if any(char in text for char in chars) and pattern.search(text):
            return True
    return any(pattern.search(text) for pattern in _PYYAML_ONLY_PATTERNS)


def parse(text: str | bytes, path: Path | str) -> Any:
    """Parse one record's YAML text; any problem is a :class:`RecordError` ``path:line: message``."""
    if len(text) > MAX_RECORD_BYTES:
        raise RecordError(f"{path}: file is larger than {MAX_RECORD_BYTES // (1024 * 1024)} MB")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise RecordError(f"{path}:1: not UTF-8 text") from None
    if FAST_LOADS is not None and not _pyyaml_only(text):
        try:
            return FAST_LOADS(text)
        except Exception:  # noqa: BLE001, S110 - the fallback below says what is wrong, with the line
            pass
    return parse_fallback(text, path)


def parse_fallback(text: str, path: Path | str) -> Any:
    """The PyYAML (C loader, YAML 1.2 scalars) path: always available, and the one that explains
    errors, in the codec's words (:func:`incidentctl.records.codec.load_with`)."""
    return load_with(_Loader12, text, path)

"""YAML in and out: a fast C loader for reading, ruamel round-trip for writing, atomic files.

Reads (``list``, ``lint``, ``stats``, the site) use PyYAML's C loader: several times faster than
the round-trip loader. Writes load the file with ruamel.yaml, change only what changed and dump it
back, so a user's comments and key order survive. Every write is a temp file in the same folder,
fsynced, then renamed over the old one.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import RecordError

if TYPE_CHECKING:
    from pydantic import ValidationError
    from ruamel.yaml import YAML

TEMP_PREFIX = ".incidentctl-tmp-"
MAX_RECORD_BYTES = 5 * 1024 * 1024

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """The safe C loader, refusing duplicate keys (ambiguous, and the round-trip writer rejects them)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[tuple[str, str]] = set()
        for key_node, _value in node.value:
            if isinstance(key_node, yaml.ScalarNode):  # compare the resolved tag and text: no extra construction
                key = (key_node.tag, key_node.value)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key_node.value!r}", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep)


def guarded(constructor: Any) -> Any:
    """Wrap a scalar constructor so a bad value under an explicit tag (``!!int 'one'``,
    ``!!timestamp '224-12-11'``, ``!!bool maybe``, a 5000-digit integer) is a YAML error with its
    line, never a Python exception escaping the reader. Every reading loader uses it
    (:func:`guard_scalars`), so each such value reads the same wherever it is read."""

    def construct(loader: Any, node: Any) -> Any:
        try:
            return constructor(loader, node)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
            value = str(getattr(node, "value", ""))[:40]
            kind = str(node.tag).rsplit(":", 1)[-1]
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {value!r} as {kind}", node.start_mark
            ) from None

    return construct


#: The scalar tags whose constructors can refuse a value, and PyYAML's safe constructor of each.
SCALAR_CONSTRUCTORS = {
    "tag:yaml.org,2002:int": yaml.SafeLoader.construct_yaml_int,
    "tag:yaml.org,2002:float": yaml.SafeLoader.construct_yaml_float,
    "tag:yaml.org,2002:bool": yaml.SafeLoader.construct_yaml_bool,
    "tag:yaml.org,2002:timestamp": yaml.SafeLoader.construct_yaml_timestamp,
    "tag:yaml.org,2002:binary": yaml.SafeLoader.construct_yaml_binary,
}


def guard_scalars(loader: type[yaml.SafeLoader], **overrides: Any) -> None:
    """Register :func:`guarded` scalar constructors on ``loader``; ``overrides`` maps a tag's short
    name (``int``) to the loader's own constructor for it."""
    for tag, constructor in SCALAR_CONSTRUCTORS.items():
        loader.add_constructor(tag, guarded(overrides.get(tag.rsplit(":", 1)[-1], constructor)))


guard_scalars(_Loader)


_ALIAS_HINT = re.compile(r"(^|[\s\[{,:-])[*&][^\s*&]")


def fast_load(text: str, path: Path | str) -> Any:
    """Parse YAML with the C loader. Anchors/aliases are refused: records never need them and
    they are the way to build exponential "billion laughs" documents."""
    return load_with(_Loader, text, path)


def load_with(loader: type[yaml.SafeLoader], text: str, path: Path | str) -> Any:
    """Parse with a (safe) reading loader; every problem is a :class:`RecordError` in the one
    wording ``path:line: invalid YAML: ...`` (or ``... anchors and aliases are not allowed``)."""
    if len(text) > MAX_RECORD_BYTES:
        raise RecordError(f"{path}: file is larger than {MAX_RECORD_BYTES // (1024 * 1024)} MB")
    try:
        if ("&" in text or "*" in text) and _ALIAS_HINT.search(text):  # cheap test first: most records have neither
            _refuse_aliases(loader, text, path)
        return yaml.load(text, Loader=loader)  # noqa: S506 - only ever a subclass of the safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise RecordError(f"{path}:{line}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise RecordError(f"{path}:1: invalid YAML: {exc}") from None
    except RecursionError:
        raise RecordError(f"{path}:1: invalid YAML: nested too deeply") from None
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        # Defence in depth: whatever a constructor raises, the reader names the file, never crashes.
        raise RecordError(f"{path}:1: cannot read: {type(exc).__name__}: {str(exc)[:200]}") from None


def _refuse_aliases(loader: type[yaml.SafeLoader], text: str, path: Path | str) -> None:
    root = yaml.compose(text, Loader=loader)
    seen: set[int] = set()
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            raise RecordError(f"{path}:{node.start_mark.line + 1}: YAML anchors and aliases are not allowed")
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.extend((key, value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def line_of(text: str, loc: Sequence[str | int]) -> int:
    """The 1-based line of the value at ``loc`` (e.g. ``("timeline", 2, "status")``), best effort."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return 1
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    node = value
                    line = key.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def format_loc(loc: Iterable[str | int]) -> str:
    return ".".join(str(part) for part in loc)


def validation_problems(
    exc: ValidationError, path: Path | str, text: str, prefix: Sequence[str | int] = ()
) -> list[str]:
    """Turn a pydantic error into ``path:line: field: message`` lines, one per problem."""
    problems = []
    for error in exc.errors(include_url=False):
        loc = [
            *prefix,
            *(part for part in error["loc"] if not (isinstance(part, str) and part.startswith("function-"))),
        ]
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        # Our own model validators put the dotted location first; find its line too.
        match = re.match(r"^([a-z_]+(?:\.\w+)+): (.*)$", message)
        if match:
            loc = [int(p) if p.isdigit() else p for p in match.group(1).split(".")]
            message = match.group(2)
        if error["type"] == "literal_error":
            message = f"{error.get('input')!r} is not one of {message.split('Input should be ')[-1]}"
        elif error["type"] == "extra_forbidden":
            message = "unknown field (check the spelling)"
        where = format_loc(loc)
        problems.append(f"{path}:{line_of(text, loc)}: {where + ': ' if where else ''}{message}")
    return problems


# -- round trip -----------------------------------------------------------------------------------


def _represent_datetime(representer: Any, value: datetime) -> Any:
    utc = value.astimezone(UTC)
    # Four-digit year always (strftime writes year 224 as "224", which no YAML reader takes as a time).
    text = f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}Z"
    return representer.represent_scalar("tag:yaml.org,2002:timestamp", text)


def _represent_date(representer: Any, value: date) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:timestamp", value.isoformat())


def _represent_none(representer: Any, value: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def round_trip() -> YAML:
    """A ruamel.yaml instance that keeps comments and writes our timestamp spelling."""
    from ruamel.yaml import YAML
    from ruamel.yaml.timestamp import TimeStamp

    rt = YAML(typ="rt")
    rt.width = 4096  # never fold long lines: a reviewer's diff shows the whole sentence
    rt.indent(mapping=2, sequence=4, offset=2)
    rt.preserve_quotes = True
    for kind in (datetime, TimeStamp):
        rt.representer.add_representer(kind, _represent_datetime)
    rt.representer.add_representer(date, _represent_date)
    rt.representer.add_representer(type(None), _represent_none)
    rt.representer.add_representer(str, _represent_str)
    # Never write anchors/aliases (shared objects, e.g. one timestamp used twice): readers refuse them.
    rt.representer.ignore_aliases = lambda _data: True
    return rt


#: Characters YAML cannot hold raw in plain, single-quoted or block scalars (or that a reader would
#: turn into line breaks): such text is written double-quoted, where they are escaped.
_NEEDS_ESCAPES = re.compile(
    "[^\x09\x0a\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\x85\u2028\u2029\ufeff]"
)


def _represent_str(representer: Any, value: str) -> Any:
    if _NEEDS_ESCAPES.search(value):
        return representer.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return representer.represent_str(value)


def rt_load(text: str, path: Path | str = "record") -> Any:
    """Load for writing (comments kept); any YAML error becomes a :class:`RecordError` with the line."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        return round_trip().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise RecordError(
            f"{path}:{mark.line + 1 if mark else 1}: invalid YAML: {exc.problem or exc.context}"
        ) from None
    except YAMLError as exc:
        raise RecordError(
            f"{path}:1: invalid YAML: {str(exc).splitlines()[0] if str(exc) else 'cannot parse'}"
        ) from None
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError) as exc:
        raise RecordError(f"{path}:1: cannot read: {type(exc).__name__}: {str(exc)[:200]}") from None


def rt_dump(data: Any) -> str:
    stream = io.StringIO()
    round_trip().dump(data, stream)
    return stream.getvalue()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, datetime) and isinstance(b, datetime):
        return a.astimezone(UTC) == b.astimezone(UTC)
    if isinstance(a, datetime) or isinstance(b, datetime):
        return False
    return type(a) is type(b) and a == b


def merge_into(target: Any, data: Any, flow_keys: frozenset[str] = frozenset()) -> Any:
    """Make round-trip ``target`` equal ``data``, touching only what differs (comments survive).

    Returns the node to store (``target`` itself when it could be updated in place).
    """
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(data, dict) and isinstance(target, CommentedMap):
        for key in [k for k in target if k not in data]:
            del target[key]
        for position, (key, value) in enumerate(data.items()):
            if key in target:
                target[key] = (
                    merge_into(target[key], value, flow_keys) if not _same(target[key], value) else target[key]
                )
            else:
                node = _fresh(value, flow_keys, key)
                if position < len(target):
                    target.insert(position, key, node)
                else:
                    target[key] = node
        return target
    if isinstance(data, list) and isinstance(target, CommentedSeq):
        del target[len(data) :]
        for index, value in enumerate(data):
            if index < len(target):
                if not _same(target[index], value):
                    target[index] = merge_into(target[index], value, flow_keys)
            else:
                target.append(_fresh(value, flow_keys))
        return target
    if isinstance(target, datetime) and isinstance(data, datetime) and _same(target, data):
        return target
    return _fresh(data, flow_keys)


def _fresh(value: Any, flow_keys: frozenset[str], key: str | None = None) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(value, dict):
        node = CommentedMap()
        for k, v in value.items():
            node[k] = _fresh(v, flow_keys, k)
        if key in flow_keys:
            node.fa.set_flow_style()
        return node
    if isinstance(value, list):
        seq = CommentedSeq(_fresh(v, flow_keys) for v in value)
        if key in flow_keys and all(not isinstance(v, dict | list) for v in value):
            seq.fa.set_flow_style()
        return seq
    if isinstance(value, str) and "\n" in value.strip("\n") and not _NEEDS_ESCAPES.search(value):
        from ruamel.yaml.scalarstring import LiteralScalarString

        # Multi-line messages read best as a literal block (`|`), exactly as typed.
        return LiteralScalarString(value)
    return value


# -- atomic files ---------------------------------------------------------------------------------


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the new one, never half of one."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Temp file in the same folder, fsync, rename, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temp_files(*folders: Path) -> list[Path]:
    """Delete temp files a killed run left behind (called by every writing command under the lock)."""
    removed = []
    for folder in folders:
        try:
            names = os.listdir(folder)  # one C call; a glob would match 10,000 names in Python
        except OSError:
            continue
        for name in names:
            if name.startswith(TEMP_PREFIX):
                stale = folder / name
                stale.unlink(missing_ok=True)
                removed.append(stale)
    return removed

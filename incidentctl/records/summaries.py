"""``list``'s cache: every record's summary, encoded as JSON once, in the order ``list`` prints.

A warm ``list --json`` is a ``scandir`` + ``stat`` of ``incidents/`` (compared with the cache in two
string/bytes comparisons) and a copy of cached bytes to stdout: no YAML, no model, no JSON encoder.

The file (``.git/incidentctl/scan-summaries.bin``, see :func:`incidentctl.records.cache.cache_path`)::

    MAGIC (8 bytes) | fast index length | slow index length (8 bytes each, little endian)
    | fast index (marshal) | slow index (marshal) | rows

- *rows*: each valid record's ``Incident.summary_dict()`` as ``json.dumps(..., ensure_ascii=False)``
  in UTF-8, followed by ``,\\n``; newest first (by ``(started_at, id)``, the order ``list`` shows);
- *fast index* (what every warm ``list`` reads): the code and config stamps, the listing it was
  made from (file names in directory order, NUL-separated, 4 stamps each), per row a severity code and flags (open,
  maintenance) for the filters, the rows' byte offsets, and the problems of invalid records;
- *slow index* (read only when something changed): per row its id and ``started_at`` for merging.

**Change detection.** A file's stamp is ``(size, mtime_ns, ctime_ns, inode)``: an in-place edit changes
mtime and ctime (ctime cannot be set back, so an edit that restores the mtime is noticed too), an
atomic rename the inode, an added or removed file the listing. Timestamps are as fine as the file
system's clock tick (ms on Linux, 2 s on FAT), so a file changed twice within one tick could keep
its stamp: like git's "racily clean" entries, a stamp not older than :data:`RACY_NS` before the scan
began is stored as zeros (never equal to a real stamp), and that record is parsed again next time.
The cache depends on the config (severities, components: validation) and on this code
(:data:`incidentctl.__version__`, :data:`FORMAT`); either changing makes a cold scan. A missing,
unreadable or inconsistent file is a cold scan too.
"""

from __future__ import annotations

import json
import marshal
import os
import re
import tempfile
import time
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .. import __version__
from ..model import ID_PATTERN
from .codec import TEMP_PREFIX
from .listing import RACY_NS as RACY_NS
from .listing import scan_stamps

if TYPE_CHECKING:
    from ..store import Repo

MAGIC = b"ICLIST\x00\x01"
#: Bumped whenever the file layout or the rows' encoding changes.
FORMAT = 2
_HEADER = len(MAGIC) + 16
#: Below this many records to parse, a second process costs more than it saves.
PARALLEL_THRESHOLD = 400
#: Output is copied in pieces of about this size (memory stays flat in the number of records).
CHUNK = 1 << 20
_OPEN, _MAINTENANCE = 1, 2
_RUNS = re.compile(b"\x01+")


@dataclass
class _Row:
    """One valid record's cached summary."""

    incident_id: str
    started_at: str
    severity: str
    flags: int
    json: bytes  # the encoded summary, without the separator


@dataclass
class SummaryRows:
    """Every valid record's summary, newest first, as pre-encoded JSON; filter with :meth:`select`,
    then print :meth:`json_pieces` or decode :meth:`dicts`. Close it (or use ``with``) when done."""

    severities: tuple[str, ...]
    codes: bytes  # per row: index into ``severities`` (one byte, or two big-endian if there are more than 256)
    flags: bytes  # per row: _OPEN | _MAINTENANCE
    offsets: array[int]  # per row its start in the rows, then the end
    _blob: bytes | None = None  # the rows in memory (just built) ...
    _file: BinaryIO | None = None  # ... or the cache file they are in, from ``_base`` on
    _base: int = 0
    problems: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.flags)

    def __enter__(self) -> SummaryRows:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def select(
        self, *, open_only: bool = False, severity: str | None = None, kind: str | None = None
    ) -> list[tuple[int, int]]:
        """The rows ``list`` shows with these filters, as runs ``(first, end)`` of consecutive rows.

        Done in C: each filter maps the per-row code bytes through a table to ``1``/``0``; the runs are
        the matches of ``1+``."""
        count = len(self)
        masks = []
        if severity is not None:
            if severity not in self.severities:
                return []
            wanted = self.severities.index(severity)
            if len(self.codes) == count:
                masks.append(self.codes.translate(bytes(int(code == wanted) for code in range(256))))
            else:  # more than 256 severities in use: two bytes a row (never in practice)
                masks.append(bytes(int(_code_at(self.codes, count, row) == wanted) for row in range(count)))
        if open_only or kind is not None:
            table = bytes(
                int(
                    (not open_only or bool(flags & _OPEN))
                    and (kind is None or ("maintenance" if flags & _MAINTENANCE else "incident") == kind)
                )
                for flags in range(256)
            )
            masks.append(self.flags.translate(table))
        if not masks:
            return [(0, count)] if count else []
        mask = masks[0]
        if len(masks) == 2:
            mask = (int.from_bytes(masks[0], "big") & int.from_bytes(masks[1], "big")).to_bytes(count, "big")
        return [match.span() for match in _RUNS.finditer(mask)]

    def json_pieces(self, runs: Sequence[tuple[int, int]]) -> Iterator[bytes]:
        """The selected rows' JSON, separated by ``,\\n`` (none after the last), in pieces of about
        :data:`CHUNK` bytes."""
        spans = [(self.offsets[first], self.offsets[end]) for first, end in runs]
        if not spans:
            return
        start, end = spans[-1]
        spans[-1] = (start, end - 2)  # no separator after the last row
        pending: list[bytes] = []
        size = 0
        for start, end in spans:
            while start < end:
                take = min(end - start, CHUNK)
                pending.append(self._read(start, take))
                size += take
                start += take
                if size >= CHUNK:
                    yield b"".join(pending)
                    pending, size = [], 0
        if pending:
            yield b"".join(pending)

    def dicts(self, runs: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
        """The selected rows as ``summary_dict()`` dicts (same keys, same order), newest first."""
        rows: list[dict[str, Any]] = json.loads(b"[" + b"".join(self.json_pieces(runs)) + b"]")
        return rows

    def _read(self, start: int, size: int) -> bytes:
        if self._blob is not None:
            return self._blob[start : start + size]
        assert self._file is not None, "SummaryRows used after close()"
        return os.pread(self._file.fileno(), size, self._base + start)


def _code_at(codes: bytes, count: int, row: int) -> int:
    return codes[row] if len(codes) == count else int.from_bytes(codes[2 * row : 2 * row + 2], "big")


def _encode_codes(values: list[int], kinds: int) -> bytes:
    if kinds <= 256:
        return bytes(values)
    return b"".join(value.to_bytes(2, "big") for value in values)


# -- the cache file -------------------------------------------------------------------------------


def _stamp(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


@dataclass
class _Cached:
    fast: tuple[Any, ...]
    file: BinaryIO
    slow_at: int
    slow_size: int
    rows_at: int


def _open_cache(path: Path, identity: tuple[Any, ...]) -> _Cached | None:
    """The cache file, if it is ours, for this code and config, and consistent; else None."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - kept open for the rows, closed by SummaryRows
    except OSError:
        return None
    try:
        header = handle.read(_HEADER)
        if len(header) != _HEADER or header[: len(MAGIC)] != MAGIC:
            raise ValueError
        fast_size = int.from_bytes(header[len(MAGIC) : len(MAGIC) + 8], "little")
        slow_size = int.from_bytes(header[len(MAGIC) + 8 :], "little")
        fast = marshal.loads(handle.read(fast_size))  # noqa: S302 - our own file in .git
        if not isinstance(fast, tuple) or len(fast) != 8 or fast[0] != identity:
            raise ValueError
        shapes = (tuple, str, bytes, tuple, bytes, bytes, bytes, dict)
        if not all(isinstance(part, shape) for part, shape in zip(fast, shapes, strict=True)):
            raise ValueError
        rows_at = _HEADER + fast_size + slow_size
        offsets = array("q", fast[6])
        if len(offsets) != len(fast[5]) + 1 or os.fstat(handle.fileno()).st_size != rows_at + offsets[-1]:
            raise ValueError
        return _Cached(fast, handle, _HEADER + fast_size, slow_size, rows_at)
    except Exception:  # noqa: BLE001 - any broken cache is just a cold start
        handle.close()
        return None


# -- parsing --------------------------------------------------------------------------------------

#: A parsed record: ``(id, row or None, problems)``.
_Parsed = tuple[str, "_Row | None", list[str]]


def _parse(repo: Repo, ids: Sequence[str]) -> list[_Parsed]:
    """Parse and validate records through THE record check (the same wording as every other reader)."""
    from .validate import check_file_parsed  # (not needed by a warm list)

    out: list[_Parsed] = []
    folder = repo.incidents_dir
    for incident_id in ids:
        incident, _, problems = check_file_parsed(
            folder / f"{incident_id}.yaml", f"incidents/{incident_id}.yaml", repo.config, incident_id
        )
        if incident is None:
            out.append((incident_id, None, problems))
            continue
        summary = incident.summary_dict()
        try:
            encoded = json.dumps(summary, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: escaped, still the same data
            encoded = json.dumps(summary).encode("ascii")
        flags = (_OPEN if summary["resolved_at"] is None else 0) | (
            _MAINTENANCE if summary.get("kind", "incident") == "maintenance" else 0
        )
        row = _Row(incident_id, summary["started_at"], summary["severity"], flags, encoded)
        out.append((incident_id, row, []))
    return out


def _parse_many(repo: Repo, ids: list[str]) -> list[_Parsed]:
    """:func:`_parse`; with many files, half of them in a forked second process (CPU-bound)."""
    from .parallel import parallel_map

    if not ids:
        return []
    workers = 2 if (os.cpu_count() or 1) >= 2 else 1
    shares = parallel_map(lambda share: _parse(repo, share), ids, workers=workers, minimum=PARALLEL_THRESHOLD)
    return [parsed for share in shares for parsed in share]


# -- the scan -------------------------------------------------------------------------------------


def summary_rows(repo: Repo, path: Path) -> SummaryRows:
    """Every valid record's summary (see :class:`SummaryRows`), newest first; the problems of the
    invalid ones in ``.problems`` (in id order), their records skipped.

    Warm (nothing changed since the cache was written): the listing and one read of the fast index.
    Otherwise only new and changed records are parsed and validated, and the cache is rewritten."""
    began = time.time_ns()
    names, stamps = scan_stamps(repo.incidents_dir)
    config = _stamp(repo.config_path)
    if config is not None and max(config[1], config[2]) >= began - RACY_NS:
        # The config changed just now: not trusted either (read nothing, store a stamp that never matches).
        identity: tuple[Any, ...] = (FORMAT, __version__, (0, 0, 0, 0))
        cached = None
    else:
        identity = (FORMAT, __version__, config)
        cached = _open_cache(path, identity)
    if cached is not None:
        fast = cached.fast
        if fast[2] == stamps.tobytes() and fast[1] == "\0".join(names):
            problems = fast[7]
            return SummaryRows(
                severities=fast[3],
                codes=fast[4],
                flags=fast[5],
                offsets=array("q", fast[6]),
                _file=cached.file,
                _base=cached.rows_at,
                problems=[problem for key in sorted(problems) for problem in problems[key]],
            )
        try:
            old = _Old(cached)
        except Exception:  # noqa: BLE001 - an old file that does not add up: a cold scan
            old = _Old(None)
        finally:
            cached.file.close()
        return _update(repo, path, identity, names, stamps, began, old)
    return _update(repo, path, identity, names, stamps, began, _Old(None))


def _update(
    repo: Repo,
    path: Path,
    identity: tuple[Any, ...],
    names: list[str],
    stamps: array[int],
    began: int,
    old: _Old,
) -> SummaryRows:
    """Something changed (or there is no cache): reuse the unchanged rows, parse the rest, rewrite.

    Column-wise: the unchanged rows are never decoded, only copied (in runs) from the old file."""
    raw = stamps.tobytes()
    present = {name[:-5] for name in names}
    changed = _changed_names(names, raw, old)
    stale = sorted(
        incident_id for incident_id in (name[:-5] for name in changed) if ID_PATTERN.match(incident_id)
    )  # not an id: not a record (the same rule as everywhere: records.listing)
    stale_set = set(stale)
    problems = {key: found for key, found in old.problems.items() if key in present and key not in stale_set}
    new_rows: dict[str, _Row] = {}
    for incident_id, row, found in _parse_many(repo, stale):
        if row is None:
            problems[incident_id] = tuple(found)
        else:
            new_rows[incident_id] = row
    # The rows in output order: an int is an unchanged row of the old file, a _Row a parsed one.
    replaced = {index: new_rows[incident_id] for index, incident_id in enumerate(old.ids) if incident_id in new_rows}
    gone = present.issuperset(old.ids) is False or any(
        incident_id not in new_rows for incident_id in stale_set.intersection(old.ids)
    )
    order: list[int | _Row]
    if (
        not gone
        and len(replaced) == len(new_rows)
        and all(row.started_at == old.starts[index] for index, row in replaced.items())
    ):  # e.g. after an update: the same records in the same order, some of them re-encoded
        for index, row in list(replaced.items()):
            if old.row_json(index) == row.json:  # parsed again (touched, or racy before): the same row
                del replaced[index]
        order = [replaced.get(index, index) for index in range(len(old.ids))] if replaced else list(range(len(old.ids)))
    else:
        keep: list[tuple[str, str, int | _Row]] = [
            (old.starts[index], incident_id, index)
            for index, incident_id in enumerate(old.ids)
            if incident_id in present and incident_id not in stale_set
        ]
        keep.extend((row.started_at, row.incident_id, row) for row in new_rows.values())
        keep.sort(key=lambda entry: (entry[0], entry[1]), reverse=True)
        order = [entry[2] for entry in keep]
    trusted = _trusted(stamps, began)
    return _write(path, identity, names, trusted, old, order, problems)


def _changed_names(names: list[str], raw: bytes, old: _Old) -> list[str]:
    """The listed names whose stamp differs from the old listing's (or that are new)."""
    if names == old.names:  # the same files in the same order: find the differing stamps by bisection
        return [names[index] for index in _differing(raw, old.raw, 0, len(names))]
    where = dict(zip(old.names, range(len(old.names)), strict=True))
    old_raw = old.raw
    changed = []
    for index, name in enumerate(names):
        at = where.get(name)
        if at is None or raw[32 * index : 32 * index + 32] != old_raw[32 * at : 32 * at + 32]:
            changed.append(name)
    return changed


def _differing(new: bytes, old: bytes, first: int, end: int) -> list[int]:
    """Indexes of the 32-byte stamps that differ in ``first..end`` (C comparisons of halves)."""
    if new[32 * first : 32 * end] == old[32 * first : 32 * end]:
        return []
    if end - first == 1:
        return [first]
    middle = (first + end) // 2
    return _differing(new, old, first, middle) + _differing(new, old, middle, end)


def _trusted(stamps: array[int], began: int) -> bytes:
    """The stamps to store: zeros for the racy ones (changed less than :data:`RACY_NS` before ``began``)."""
    racy_after = began - RACY_NS
    if not stamps or max(max(stamps[1::4]), max(stamps[2::4])) < racy_after:
        return stamps.tobytes()
    trusted = array("q", stamps)
    zeros = array("q", bytes(32))
    for index in range(len(stamps) // 4):
        if stamps[4 * index + 1] >= racy_after or stamps[4 * index + 2] >= racy_after:
            trusted[4 * index : 4 * index + 4] = zeros
    return trusted.tobytes()


class _Old:
    """The old cache file's columns (all empty without one)."""

    def row_json(self, index: int) -> bytes:
        return self.blob[self.offsets[index] : self.offsets[index + 1] - 2]

    def __init__(self, cached: _Cached | None) -> None:
        self.names: list[str] = []
        self.raw = b""
        self.ids: list[str] = []
        self.starts: list[str] = []
        self.severities: tuple[str, ...] = ()
        self.codes: list[int] = []
        self.flags = b""
        self.offsets: array[int] = array("q", [0])
        self.blob = b""
        self.problems: dict[str, tuple[str, ...]] = {}
        self.fast: tuple[Any, ...] | None = None
        if cached is None:
            return
        fast = self.fast = cached.fast
        cached.file.seek(cached.slow_at)
        ids_text, starts_text = marshal.loads(cached.file.read(cached.slow_size))  # noqa: S302 - ours, in .git
        self.blob = cached.file.read()
        self.names = fast[1].split("\0") if fast[1] else []
        self.raw = fast[2]
        self.ids = ids_text.split("\n") if ids_text else []
        self.starts = starts_text.split("\n") if starts_text else []
        self.severities, self.flags, self.problems = fast[3], fast[5], fast[7]
        self.offsets = array("q", fast[6])
        count = len(self.flags)
        codes: bytes = fast[4]
        self.codes = list(codes) if len(codes) == count else [_code_at(codes, count, row) for row in range(count)]
        if not (len(self.ids) == len(self.starts) == count and len(self.names) * 32 == len(self.raw)):
            raise ValueError("inconsistent summaries cache")


def _write(
    path: Path,
    identity: tuple[Any, ...],
    names: list[str],
    trusted: bytes,
    old: _Old,
    order: list[int | _Row],
    problems: dict[str, tuple[str, ...]],
) -> SummaryRows:
    """Assemble the new file from ``order`` (old rows copied in runs), write it unless it is the same
    file (e.g. the same racy records parsed again), and return its rows."""
    severities = list(old.severities)
    known = {name: code for code, name in enumerate(severities)}
    codes: list[int] = []
    flags = bytearray()
    offsets = array("q", [0])
    pieces: list[bytes | memoryview] = []
    ids: list[str] = []
    starts: list[str] = []
    old_blob = memoryview(old.blob)
    old_offsets = old.offsets
    run_start = run_end = -1  # the run of old rows being copied
    position = parsed = 0
    for item in order:
        if isinstance(item, int):
            if item != run_end:
                if run_end > run_start:
                    pieces.append(old_blob[old_offsets[run_start] : old_offsets[run_end]])
                run_start = item
            run_end = item + 1
            codes.append(old.codes[item])
            flags.append(old.flags[item])
            ids.append(old.ids[item])
            starts.append(old.starts[item])
            position += old_offsets[item + 1] - old_offsets[item]
        else:
            if run_end > run_start:
                pieces.append(old_blob[old_offsets[run_start] : old_offsets[run_end]])
            run_start = run_end = -1
            parsed += 1
            code = known.get(item.severity)
            if code is None:
                code = known[item.severity] = len(severities)
                severities.append(item.severity)
            codes.append(code)
            flags.append(item.flags)
            ids.append(item.incident_id)
            starts.append(item.started_at)
            pieces.append(item.json + b",\n")
            position += len(item.json) + 2
        offsets.append(position)
    if run_end > run_start:
        pieces.append(old_blob[old_offsets[run_start] : old_offsets[run_end]])
    code_bytes = _encode_codes(codes, len(severities))
    fast = (
        identity,
        "\0".join(names),  # a file name never holds NUL
        trusted,
        tuple(severities),
        code_bytes,
        bytes(flags),
        offsets.tobytes(),
        problems,
    )
    rows = SummaryRows(
        severities=tuple(severities),
        codes=code_bytes,
        flags=bytes(flags),
        offsets=offsets,
        problems=[problem for key in sorted(problems) for problem in problems[key]],
    )
    same_rows = parsed == 0 and len(pieces) == 1 and len(order) == len(old.ids)  # one run: all the old rows
    if old.fast == fast and (same_rows or not order):
        rows._blob = old.blob  # nothing to write (e.g. racy records parsed again, the same)
        return rows
    written = _store(path, fast, ids, starts, pieces)
    if written is None:
        rows._blob = b"".join(pieces)
    else:
        rows._file, rows._base = written
    return rows


def _store(
    path: Path, fast: tuple[Any, ...], ids: list[str], starts: list[str], pieces: list[bytes | memoryview]
) -> tuple[BinaryIO, int] | None:
    """Write the cache file, streamed and atomic (temp file, fsync, rename; a lost rename leaves the
    old file, which is still right for its own stamps); returns it open for reading and where its
    rows start, or None where it cannot be written (a read-only checkout works without the cache)."""
    fast_bytes = marshal.dumps(fast)
    slow_bytes = marshal.dumps(("\n".join(ids), "\n".join(starts)))
    header = MAGIC + len(fast_bytes).to_bytes(8, "little") + len(slow_bytes).to_bytes(8, "little")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".tmp", dir=path.parent)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "wb") as handle:
            for piece in (header, fast_bytes, slow_bytes, *pieces):
                handle.write(piece)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        reader = open(tmp, "rb")  # noqa: SIM115 - handed to SummaryRows, which closes it
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        return None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return reader, len(header) + len(fast_bytes) + len(slow_bytes)

"""The site cache on disk: every record's summary in one big file, the latest changes in a small one.

A rebuild after one ``update`` changes a handful of summaries among thousands: rewriting (and
re-encoding) every summary each time was most of the cost of saving. So the cache is two files:

- the **base** (:data:`BASE_NAME`): every record's ``(id, stamp, summary)`` row, written in
  chunks of :data:`CHUNK` rows, each framed with its length and CRC-32, so writing it streams
  (bounded memory, never one big bytes object) and a torn or foreign file is refused, not misread;
- the **recent** file (:data:`RECENT_NAME`): the rows changed or deleted since the base was
  written, the hot records' full public records and a few rendered shared files, tied to the base
  by a random token. Rewritten each build; the base only when the changes grow past a share of
  the records (:func:`should_rewrite_base`).

Rows are :mod:`marshal`-encoded (tuples of strings, ints, bytes and None: several times faster to
load than pickle, and only this version of Python reads them: the version is in the header). Both
files live in ``.git/incidentctl/`` and are safe to delete: a missing, stale or unreadable file
only means more records are read again. A killed build leaves either file whole or not at all
(written to a temp file, then renamed); a recent file whose token does not name the base on disk
is ignored.
"""

from __future__ import annotations

import marshal
import os
import struct
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..records.codec import TEMP_PREFIX

BASE_NAME = "site-summaries.bin"
RECENT_NAME = "site-recent.bin"
#: Older caches: removed when a new one is written.
OLD_NAMES = ("site-records.pickle",)
FORMAT = ("incidentctl-site-cache", 4, sys.version_info[:2], marshal.version)
#: Rows per frame of the base file: big enough to amortise the framing, small enough to stream.
CHUNK = 2048
_FRAME = struct.Struct("<II")  # payload length, CRC-32 of the payload

Row = tuple[str, str, "bytes | None"]
"""``(id, stamp, encoded summary or None: nothing public yet)`` (:func:`.state.encode`)."""


class BadCache(Exception):
    """The file is not a whole cache written by this version: start cold."""


def _write_frame(handle: IO[bytes], value: Any) -> None:
    payload = marshal.dumps(value, 4)
    handle.write(_FRAME.pack(len(payload), zlib.crc32(payload)))
    handle.write(payload)


def _read_frame(handle: IO[bytes]) -> Any:
    head = handle.read(_FRAME.size)
    if len(head) != _FRAME.size:
        raise BadCache("truncated")
    size, crc = _FRAME.unpack(head)
    payload = handle.read(size)
    if len(payload) != size or zlib.crc32(payload) != crc:
        raise BadCache("torn frame")
    try:
        return marshal.loads(payload)  # noqa: S302 - our own file in .git, CRC-checked
    except (EOFError, ValueError, TypeError) as error:
        raise BadCache(str(error)) from None


def _write_atomic(path: Path, frames: Iterable[Any]) -> None:
    """Write ``frames`` to a temp file beside ``path``, fsync, rename over it (never half a file)."""
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            for frame in frames:
                _write_frame(handle, frame)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_base(path: Path, fingerprint: str, token: str, rows: Iterator[Row]) -> None:
    """Stream every row to the base file (``rows`` is consumed lazily, :data:`CHUNK` at a time)."""

    def frames() -> Iterator[Any]:
        yield (FORMAT, fingerprint, token)
        chunk: list[Row] = []
        count = 0
        for row in rows:
            chunk.append(row)
            if len(chunk) >= CHUNK:
                count += len(chunk)
                yield tuple(chunk)
                chunk = []
        count += len(chunk)
        if chunk:
            yield tuple(chunk)
        yield ("end", count)

    _write_atomic(path, frames())


def read_base(path: Path, fingerprint: str) -> tuple[str, dict[str, tuple[str, bytes | None]]]:
    """``(token, rows)`` of the base file (id → (stamp, encoded summary or None)); :class:`BadCache`
    (or OSError) if unusable."""
    rows: dict[str, tuple[str, bytes | None]] = {}
    with open(path, "rb", buffering=1 << 20) as handle:
        head = _read_frame(handle)
        if not isinstance(head, tuple) or len(head) != 3 or head[0] != FORMAT or head[1] != fingerprint:
            raise BadCache("another version or fingerprint")
        token = head[2]
        count = 0
        while True:
            frame = _read_frame(handle)
            if isinstance(frame, tuple) and len(frame) == 2 and frame[0] == "end":
                if frame[1] != count:
                    raise BadCache("row count")
                break
            for incident_id, stamp, summary in frame:
                rows[incident_id] = (stamp, summary)
            count += len(frame)
    return str(token), rows


def write_recent(path: Path, fingerprint: str, token: str, data: dict[str, Any]) -> None:
    _write_atomic(path, [(FORMAT, fingerprint, token), data])


def read_recent(path: Path, fingerprint: str, token: str) -> dict[str, Any]:
    """The recent file's data if it belongs to the base ``token``; else :class:`BadCache`."""
    with open(path, "rb") as handle:
        head = _read_frame(handle)
        if not isinstance(head, tuple) or len(head) != 3 or head[0] != FORMAT or head[1:] != (fingerprint, token):
            raise BadCache("not this base's")
        data = _read_frame(handle)
    if not isinstance(data, dict):
        raise BadCache("not a dict")
    return data


def write_manifest(path: Path, target: str, keys: dict[str, str]) -> None:
    """The previous build's page keys (see :mod:`.incremental`), for the output folder ``target``."""
    _write_atomic(path, [(FORMAT, "manifest", target), keys])


def read_manifest(path: Path, target: str) -> dict[str, str]:
    """The page keys :func:`write_manifest` wrote for ``target``; :class:`BadCache` (or OSError) if unusable."""
    with open(path, "rb") as handle:
        head = _read_frame(handle)
        if head != (FORMAT, "manifest", target):
            raise BadCache("another version or output folder")
        keys = _read_frame(handle)
    if not isinstance(keys, dict):
        raise BadCache("not a dict")
    return keys


def should_rewrite_base(changed: int, total: int) -> bool:
    """Rewrite the base once the recent rows are a sixteenth of all records (at least 256)."""
    return changed > max(256, total // 16)


def remove_old(folder: Path) -> None:
    for path in [*(folder / name for name in OLD_NAMES), *folder.glob("site-manifest-*.json")]:
        try:
            path.unlink()
        except OSError:
            pass


@dataclass
class SiteCache:
    """What a previous build learnt (see the module): every record's row, the hot records, the
    shared state (:class:`.state.SharedState` data, None: none kept), rendered shared files."""

    fingerprint: str
    rows: dict[str, tuple[str, bytes | None]] = field(default_factory=dict)
    """id → (stamp, encoded summary or None if unpublished)."""
    records: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    """Full public records (pickled) of the hot incidents: id → (stamp, bytes)."""
    token: str = ""
    """The base file's token ("" when there is none: the next save writes it)."""
    recent_ids: set[str] = field(default_factory=set)
    """Ids whose row lives in the recent file (changed since the base was written)."""
    memo: dict[str, tuple[str, Any]] = field(default_factory=dict)
    """Made this build for the next: rendered shared files by path, (digest of their inputs, bytes);
    an incident's API updates by ``api-updates:<id>``, (its stamp, the updates)."""
    racy: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    """The records the last build saw racy (:func:`.records.record_stamps`)."""
    state: Any = None
    """The shared state's data when the last build kept it (of these very rows)."""


def load(folder: Path, fingerprint: str) -> SiteCache:
    """The cache in ``folder``: a cold one if unusable, the base rows alone if the recent file is."""
    try:
        token, rows = read_base(folder / BASE_NAME, fingerprint)
    except Exception:  # noqa: BLE001 - any broken cache is just a cold start
        return SiteCache(fingerprint)
    try:
        recent = read_recent(folder / RECENT_NAME, fingerprint, token)
        changed: dict[str, tuple[str, bytes | None] | None] = recent["rows"]
        hot: dict[str, tuple[str, bytes]] = recent["records"]
        memo: dict[str, tuple[str, Any]] = recent["memo"]
        racy: dict[str, tuple[str, str, str]] = recent["racy"]
        state = recent.get("state")
    except Exception:  # noqa: BLE001 - the base alone: records changed since are read again
        return SiteCache(fingerprint, rows, token=token)
    for incident_id, row in changed.items():
        if row is None:
            rows.pop(incident_id, None)
        else:
            rows[incident_id] = row
    return SiteCache(fingerprint, rows, hot, token, set(changed), memo, racy, state)


def save(
    folder: Path,
    cache: SiteCache,
    total: int,
    row: Callable[[str], tuple[str, bytes | None] | None],
    rows: Callable[[], Iterator[Row]],
    changed: set[str],
    state: Any,
) -> None:
    """Write what this build learnt about its ``total`` records: ``changed`` names those read again
    or deleted, ``row`` gives one record's new row (None: deleted), ``rows`` every row (a new base);
    ``state``: the shared state's data (of these rows)."""
    pending = cache.recent_ids | changed
    try:
        token = cache.token
        if not token or should_rewrite_base(len(pending), total):
            token = os.urandom(8).hex()
            write_base(folder / BASE_NAME, cache.fingerprint, token, rows())
            pending = set()
        data = {
            "rows": {incident_id: row(incident_id) for incident_id in sorted(pending)},
            "records": cache.records,
            "memo": cache.memo,
            "racy": cache.racy,
            "state": state,
        }
        write_recent(folder / RECENT_NAME, cache.fingerprint, token, data)
        remove_old(folder)
    except OSError:
        pass  # a read-only checkout still builds, just without the cache

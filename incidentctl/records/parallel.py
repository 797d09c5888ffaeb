"""THE parallel map: one share of the work here, the others in forked children.

Used by the scan cache (parsing many records) and the site build (reading and rendering). Fork, not
a pool: the children inherit the loaded config, templates and caches for free, and each share is
one round trip through a pipe. Kept over ``multiprocessing.Pool`` because it is the faster of the
two (no pool start-up, no task queue).
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..errors import IncidentctlError

T = TypeVar("T")
R = TypeVar("R")


def parallel_map(work: Callable[[Sequence[T]], R], items: Sequence[T], workers: int = 2, minimum: int = 200) -> list[R]:
    """``work`` over ``items`` split in ``workers`` interleaved shares, one in this process and the
    others in forked children; the results come back in share order (so output never depends on timing).

    Fork, not a pool: the children inherit the loaded config, templates and caches for free, and
    each share is one round trip. A child's exception is raised here.
    """
    if workers < 2 or len(items) < minimum or not hasattr(os, "fork"):
        return [work(items)]
    shares = [items[start::workers] for start in range(workers)]
    children: list[tuple[int, int]] = []
    try:
        for share in shares[1:]:
            children.append(_fork(work, share))
        results = [work(shares[0])]
        while children:
            pid, fd = children.pop(0)
            results.append(_collect(pid, fd))
        return results
    finally:
        for pid, fd in children:  # this process failed first: stop and reap the helpers
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            os.close(fd)


def _fork(work: Callable[[Sequence[T]], R], share: Sequence[T]) -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 0
        try:
            os.close(read_fd)
            try:
                payload = pickle.dumps((True, work(share)), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as exc:  # noqa: BLE001 - handed to the parent to raise
                payload = _pickled_error(exc)
            with os.fdopen(write_fd, "wb") as handle:
                handle.write(payload)
        except BaseException:  # noqa: BLE001 - the parent reports a child that died without a result
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    return pid, read_fd


def _pickled_error(exc: BaseException) -> bytes:
    try:
        return pickle.dumps((False, exc), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - an exception that cannot be pickled still gets its message across
        return pickle.dumps((False, IncidentctlError(f"{type(exc).__name__}: {exc}")))


def _collect(pid: int, fd: int) -> Any:
    with os.fdopen(fd, "rb") as handle:
        data = handle.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        raise IncidentctlError(f"the helper process stopped without a result (status {status})")
    ok, value = pickle.loads(data)  # noqa: S301 - from our own child process
    if not ok:
        raise value
    return value

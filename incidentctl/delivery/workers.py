"""Where each channel's sends run: a forked process per channel when several channels have work, else a thread.

Why processes: the channels' client libraries (atproto, Mastodon.py, tweepy, slack-sdk, httpx...) take
0.2–2 s of CPU each to import, and in one process those imports and each channel's own Python work share one
core under the GIL: nine channels cost the sum of their start-ups. Forked after planning, each child imports only
its own client and the channels start up side by side.

What does not move: the ledger. A child holds no record; every read (``get``) and every write (``update``,
``count``, the progress journal) is a synchronous call to this process, which serves each child from its own
thread with the one :class:`~.ledger.Ledger` (one writer at a time, each change saved at once, as with threads).
So the crash rules are the thread rules: an entry is saved ``pending`` here *before* the child sends its request;
a child that dies (killed, crashed) leaves it ``pending`` with attempts > 0, and the next run asks the channel
whether it landed. A child whose parent died cannot start another request (marking it pending fails first), and
it keeps the repo's ``flock`` (inherited) until it exits, so no later run overlaps a request still in flight.
Every entry a child did not report is reported here, never dropped silently.

Processes are used on Linux only (``fork`` with threads elsewhere is unsafe); one channel runs in this process.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import IncidentctlError

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from ..model import Delivery, Incident
    from .engine import PublishReport
    from .ledger import DeliveryResult, Ledger


class Progress(Protocol):
    """The part of :class:`~.progress.ProgressJournal` a channel run uses."""

    def record(self, incident_id: str, stamp: str, channel: str, refs: list[str]) -> None: ...

    def reached(self) -> dict[tuple[str, str, str], list[str]]: ...


class LedgerAccess(Protocol):
    """What a channel run may do with the ledger: :class:`~.ledger.Ledger` itself, or a child's link to it."""

    reconcile: set[tuple[str, int, str]]

    @property
    def progress(self) -> Progress: ...

    def get(self, incident_id: str) -> Incident: ...

    def update(self, incident_id: str, timeline_index: int, channel: str, **changes: Any) -> Delivery: ...

    def count(self, incident_id: str, channel: str, state: str) -> None: ...


class Sink:
    """Where a channel run reports: each delivery's outcome and each warning (once)."""

    def __init__(self, report: PublishReport) -> None:
        self.report = report
        self.lock = threading.Lock()
        self.seen: set[tuple[str, str, int]] = set()  # (channel, incident, timeline index) reported

    def result(self, outcome: DeliveryResult, timeline_index: int) -> None:
        with self.lock:
            self.report.deliveries.append(outcome)
            self.seen.add((outcome.channel, outcome.incident_id, timeline_index))

    def warn(self, text: str) -> None:
        with self.lock:
            if text not in self.report.warnings:
                self.report.warnings.append(text)


#: One channel's whole run: given the ledger and the sink, sends that channel's entries (never raises).
ChannelJob = Callable[[LedgerAccess, Sink], None]


@dataclass
class Job:
    channel: str
    plan: list[tuple[str, list[int]]]
    run: ChannelJob
    problem: str | None = field(default=None)


def run_channels(jobs: Sequence[Job], ledger: Ledger, report: PublishReport) -> None:
    """Run every job at once (a process each on Linux when there are several, else threads) and wait for all."""
    sink = Sink(report)
    if len(jobs) > 1 and sys.platform.startswith("linux") and hasattr(os, "fork"):
        _run_forked(jobs, ledger, sink)
    else:
        threads = [
            threading.Thread(
                daemon=True,  # ^C ends the run; a send in flight is reconciled by the next one
                target=_guarded,
                args=(job, ledger, sink),
                name=f"publish-{job.channel}",
            )
            for job in jobs
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for job in jobs:
        _report_unfinished(job, ledger, sink)


def _guarded(job: Job, ledger: LedgerAccess, sink: Sink) -> None:
    try:
        job.run(ledger, sink)
    except Exception as exc:  # noqa: BLE001 - reported, with every entry it did not finish
        job.problem = f"{type(exc).__name__}: {exc}"


def _report_unfinished(job: Job, ledger: Ledger, sink: Sink) -> None:
    """Every planned entry the job did not report gets a result (its state on the record: pending, as a rule)."""
    from ..durations import utcnow
    from .ledger import DeliveryResult

    missing = [
        (incident_id, index)
        for incident_id, indexes in job.plan
        for index in indexes
        if (job.channel, incident_id, index) not in sink.seen
    ]
    if not missing or job.problem is None:
        return  # a run that ended normally stopped early on purpose (a failure is already reported)
    error = (
        f"{job.channel}: the channel's run stopped ({job.problem}); nothing is lost: the entry stays pending "
        f"and the next publish asks {job.channel} whether it was sent"
    )
    sink.warn(error)
    for incident_id, index in missing:
        entry = ledger.get(incident_id).timeline[index]
        delivery = entry.deliveries.get(job.channel)
        if delivery is None or delivery.state == "pending":
            delivery = ledger.update(incident_id, index, job.channel, state="pending", error=error, at=utcnow())
        sink.result(
            DeliveryResult(
                incident_id, entry.at, job.channel, delivery.state, delivery.ref, delivery.attempts, delivery.error
            ),
            index,
        )


# -- processes ------------------------------------------------------------------------------------------


@dataclass
class _Child:
    job: Job
    pid: int
    conn: Connection
    done: bool = False


def _run_forked(jobs: Sequence[Job], ledger: Ledger, sink: Sink) -> None:
    from multiprocessing.connection import Pipe

    children: list[_Child] = []
    served = False
    try:
        # Every child is forked before any serving thread starts: a fork never copies a lock another thread holds.
        for job in jobs:
            mine, theirs = Pipe(duplex=True)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:  # the child: never returns
                mine.close()
                for other in children:  # so each child sees EOF when this process dies
                    other.conn.close()
                _child_main(job, theirs, ledger.reconcile)
            theirs.close()
            children.append(_Child(job, pid, mine))
        threads = [
            threading.Thread(
                daemon=True, target=_serve, args=(child, ledger, sink), name=f"publish-{child.job.channel}"
            )
            for child in children
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        served = True
    finally:
        for child in children:
            if not served:  # this run is stopping (^C): so are its channels; the next run reconciles
                os.kill(child.pid, signal.SIGTERM)
            _, status = os.waitpid(child.pid, 0)
            child.conn.close()
            if not child.done and child.job.problem is None:
                child.job.problem = _ended(status)


def _ended(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"its process was stopped by signal {os.WTERMSIG(status)}"
    return f"its process ended with status {os.waitstatus_to_exitcode(status)}"


def _serve(child: _Child, ledger: Ledger, sink: Sink) -> None:
    """This side of one child: its ledger calls and reports, in order, until it is done or gone."""
    conn = child.conn
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        kind = message[0]
        if kind == "done":
            child.done = True
            return
        if kind == "crash":
            child.job.problem = message[1]
            return
        try:
            reply: tuple[bool, Any] = (True, _answer(kind, message[1:], ledger, sink))
        except Exception as exc:  # noqa: BLE001 - raised again in the child, as it would be in a thread
            reply = (False, exc)
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return
        except Exception:  # noqa: BLE001 - an exception that cannot be pickled still gets its message across
            conn.send((False, IncidentctlError(f"{type(reply[1]).__name__}: {reply[1]}")))


def _answer(kind: str, args: tuple[Any, ...], ledger: Ledger, sink: Sink) -> Any:
    if kind == "get":
        return ledger.get(*args)
    if kind == "update":
        incident_id, index, channel, changes = args
        return ledger.update(incident_id, index, channel, **changes)
    if kind == "count":
        return ledger.count(*args)
    if kind == "record":
        return ledger.progress.record(*args)
    if kind == "reached":
        return ledger.progress.reached()
    if kind == "result":
        return sink.result(*args)
    if kind == "warn":
        return sink.warn(*args)
    raise IncidentctlError(f"unknown request from a channel process: {kind!r}")


def _child_main(job: Job, conn: Connection, reconcile: set[tuple[str, int, str]]) -> None:
    code = 0
    try:
        link = _ParentLink(conn)
        job.run(_LedgerLink(link, reconcile), _SinkLink(link))
        conn.send(("done",))
    except BaseException as exc:  # noqa: BLE001 - told to the parent, which reports the unfinished entries
        code = 1
        try:
            conn.send(("crash", f"{type(exc).__name__}: {exc}"))
        except BaseException:  # noqa: BLE001, S110 - the parent is gone: it can no longer be told
            pass
    finally:
        os._exit(code)


class _ParentLink:
    """A child's synchronous calls to its parent (one at a time: the channel's run is one thread)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.lock = threading.Lock()  # a channel's own threads (if any) take turns

    def call(self, kind: str, *args: Any) -> Any:
        with self.lock:
            self.conn.send((kind, *args))
            ok, value = self.conn.recv()
        if not ok:
            raise value
        return value


class _ProgressLink:
    def __init__(self, link: _ParentLink) -> None:
        self.link = link

    def record(self, incident_id: str, stamp: str, channel: str, refs: list[str]) -> None:
        self.link.call("record", incident_id, stamp, channel, refs)

    def reached(self) -> dict[tuple[str, str, str], list[str]]:
        reached: dict[tuple[str, str, str], list[str]] = self.link.call("reached")
        return reached


class _LedgerLink:
    """The ledger as a child sees it: every call answered by the parent's one ledger."""

    def __init__(self, link: _ParentLink, reconcile: set[tuple[str, int, str]]) -> None:
        self.link = link
        self.reconcile = reconcile
        self._progress = _ProgressLink(link)

    @property
    def progress(self) -> Progress:
        return self._progress

    def get(self, incident_id: str) -> Incident:
        incident: Incident = self.link.call("get", incident_id)
        return incident

    def update(self, incident_id: str, timeline_index: int, channel: str, **changes: Any) -> Delivery:
        delivery: Delivery = self.link.call("update", incident_id, timeline_index, channel, changes)
        return delivery

    def count(self, incident_id: str, channel: str, state: str) -> None:
        self.link.call("count", incident_id, channel, state)


class _SinkLink(Sink):
    def __init__(self, link: _ParentLink) -> None:
        self.link = link

    def result(self, outcome: DeliveryResult, timeline_index: int) -> None:
        self.link.call("result", outcome, timeline_index)

    def warn(self, text: str) -> None:
        self.link.call("warn", text)

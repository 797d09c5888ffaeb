"""The ``Channel`` protocol, what a channel receives (contexts), and the retry policy every sender shares.

A channel turns one public entry into a :class:`Message` (no network, used by ``--dry-run``) and,
once connected, sends it. Built-in channels and third-party ones register the same way (entry-point
group ``incidentctl.channels``, see :mod:`.registry`). A channel declares what it needs instead of
the engine knowing it by name: its settings model (``channels.<name>`` in ``incidentctl.yaml``),
its secrets (environment variables, with how to get them), and capabilities such as ``edits_root``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict

from ..errors import IncidentctlError

if TYPE_CHECKING:
    from ..config import Config
    from ..model import Entry, Incident
    from ..store import Repo
    from ..templating import Templates

METADATA_EVENT = "incidentctl_entry"

T = TypeVar("T")


class ChannelSettings(BaseModel):
    """Base for a channel's ``settings_model``: unknown fields are errors (``channels.<name>.<field>``)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class NoSettings(ChannelSettings):
    """For channels with nothing to configure (``x:`` alone enables X)."""


@dataclass(frozen=True)
class Secret:
    """An environment variable a channel needs to send."""

    env: str
    how_to_get: str
    """The one-line fix shown when it is missing, e.g. ``export the bot token (xoxb-...)``."""
    required: bool = True


class SendError(IncidentctlError):
    """One send failed. ``retry_after`` is set when retrying may help (seconds to wait, 0 = backoff).

    ``maybe_sent`` marks failures after the request may have reached the remote (a timeout or a
    dropped connection): before trying again the engine asks the sender whether it landed.
    """

    def __init__(
        self, message: str, *, retry_after: float | None = None, maybe_sent: bool = False, fatal: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent
        self.fatal = fatal
        """The channel itself is unusable (bad token, unknown channel): stop it for this run."""
        self.attempts = 0
        self.duplicate = False
        """X: the remote rejected the message as identical to a recent one."""
        self.partial_refs: list[str] = []
        """Posts of a thread that did go out before the failure (resumed next time, never resent)."""
        self.interrupted = False
        """Set by the engine: ``maybe_sent`` on a channel that cannot confirm, so not retried on its own."""


@dataclass(frozen=True)
class Message:
    """Exactly what one channel receives for one entry."""

    channel: str
    text: str
    """Plain text: X's post (before splitting), Slack's ``text`` fallback."""
    payload: dict[str, Any] = field(default_factory=dict)
    """The request body as sent (Slack: ``text`` + ``blocks``; X: ``parts``, the thread's posts)."""
    parts: tuple[str, ...] = ()
    """X: the posts this message becomes (one unless it was longer than 280 weighted characters)."""


@dataclass(frozen=True)
class Preview:
    """What one channel would receive for one entry (``--dry-run``, the demo)."""

    channel: str
    incident_id: str
    at: datetime
    kind: str
    """``post`` (a new message/thread), ``reply`` (in the incident's thread) or ``edit`` (the root, ``edits_root``)."""
    text: str
    payload: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        from ..durations import isoformat_z

        return {
            "id": self.incident_id,
            "at": isoformat_z(self.at),
            "channel": self.channel,
            "kind": self.kind,
            "text": self.text,
            "payload": self.payload,
        }


@dataclass(frozen=True)
class Sent:
    """The remote's answer to a send: the id of the message that represents the entry."""

    ref: str | None
    refs: tuple[str, ...] = ()
    state: Literal["delivered", "built"] = "delivered"
    """``built``: made but not yet where the audience sees it (a status page built, not deployed)."""
    note: str | None = None
    """Told to the user once per run (e.g. where the site was built and how it gets deployed)."""


# -- retries --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a channel tries: bounded exponential backoff within one wall-time budget per run.

    Injected into every sender through :class:`ConnectContext` (tests pass a fast one to
    ``publish(retry=...)`` or wrap a CLI call in :func:`use_retry_policy`).
    """

    budget_seconds: float = 15.0
    """Per channel per run: retries stop once this much wall time has gone by."""
    max_attempts: int = 4
    base_delay: float = 0.5
    """First backoff step; doubles per attempt up to ``max_delay``, with jitter."""
    max_delay: float = 4.0
    request_timeout: float = 5.0
    """Every request has a timeout; a hung remote costs at most this per attempt."""
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def start(self) -> RetryBudget:
        """A fresh budget (one per channel per run)."""
        return RetryBudget(self)


_POLICY: ContextVar[RetryPolicy | None] = ContextVar("incidentctl_retry_policy", default=None)


#: Seconds each request may take before it counts as timed out (default 5): raise it for a slow network or API.
REQUEST_TIMEOUT_ENV = "INCIDENTCTL_REQUEST_TIMEOUT"


def current_retry_policy() -> RetryPolicy:
    """The policy ``publish`` uses when none is passed: the one set by :func:`use_retry_policy`, else the
    default with ``$INCIDENTCTL_REQUEST_TIMEOUT`` (seconds) as the request timeout when set."""
    import os

    chosen = _POLICY.get()
    if chosen is not None:
        return chosen
    raw = os.environ.get(REQUEST_TIMEOUT_ENV, "").strip()
    if not raw:
        return RetryPolicy()
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 600:
        from ..errors import ConfigError

        raise ConfigError(f"{REQUEST_TIMEOUT_ENV}={raw!r}: give the seconds a request may take, e.g. 15 (at most 600)")
    return RetryPolicy(request_timeout=seconds)


@contextmanager
def use_retry_policy(policy: RetryPolicy) -> Iterator[RetryPolicy]:
    """Use ``policy`` for publishing and notifying within the block (tests: a fast policy)."""
    token = _POLICY.set(policy)
    try:
        yield policy
    finally:
        _POLICY.reset(token)


class RetryBudget:
    """One channel's retries in one run, sharing the policy's wall-time budget."""

    def __init__(self, policy: RetryPolicy | None = None) -> None:
        self.policy = policy or RetryPolicy()
        self.started = self.policy.clock()

    @property
    def max_attempts(self) -> int:
        return self.policy.max_attempts

    @property
    def timeout(self) -> float:
        return self.policy.request_timeout

    @property
    def remaining(self) -> float:
        return self.policy.budget_seconds - (self.policy.clock() - self.started)

    def sleep(self, seconds: float) -> None:
        self.policy.sleep(seconds)

    def delay(self, attempt: int, hint: float) -> float:
        """Wait before attempt ``attempt + 1``: the server's hint when given, else backoff with jitter."""
        if hint > 0:
            return float(hint)
        backoff = min(self.policy.max_delay, self.policy.base_delay * 2 ** (attempt - 1))
        return float(backoff * (0.75 + random.random() / 2))

    def may_retry(self, attempt: int, wait: float) -> bool:
        return attempt < self.policy.max_attempts and wait <= self.remaining


def with_retries(
    call: Callable[[], T],
    budget: RetryBudget,
    *,
    on_attempt: Callable[[int], None] | None = None,
    before_retry: Callable[[SendError], T | None] | None = None,
) -> tuple[T, int]:
    """Run ``call`` until it succeeds or the budget is spent; return (result, attempts).

    ``before_retry`` runs after an ambiguous failure (``maybe_sent``) and may return the result
    of the attempt that did land, so a retry never doubles a message.
    """
    attempt = 0
    while True:
        attempt += 1
        if on_attempt is not None:
            on_attempt(attempt)
        try:
            return call(), attempt
        except SendError as exc:
            if exc.retry_after is None:
                exc.attempts = attempt
                raise
            wait = budget.delay(attempt, exc.retry_after)
            if not budget.may_retry(attempt, wait):
                exc.attempts = attempt
                raise
            budget.sleep(wait)
            if exc.maybe_sent and before_retry is not None:
                found = ask_landed(partial(before_retry, exc), budget)
                if found is not None:
                    return found, attempt


#: Said when a channel could not be asked whether an earlier attempt landed (the entry is left for later).
UNANSWERED = "could not ask whether the earlier attempt landed, so nothing was resent; the next publish asks again"


def ask_landed(check: Callable[[], T | None], budget: RetryBudget) -> T | None:
    """Ask the channel whether an earlier attempt landed (``check`` is a ``find_sent``), asking again within
    the budget after a retryable failure. Never answered "no" by default: when the question cannot be
    answered the :class:`SendError` is raised (not retryable, :data:`UNANSWERED` said), so the caller sends
    nothing blind — a request that landed while the check was refused would otherwise go out twice.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return check()
        except SendError as exc:
            wait = None if exc.retry_after is None or exc.fatal else budget.delay(attempt, exc.retry_after)
            if wait is None or not budget.may_retry(attempt, wait):
                failure = SendError(str(exc) if UNANSWERED in str(exc) else f"{exc}: {UNANSWERED}", fatal=exc.fatal)
                failure.attempts = attempt
                raise failure from None
            budget.sleep(wait)


def retry_after_seconds(headers: Any, now: float | None = None) -> float:
    """Seconds to wait from ``Retry-After`` (seconds) or ``x-rate-limit-reset`` (epoch seconds)."""
    if headers is None:
        return 0.0

    def header(name: str) -> str | None:
        for key in headers:
            if str(key).lower() == name:
                value = headers[key]
                return str(value[0] if isinstance(value, list) else value)
        return None

    retry_after = header("retry-after")
    if retry_after is not None:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            return 0.0
    reset = header("x-rate-limit-reset")
    if reset is not None:
        try:
            return max(0.0, float(reset) - (time.time() if now is None else now))
        except ValueError:
            return 0.0
    return 0.0


# -- contexts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderContext:
    """What a channel needs to render one entry: the public view, the entry, settings and templates."""

    incident: Incident
    """The public view (internal entries removed); ``entry`` is ``incident.timeline[public_index]``."""
    entry: Entry
    public_index: int
    """Position of ``entry`` among the public entries (0 = the first post)."""
    config: Config
    settings: Any
    """The channel's validated settings (an instance of its ``settings_model``)."""
    templates: Templates
    purpose: str = "entry"
    """``entry``: the message for this entry; ``summary``: the incident's current state (``edits_root``)."""

    @property
    def is_first(self) -> bool:
        return self.public_index == 0

    @property
    def is_resolution(self) -> bool:
        """The entry ends the record: an incident resolved, a maintenance completed or cancelled."""
        from ..vocabulary import FINISHED_STATUSES

        return self.entry.status in FINISHED_STATUSES

    @property
    def is_maintenance(self) -> bool:
        return self.incident.is_maintenance

    def template_name(self, name: str) -> str:
        """``name``, or its ``maintenance_`` variant when the record is a maintenance."""
        from ..render import template_for_record

        return template_for_record(self.templates.env, name, self.incident.kind)

    def message_context(self, entry: Entry | None = None) -> dict[str, Any]:
        """The variables every message template sees, for ``entry`` (default: this one)."""
        from ..render import message_context

        return message_context(self.incident, entry or self.entry, self.config)

    def render_template(self, name: str, entry: Entry | None = None, **extra: Any) -> str:
        """Render template ``name`` (repo override first, then packaged) with the message variables; a
        maintenance is rendered with ``maintenance_<name>`` when there is one."""
        return self.templates.render(self.template_name(name), **self.message_context(entry), **extra)


@dataclass(frozen=True)
class ConnectContext:
    """What a channel gets to connect for one run."""

    repo: Repo
    settings: Any
    """The channel's validated settings."""
    retry: RetryBudget
    """This channel's retry budget for the run (its policy carries the request timeout, clock and sleep)."""
    clock: Callable[[], datetime]
    """Wall-clock time (UTC), for anything a sender timestamps."""

    @property
    def config(self) -> Config:
        return self.repo.config


ProgressHook = Callable[[str, int, list[str]], None]
"""``(incident id, timeline index, refs)``: record, before going on, the recipients an entry already reached.

A sender that sends one entry to many recipients (webhook subscribers, email recipients) may have an
attribute ``record_progress``; the engine sets it to a hook that journals the refs at once (and puts them
on the entry's delivery before the next run sends it), so a run killed half-way through the recipients
never sends again to those it reached."""


class Sender(Protocol):
    """A connected channel, used for one run."""

    def send(self, incident: Incident, timeline_index: int, message: Message) -> Sent:
        """Send ``message`` for ``incident.timeline[timeline_index]`` (the full record, deliveries included).

        Raise :class:`SendError` on failure; one attempt only (the engine retries).
        """
        ...

    def find_sent(self, incident: Incident, timeline_index: int, message: Message) -> Sent | None:
        """After a crash or an ambiguous failure: did an earlier attempt land? ``None`` when unknown/no."""
        ...

    def finish(self, incident: Incident, latest: Message | None) -> None:
        """After the run's sends for ``incident`` (``edits_root``: edit the root message). May raise SendError."""
        ...


@runtime_checkable
class Channel(Protocol):
    """One channel: declares settings, secrets and capabilities; renders (no network); connects to send."""

    name: str
    settings_model: type[BaseModel]
    secrets: tuple[Secret, ...]
    edits_root: bool
    """After new entries went out, ``finish`` gets a ``purpose="summary"`` render of the latest (Slack)."""
    # Optional capability (read with getattr, default True): ``confirms_delivery = False`` says that
    # ``find_sent`` can never tell whether an interrupted send landed (Discord and Teams webhooks cannot be
    # asked). The engine then never resends such an entry on its own: it is reported, and the user decides
    # (``publish --resend-interrupted`` or ``--mark-interrupted-sent``).

    def render(self, context: RenderContext) -> Message:
        """The message for one entry; raises TemplateError for a broken template."""
        ...

    def connect(self, context: ConnectContext) -> Sender:
        """A sender for one run; raises ConfigError when it cannot be used."""
        ...

    def show(self, preview: Preview, *, demo: bool) -> list[str]:
        """The lines a reader sees for one preview: ``publish --dry-run`` (``demo=False``: the exact
        payload) or ``incidentctl demo`` (``demo=True``: as a person would read it)."""
        ...


class BaseChannel:
    """Defaults for a channel class: nothing to configure, no secrets, no root edit, previews as text.

    Subclass it and set ``name``, then implement ``render`` and ``connect``.
    """

    name: str = ""
    settings_model: type[BaseModel] = NoSettings
    secrets: tuple[Secret, ...] = ()
    edits_root: bool = False

    def render(self, context: RenderContext) -> Message:
        raise NotImplementedError

    def connect(self, context: ConnectContext) -> Sender:
        raise NotImplementedError

    def show(self, preview: Preview, *, demo: bool) -> list[str]:
        return [f"[{preview.channel}] {preview.text}"] if demo else [preview.text]

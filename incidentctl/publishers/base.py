"""The ``Publisher`` protocol, the channel registry, and the retry budget every sender shares.

A publisher turns one public entry into a :class:`Message` (no network, used by ``--dry-run``) and,
once connected, sends it. Built-in publishers and third-party ones (entry-point group
``incidentctl.publishers``) are found the same way: :func:`get_publisher` by channel name.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from ..errors import ConfigError, IncidentctlError

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

    from ..config import Config
    from ..model import Entry, Incident

ENTRY_POINT_GROUP = "incidentctl.publishers"
#: Per channel per run: retries stop once this much wall time has gone by.
RETRY_BUDGET_SECONDS = 15.0
#: Every request has a timeout; a hung remote costs at most this per attempt.
REQUEST_TIMEOUT_SECONDS = 5.0
MAX_ATTEMPTS = 4
#: First backoff step; doubles per attempt up to MAX_DELAY_SECONDS, with jitter.
BASE_DELAY_SECONDS = 0.5
MAX_DELAY_SECONDS = 4.0
METADATA_EVENT = "incidentctl_entry"

T = TypeVar("T")


class SendError(IncidentctlError):
    """One send failed. ``retry_after`` is set when retrying may help (seconds to wait, 0 = backoff).

    ``maybe_sent`` marks failures after the request may have reached the remote (a timeout or a
    dropped connection): before trying again the sender checks whether it landed.
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
class Sent:
    """The remote's answer to a send: the id of the message that represents the entry."""

    ref: str | None
    refs: tuple[str, ...] = ()


@dataclass(frozen=True)
class RenderContext:
    """What a publisher needs to render: the public view, the entry, config and templates."""

    incident: Incident
    """The public view (internal entries removed); ``entry`` is one of its timeline entries."""
    entry: Entry
    index: int
    """Position of ``entry`` among the public entries (0 = the first post)."""
    config: Config
    env: SandboxedEnvironment
    purpose: str = "entry"
    """``entry``: the message for this entry; ``summary``: the incident's current state (Slack's root edit)."""

    @property
    def is_first(self) -> bool:
        return self.index == 0

    @property
    def is_resolution(self) -> bool:
        return self.entry.status == "resolved"


class Sender(Protocol):
    """A connected channel, used for one run."""

    def send(self, incident: Incident, index: int, message: Message) -> Sent:
        """Send ``message`` for ``incident.timeline[index]`` (the full record, earlier deliveries included).

        Raise :class:`SendError` on failure; one attempt only (the caller retries).
        """
        ...

    def find_sent(self, incident: Incident, index: int, message: Message) -> Sent | None:
        """After a crash or an ambiguous failure: did an earlier attempt land? ``None`` when unknown/no."""
        ...

    def finish(self, incident: Incident, latest: Message | None) -> None:
        """After the run's sends for ``incident`` (e.g. edit Slack's root message). May raise SendError."""
        ...


@runtime_checkable
class Publisher(Protocol):
    """One channel: render an entry (no network), and connect to send."""

    name: str

    def render(self, context: RenderContext) -> Message:
        """The message for one entry; raises TemplateError for a broken template."""
        ...

    def connect(self, config: Config, budget: RetryBudget) -> Sender:
        """A sender for one run; raises ConfigError when secrets are missing."""
        ...


# -- registry -------------------------------------------------------------------------------------

_BUILTIN = {
    "slack": "incidentctl.publishers.slack:SlackPublisher",
    "x": "incidentctl.publishers.x:XPublisher",
    "statuspage": "incidentctl.publishers.statuspage:StatuspagePublisher",
    "discord": "incidentctl.channels.discord:DiscordPublisher",
    "teams": "incidentctl.channels.teams:TeamsPublisher",
    "mastodon": "incidentctl.channels.mastodon:MastodonPublisher",
    "bluesky": "incidentctl.channels.bluesky:BlueskyPublisher",
}
_registry: dict[str, Publisher] = {}


def register(publisher: Publisher) -> None:
    """Add (or replace) a publisher under ``publisher.name``; plugins and tests use this."""
    _registry[publisher.name] = publisher


def unregister(name: str) -> None:
    _registry.pop(name, None)


def _load(spec: str) -> Publisher:
    from importlib import import_module

    module_name, _, attr = spec.partition(":")
    factory = getattr(import_module(module_name), attr)
    publisher = factory() if isinstance(factory, type) or callable(factory) else factory
    if not isinstance(publisher, Publisher):
        raise ConfigError(f"{spec} is not an incidentctl publisher (needs `name`, `render` and `connect`)")
    return publisher


def _entry_points() -> dict[str, str]:
    from importlib.metadata import entry_points

    return {point.name: point.value for point in entry_points(group=ENTRY_POINT_GROUP)}


def get_publisher(name: str) -> Publisher:
    """The publisher for channel ``name``: registered, built-in, or from an installed plugin."""
    if name in _registry:
        return _registry[name]
    spec = _BUILTIN.get(name) or _entry_points().get(name)
    if spec is None:
        known = ", ".join(sorted({*_BUILTIN, *_registry, *_entry_points()}))
        raise ConfigError(f"channels.{name}: no publisher for this channel (known: {known}); install its plugin")
    publisher = _load(spec)
    _registry[name] = publisher
    return publisher


def publisher_names() -> list[str]:
    return sorted({*_BUILTIN, *_registry, *_entry_points()})


# -- retries --------------------------------------------------------------------------------------


@dataclass
class RetryBudget:
    """Bounded exponential backoff sharing one wall-time budget per channel per run."""

    seconds: float = RETRY_BUDGET_SECONDS
    max_attempts: int = MAX_ATTEMPTS
    base_delay: float = BASE_DELAY_SECONDS
    max_delay: float = MAX_DELAY_SECONDS
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    started: float = field(default=-1.0)

    def __post_init__(self) -> None:
        if self.started < 0:
            self.started = self.clock()

    @property
    def remaining(self) -> float:
        return self.seconds - (self.clock() - self.started)

    def delay(self, attempt: int, hint: float) -> float:
        """Wait before attempt ``attempt + 1``: the server's hint when given, else backoff with jitter."""
        if hint > 0:
            return float(hint)
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return float(backoff * (0.75 + random.random() / 2))

    def may_retry(self, attempt: int, wait: float) -> bool:
        return attempt < self.max_attempts and wait <= self.remaining


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
                try:
                    found = before_retry(exc)
                except SendError:
                    found = None
                if found is not None:
                    return found, attempt


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

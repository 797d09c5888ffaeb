"""X (Twitter): the first entry is a post, later entries reply to the incident's previous post.

Text is measured with X's own weighted counting (``twitter-text-parser``: CJK and emoji count 2,
any URL counts 23); longer than 280 becomes a numbered thread split at word boundaries.
X rejects a post identical to a recent one (403): after an attempt that may have landed, that
rejection is our proof it did, so a resend never doubles a post.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .base import (
    ConnectContext,
    Message,
    NoSettings,
    Preview,
    RenderContext,
    RetryBudget,
    Secret,
    SendError,
    Sent,
    retry_after_seconds,
)

if TYPE_CHECKING:
    import requests
    import tweepy

    from ..model import Incident

X_API_URL_ENV = "INCIDENTCTL_X_API_URL"
PUBLIC_API_URL = "https://api.twitter.com"
TEMPLATE = "x.txt.j2"
CHANNEL = "x"
MAX_WEIGHT = 280
X_SECRETS = ("X_API_KEY", "X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET")
_HOW = (
    "set X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN and X_ACCESS_TOKEN_SECRET (the app's keys and tokens) to publish to X"
)
SECRETS = tuple(Secret(name, _HOW) for name in X_SECRETS)


class XSettings(NoSettings):
    """Nothing to configure: ``x:`` enables X (its secrets come from the environment)."""


# -- length and splitting ---------------------------------------------------------------------------


def weighted_length(text: str) -> int:
    """X's weighted length of ``text`` (URLs 23, CJK and emoji 2, most Latin 1)."""
    from twitter_text import parse_tweet

    return int(parse_tweet(text).weightedLength)


def _fits(text: str, limit: int) -> bool:
    return weighted_length(text) <= limit


def _longest_prefix(count: int, fits: Callable[[int], bool]) -> int:
    """The largest ``k`` in 1..count with ``fits(k)`` (``fits(1)`` assumed), by binary search.

    Weighted length only grows as text is appended, so this needs O(log n) measurements.
    """
    if fits(count):
        return count
    low, high = 1, count
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low


def _chunks(token: str, limit: int) -> list[str]:
    """Break one over-long token (CJK prose has no spaces) into pieces that fit, by character."""
    pieces: list[str] = []
    while token:
        size = _longest_prefix(len(token), lambda k, rest=token: _fits(rest[:k], limit))  # type: ignore[misc]
        pieces.append(token[:size])
        token = token[size:]
    return pieces


def split_post(text: str, limit: int = MAX_WEIGHT) -> list[str]:
    """Split ``text`` into posts of at most ``limit`` weighted characters, numbered ``(1/3)``.

    Splits at whitespace, keeps line breaks inside a part, never cuts a URL; one word longer than
    a whole post is cut by character.
    """
    text = text.strip()
    if _fits(text, limit):
        return [text]
    total = 2
    while True:
        parts = _split_with_suffix(text, limit, total)
        if len(parts) <= total:
            return [f"{part} ({number}/{len(parts)})" for number, part in enumerate(parts, 1)]
        total = len(parts)


def _split_with_suffix(text: str, limit: int, total: int) -> list[str]:
    room = limit - len(f" ({total}/{total})")
    # (separator before, word): separators keep at most two line breaks, else one space.
    items: list[tuple[str, str]] = []
    separator = ""
    for token in re.split(r"(\s+)", text):
        if not token:
            continue
        if token.isspace():
            separator = "\n" * min(token.count("\n"), 2) if "\n" in token else " "
            continue
        items.append((separator, token))
        separator = ""

    def joined(start: int, stop: int) -> str:
        return items[start][1] + "".join(sep + word for sep, word in items[start + 1 : stop])

    parts: list[str] = []
    index = 0
    while index < len(items):
        word = items[index][1]
        if not _fits(word, room):
            pieces = _chunks(word, room)
            parts.extend(pieces[:-1])
            items[index] = ("", pieces[-1])
        # Measuring is linear in the text, so bound the search first: every ASCII character
        # weighs at least 1, except inside a URL, which weighs 23 in all.
        cap, floor = 0, 0
        for sep, word in items[index:]:
            floor += len(sep) * (cap > 0) + min(sum(1 for char in word if char.isascii()), 23)
            if floor > room and cap > 0:
                break
            cap += 1
        count = _longest_prefix(cap, lambda k, at=index: _fits(joined(at, at + k), room))  # type: ignore[misc]
        if index + count < len(items):
            count = _nicer_break(items, index, count, room, joined)
        parts.append(joined(index, index + count))
        index += count
    return parts


def _nicer_break(
    items: list[tuple[str, str]], index: int, count: int, room: int, joined: Callable[[int, int], str]
) -> int:
    """Within the words that fit, end the post at a line break, else after a sentence, as long as
    the post stays at least half full: "Next update by 19:30 EST." is never cut before "EST."."""
    for ends_well in (
        lambda k: "\n" in items[index + k][0],
        lambda k: items[index + k - 1][1].endswith((".", "!", "?", ":", ";")),
    ):
        for k in range(count, 0, -1):
            if ends_well(k):
                if weighted_length(joined(index, index + k)) >= room // 2:
                    return k
                break
    return count


# -- client -----------------------------------------------------------------------------------------


def _transport_adapter(base_url: str | None, timeout: float) -> requests.adapters.HTTPAdapter:
    """A requests adapter that gives every request a timeout and, in tests, another host.

    Requests are signed (OAuth 1.0a) for the public URL before they reach the adapter; only
    where they are sent changes.
    """
    from urllib.parse import urlsplit, urlunsplit

    from requests.adapters import HTTPAdapter

    class TimeoutHostAdapter(HTTPAdapter):
        def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = timeout
            if base_url:
                target = urlsplit(base_url)
                url = urlsplit(request.url)
                path = target.path.rstrip("/") + url.path
                request.url = urlunsplit((target.scheme, target.netloc, path, url.query, url.fragment))
            return super().send(request, **kwargs)

    return TimeoutHostAdapter(max_retries=0)


def x_client(budget: RetryBudget | None = None) -> tweepy.Client:
    """A ``tweepy.Client`` (OAuth 1.0a user context) with a timeout on every request.

    Never ``wait_on_rate_limit`` (tweepy would sleep and recurse without bound): rate limits come
    back as errors and the publisher decides within its budget.
    """
    import tweepy

    values = {name: os.environ.get(name) for name in X_SECRETS}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ConfigError(f"x: {', '.join(missing)} not set: export the four X_* secrets to publish to X")
    client = tweepy.Client(
        consumer_key=values["X_API_KEY"],
        consumer_secret=values["X_API_SECRET"],
        access_token=values["X_ACCESS_TOKEN"],
        access_token_secret=values["X_ACCESS_TOKEN_SECRET"],
        wait_on_rate_limit=False,
    )
    base_url = os.environ.get(X_API_URL_ENV) or None
    if base_url and base_url.rstrip("/") == PUBLIC_API_URL:
        base_url = None
    client.session.mount(PUBLIC_API_URL, _transport_adapter(base_url, (budget or RetryBudget()).timeout))
    return client


# -- publisher --------------------------------------------------------------------------------------


class XChannel:
    """Plain-text posts, threaded per incident."""

    name = CHANNEL
    settings_model = XSettings
    secrets = SECRETS
    edits_root = False

    def render(self, context: RenderContext) -> Message:
        def text_for(entry: Any) -> str:
            return context.render_template(TEMPLATE, entry).strip()

        text = text_for(context.entry)
        # The template puts the time in each post; two identical updates in the same minute still
        # collide with X's duplicate rule, so number the later one.
        minute = context.entry.at.replace(second=0)
        for earlier in context.incident.timeline[: context.public_index]:
            if earlier.at.replace(second=0) == minute and text_for(earlier) == text:
                text = f"{text} [{context.public_index + 1}]"
                break
        parts = tuple(split_post(text))
        if len(parts) > 1 and set(parts[1:]) & _earlier_parts(context, text_for):
            # A continuation (often just the status page link) is the same as one an earlier update
            # of this incident sent: X would refuse it as a duplicate, so number this update.
            text = f"{text} [{context.public_index + 1}]"
            parts = tuple(split_post(text))
        return Message(channel=CHANNEL, text=text, payload={"parts": list(parts)}, parts=parts)

    def show(self, preview: Preview, *, demo: bool) -> list[str]:
        parts = list(preview.payload.get("parts") or [preview.text])
        if demo:
            lines = []
            for number, part in enumerate(parts, 1):
                lines.append(f"[{CHANNEL}, {'post' if preview.kind == 'post' and number == 1 else 'reply'}]")
                lines.append("  " + part.replace("\n", "\n  "))
            return lines
        if len(parts) > 1:
            return [f"[post {number}] {part}" for number, part in enumerate(parts, 1)]
        return [preview.text]

    def connect(self, context: ConnectContext) -> XSender:
        return XSender(x_client(context.retry))


def _earlier_parts(context: RenderContext, text_for: Callable[[Any], str]) -> set[str]:
    """Every post the incident's earlier long updates became (short ones are a single post)."""
    seen: set[str] = set()
    for earlier in context.incident.timeline[: context.public_index]:
        text = text_for(earlier)
        if not _fits(text, MAX_WEIGHT):
            seen.update(split_post(text))
    return seen


class XSender:
    """One run's connection to X."""

    def __init__(self, client: tweepy.Client) -> None:
        self.client = client
        #: Posts of a thread already sent in this run, by (incident, entry index): resume, never resend.
        self.progress: dict[tuple[str, int], list[str]] = {}

    def send(self, incident: Incident, timeline_index: int, message: Message) -> Sent:
        index = timeline_index
        entry = incident.timeline[index]
        delivery = entry.deliveries.get(CHANNEL)
        maybe_sent_before = delivery is not None and delivery.attempts > 1
        key = (incident.id, index)
        posted = self.progress.setdefault(key, list(delivery.refs) if delivery is not None else [])
        reply_to = posted[-1] if posted else _previous_post(incident, index)
        parts = message.parts or (message.text,)
        for part in parts[len(posted) :]:
            try:
                post_id = self._create(part, reply_to)
            except SendError as exc:
                if exc.duplicate and maybe_sent_before:
                    post_id = ""  # it landed earlier; X does not tell us its id
                else:
                    exc.partial_refs = list(posted)
                    raise
            posted.append(post_id)
            reply_to = post_id or reply_to
        known = [ref for ref in posted if ref]
        self.progress.pop(key, None)
        return Sent(ref=known[-1] if known else None, refs=tuple(known))

    def _create(self, text: str, reply_to: str | None) -> str:
        import requests
        import tweepy

        try:
            response = self.client.create_tweet(text=text, in_reply_to_tweet_id=reply_to, user_auth=True)
        except tweepy.TooManyRequests as exc:
            headers = getattr(exc.response, "headers", {}) or {}
            raise SendError("x: rate limited (429)", retry_after=retry_after_seconds(headers)) from None
        except tweepy.TwitterServerError as exc:
            raise SendError(f"x: server error {exc.response.status_code}", retry_after=0.0) from None
        except tweepy.Unauthorized:
            raise SendError(
                "x: 401 Unauthorized: check X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN and X_ACCESS_TOKEN_SECRET "
                "(the access token needs Read and Write permission)",
                fatal=True,
            ) from None
        except tweepy.Forbidden as exc:
            detail = " ".join(str(m) for m in exc.api_messages) or str(exc)
            if "duplicate" in detail.lower():
                error = SendError(
                    "x: 403 duplicate: X rejected the post as identical to a recent one; reword the update "
                    "or templates/x.txt.j2"
                )
                error.duplicate = True
                raise error from None
            raise SendError(
                f"x: 403 Forbidden: {_one_line(detail)} (does the app have write access?)", fatal=True
            ) from None
        except tweepy.HTTPException as exc:
            detail = " ".join(str(m) for m in exc.api_messages) or str(exc)
            raise SendError(f"x: {exc.response.status_code}: {_one_line(detail)}") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise SendError(
                f"x: cannot reach the X API ({type(exc).__name__}): check the network or {X_API_URL_ENV}",
                retry_after=0.0,
                maybe_sent=True,
            ) from None
        except requests.RequestException as exc:
            raise SendError(f"x: request failed: {type(exc).__name__}", retry_after=0.0, maybe_sent=True) from None
        data = response.data if hasattr(response, "data") else None
        if not isinstance(data, dict) or not data.get("id"):
            raise SendError("x: unexpected response (no post id)")
        return str(data["id"])

    def find_sent(self, incident: Incident, timeline_index: int, message: Message) -> Sent | None:
        # X offers no cheap way to look up our own recent posts; a resend that X rejects as a
        # duplicate proves the earlier attempt landed (see send()).
        return None

    def finish(self, incident: Incident, latest: Message | None) -> None:
        return None


def _previous_post(incident: Incident, index: int) -> str | None:
    """The id of the incident's latest post before ``timeline[index]``: the one to reply to."""
    for entry in reversed(incident.timeline[:index]):
        delivery = entry.deliveries.get(CHANNEL)
        if entry.public and delivery is not None and delivery.state == "delivered" and delivery.ref:
            return delivery.ref
    return None


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]

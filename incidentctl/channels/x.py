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
from .textsplit import longest_prefix

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

MAX_POSTS = 6
"""A long update becomes at most this many posts; the rest is on the status page (the last post says so)."""

# A byte-order mark and Unicode non-characters make X refuse a post (``parse_tweet(...).valid`` is
# False). Records are cleaned when written; this is the defence at render time.
_INVALID = re.compile(
    "[\ufeff\ufdd0-\ufdef\ufffe\uffff"
    + "".join(f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(1, 17))
    + "]"
)


def clean_text(text: str) -> str:
    """``text`` without a byte-order mark or non-characters (X refuses posts holding them)."""
    return _INVALID.sub("", text)


def weighted_length(text: str) -> int:
    """X's weighted length of ``text`` (URLs 23, CJK and emoji 2, most Latin 1)."""
    from twitter_text import parse_tweet

    return int(parse_tweet(text).weightedLength)


def _fits(text: str, limit: int) -> bool:
    return weighted_length(text) <= limit


def graphemes(text: str) -> list[str]:
    """``text`` as user-perceived characters (extended grapheme clusters: a family emoji is one)."""
    import regex

    return list(regex.findall(r"\X", text))


def _chunks(token: str, limit: int) -> list[str]:
    """Break one over-long token (CJK prose has no spaces) into pieces that fit, between graphemes."""
    clusters = graphemes(token)
    pieces: list[str] = []
    while clusters:
        size = longest_prefix(len(clusters), lambda k, rest=clusters: _fits("".join(rest[:k]), limit))  # type: ignore[misc]
        pieces.append("".join(clusters[:size]))
        clusters = clusters[size:]
    return pieces


def _suffix(number: int, total: int, tag: str) -> str:
    return f" ({number}/{total}{tag})"


def split_post(text: str, limit: int = MAX_WEIGHT, *, tag: str = "") -> list[str]:
    """Split ``text`` into posts of at most ``limit`` weighted characters, numbered ``(1/3)``.

    Only a split update is numbered, and only among its own parts. Splits at whitespace, keeps
    line breaks inside a part, never cuts a URL; one word longer than a whole post is cut between
    graphemes. ``tag`` goes inside every number (``(2/3 · update 4)``) to keep parts distinct.
    """
    text = clean_text(text).strip()
    if _fits(text, limit):
        return [text]
    total = 2
    while True:
        parts = _split_with_suffix(text, limit, len(_suffix(total, total, tag)))
        if len(parts) <= total:
            return [f"{part}{_suffix(number, len(parts), tag)}" for number, part in enumerate(parts, 1)]
        total = len(parts)


def _words(text: str) -> list[tuple[str, str]]:
    """(separator before, word): separators keep at most two line breaks, else one space."""
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
    return items


def _split_with_suffix(text: str, limit: int, suffix_weight: int) -> list[str]:
    room = limit - suffix_weight
    items = _words(text)

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
        count = longest_prefix(cap, lambda k, at=index: _fits(joined(at, at + k), room))  # type: ignore[misc]
        if index + count < len(items):
            count = _nicer_break(items, index, count, room, joined)
        parts.append(joined(index, index + count))
        index += count
    return parts


def split_capped(text: str, tail: str, *, max_posts: int = MAX_POSTS, tag: str = "") -> list[str]:
    """:func:`split_post`, but at most ``max_posts`` posts: when longer, the text is cut at a word
    and ``tail`` (e.g. ``… Full update: URL``) ends the last post."""
    parts = split_post(text, tag=tag)
    if len(parts) <= max_posts:
        return parts
    items = _words(clean_text(text).strip())

    def shortened(count: int) -> str:
        kept = items[0][1] + "".join(sep + word for sep, word in items[1:count])
        return kept.rstrip(" ,;:-") + tail

    count = longest_prefix(len(items), lambda k: len(split_post(shortened(k), tag=tag)) <= max_posts)
    return split_post(shortened(count), tag=tag)


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
        parts = _render_parts(context)
        text = "\n".join(parts) if len(parts) > 1 else parts[0]
        return Message(channel=CHANNEL, text=text, payload={"parts": list(parts)}, parts=tuple(parts))

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


def _render_parts(context: RenderContext) -> list[str]:
    """The posts of ``context.entry``: distinct from every post of the incident's earlier updates
    (X refuses a duplicate), at most :data:`MAX_POSTS`, each valid for X."""
    timeline = context.incident.timeline
    seen: set[str] = set()
    for index, earlier in enumerate(timeline[: context.public_index]):
        delivery = earlier.deliveries.get(CHANNEL)
        if delivery is not None and delivery.parts:
            seen.update(delivery.parts)  # what was sent is what X remembers, not today's render
        else:
            seen.update(_fresh_parts(context, earlier, index))
    parts = _fresh_parts(context, context.entry, context.public_index)
    if not seen & set(parts):
        return parts
    number = context.public_index + 1
    if len(parts) == 1:
        return _fresh_parts(context, context.entry, context.public_index, mark=f" [{number}]")
    return _fresh_parts(context, context.entry, context.public_index, tag=f" · update {number}")


def _fresh_parts(context: RenderContext, entry: Any, public_index: int, *, mark: str = "", tag: str = "") -> list[str]:
    text = clean_text(context.render_template(TEMPLATE, entry, split=False)).strip() + mark
    if _fits(text, MAX_WEIGHT):
        return [text]
    text = clean_text(context.render_template(TEMPLATE, entry, split=True)).strip() + mark
    url = context.message_context(entry).get("incident_url")
    tail = f"… Full update: {url}" if url else "… (shortened)"
    return split_capped(text, tail, tag=tag)


class XSender:
    """One run's connection to X.

    A thread goes out part by part; every part's post id is kept (``Sent.refs``, ``partial_refs``
    on failure) so a retry resumes after the last known part. When an earlier attempt may have
    landed unseen (a timeout, a dropped connection, a crash), the account's recent posts are read
    to find it before anything is sent again; a part is never counted as sent without its id.
    """

    def __init__(self, client: tweepy.Client) -> None:
        self.client = client
        #: Posts of a thread already sent in this run, by (incident, entry index): resume, never resend.
        self.progress: dict[tuple[str, int], list[str]] = {}
        #: Entries whose earlier attempts were checked against the account's posts in this run.
        self.checked: set[tuple[str, int]] = set()
        self._user_id: str | None = None

    def send(self, incident: Incident, timeline_index: int, message: Message) -> Sent:
        index = timeline_index
        delivery = incident.timeline[index].deliveries.get(CHANNEL)
        parts = tuple(delivery.parts) if delivery is not None and delivery.parts else (message.parts or (message.text,))
        key = (incident.id, index)
        posted = self.progress.setdefault(key, list(delivery.refs) if delivery is not None else [])
        # The engine counts this attempt before calling: more than one means an earlier one may have landed.
        unsure = delivery is not None and delivery.attempts > 1 and key not in self.checked
        if unsure and len(posted) < len(parts):
            self._adopt_landed(incident, index, parts, posted)
        self.checked.add(key)
        for number, part in enumerate(parts[len(posted) :], len(posted) + 1):
            reply_to = posted[-1] if posted else _previous_post(incident, index)
            try:
                post_id = self._create(part, reply_to)
            except SendError as exc:
                exc.partial_refs = list(posted)
                if exc.maybe_sent:
                    self.checked.discard(key)  # the retry first looks for this part
                if exc.duplicate:
                    found = self._find_post(part, reply_to, strict=False)
                    if found is None:
                        exc.args = (
                            f"x: post {number}/{len(parts)} was refused as a duplicate of a recent post and is not "
                            f"in this thread: not recorded as sent; reword the update or {TEMPLATE}",
                        )
                        raise
                    post_id = found
                else:
                    raise
            posted.append(post_id)
        self.progress.pop(key, None)
        return Sent(ref=posted[-1], refs=tuple(posted))

    def _adopt_landed(self, incident: Incident, index: int, parts: tuple[str, ...], posted: list[str]) -> None:
        """Adopt the parts an interrupted attempt did post (found on the account), in order."""
        while len(posted) < len(parts):
            reply_to = posted[-1] if posted else _previous_post(incident, index)
            found = self._find_post(parts[len(posted)], reply_to, strict=True)
            if found is None:
                return
            posted.append(found)

    def _recent_posts(self, strict: bool) -> list[Any]:
        """The account's recent posts, newest first (up to 500). ``strict``: when they cannot be read
        (X unreachable), raise a SendError that is not retried: sending again could double a post."""
        import requests
        import tweepy

        posts: list[Any] = []
        try:
            if self._user_id is None:
                me = self.client.get_me(user_auth=True)
                self._user_id = str(me.data.id)
            token = None
            for _ in range(5):
                response = self.client.get_users_tweets(
                    self._user_id, max_results=100, pagination_token=token, tweet_fields=["referenced_tweets"],
                    user_auth=True,
                )  # fmt: skip
                posts.extend(response.data or [])
                token = (response.meta or {}).get("next_token")
                if not token:
                    break
        except (tweepy.Unauthorized, tweepy.Forbidden):
            return []  # the app cannot read its posts: X's duplicate rule is the remaining guard
        except (tweepy.TweepyException, requests.RequestException) as exc:
            if not strict:
                return []
            raise SendError(
                f"x: an earlier attempt may have been posted and X could not be checked ({type(exc).__name__}): "
                "not sending again now; the next publish checks again"
            ) from None
        return posts

    def _find_post(self, text: str, reply_to: str | None, *, strict: bool) -> str | None:
        """The id of our recent post with exactly ``text`` replying to ``reply_to`` (a root when None)."""
        import html

        for post in self._recent_posts(strict):
            if html.unescape(str(post.text)) != text and str(post.text) != text:
                continue
            replied = [str(ref.id) for ref in (post.referenced_tweets or []) if ref.type == "replied_to"]
            if (replied[0] if replied else None) == reply_to:
                return str(post.id)
        return None

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

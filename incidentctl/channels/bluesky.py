"""Bluesky: the first entry is a post, later entries reply to the incident's previous post.

Needs the optional ``atproto`` SDK (``pip install 'incidentctl[bluesky]'``); rendering (``--dry-run``)
does not. Settings: ``channels.bluesky: {handle: NAME, service: URL}`` (service default
``https://bsky.social``, the PDS the SDK's ``Client`` talks to); secret: ``BLUESKY_APP_PASSWORD`` (an
app password, Settings > Privacy and security > App passwords). The SDK's session
(``com.atproto.server.createSession``) signs every call; posts are ``com.atproto.repo.createRecord``
with our own record key, looked up with ``com.atproto.repo.getRecord``.

Length: 300 graphemes per post (user-perceived characters, Unicode extended grapheme clusters, as
Bluesky's app counts them: an emoji with modifiers is one); longer text becomes a numbered thread split
like X's. Links get a link
facet (byte offsets in UTF-8, built by the SDK's ``TextBuilder``) so they are clickable.

Idempotency: each post's record key is a TID derived from the entry's time, the part and the
incident, not from the clock, so the same post always has the same key. Before resending after an
ambiguous failure or a killed run, the channel asks the server for that record (``getRecord``) and
adopts it when it exists; a resend that races one that landed is refused by the server as a
duplicate key. So a post is never doubled and never lost.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import field_validator

from ..errors import ConfigError
from .base import ChannelSettings, ConnectContext, Message, Preview, RenderContext, Secret, SendError, Sent
from .textsplit import URL_PATTERN, split_text

if TYPE_CHECKING:
    from atproto import Client, models

    from ..model import Entry, Incident

T = TypeVar("T")

CHANNEL = "bluesky"
TEMPLATE = "mastodon.txt.j2"  # the same plain-text post as Mastodon
SECRET = "BLUESKY_APP_PASSWORD"
EXTRA_HINT = "pip install 'incidentctl[bluesky]'"
SECRETS = (
    Secret(SECRET, "create an app password (Bluesky > Settings > Privacy and security > App passwords) and export it"),
)
MAX_GRAPHEMES = 300
COLLECTION = "app.bsky.feed.post"
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


def grapheme_length(text: str) -> int:
    """Bluesky's length: extended grapheme clusters (``regex``'s ``\\X``), not code points."""
    import regex

    return len(regex.findall(r"\X", text))


class BlueskySettings(ChannelSettings):
    """``channels.bluesky`` in ``incidentctl.yaml``."""

    handle: str
    service: str = "https://bsky.social"

    @field_validator("service")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not re.fullmatch(r"https?://[^\s/?#]+", value):
            raise ValueError("must be the PDS URL, e.g. https://bsky.social")
        return value


def settings_of(value: Any) -> BlueskySettings:
    """The validated ``channels.bluesky`` settings (``handle`` is required: validated at config load)."""
    if not isinstance(value, BlueskySettings):
        raise ConfigError("incidentctl.yaml: channels.bluesky.handle: Field required")
    return value


def record_key(incident_id: str, entry: Entry, part: int) -> str:
    """A TID (13 characters, base32-sortable) fixed by the entry's time, the part and the incident."""
    micros = int(entry.at.timestamp() * 1_000_000) + part
    clock = int.from_bytes(hashlib.sha256(f"{incident_id}|{entry.message}".encode()).digest()[:2], "big") & 0x3FF
    value = ((micros & ((1 << 53) - 1)) << 10) | clock
    return "".join(_TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


def links(text: str) -> list[tuple[int, int]]:
    """Where the URLs are in ``text`` (start, end in characters; trailing punctuation left out)."""
    spans = []
    for match in URL_PATTERN.finditer(text):
        url = match.group(0).rstrip(".,;:!?)")
        spans.append((match.start(), match.start() + len(url)))
    return spans


def rich_text(text: str) -> tuple[str, list[models.AppBskyRichtextFacet.Main]]:
    """The post's text and its link facets (UTF-8 byte offsets), built with the SDK's ``TextBuilder``."""
    from atproto import client_utils

    builder = client_utils.TextBuilder()
    done = 0
    for start, end in links(text):
        builder.text(text[done:start]).link(text[start:end], text[start:end])
        done = end
    builder.text(text[done:])
    return builder.build_text(), builder.build_facets()


class BlueskyChannel:
    """Plain-text posts, threaded per incident."""

    name = CHANNEL
    settings_model = BlueskySettings
    secrets = SECRETS
    edits_root = False

    def render(self, context: RenderContext) -> Message:
        text = context.render_template(TEMPLATE)
        text = re.sub(r"\n{3,}", "\n\n", text.strip())
        parts = tuple(split_text(text, MAX_GRAPHEMES, grapheme_length))
        return Message(channel=CHANNEL, text=text, payload={"parts": list(parts)}, parts=parts)

    def show(self, preview: Preview, *, demo: bool) -> list[str]:
        from .mastodon import thread_lines

        return thread_lines(CHANNEL, preview, demo=demo)

    def connect(self, context: ConnectContext) -> BlueskySender:
        settings = settings_of(context.settings)
        password = os.environ.get(SECRET)
        if not password:
            raise ConfigError(f"bluesky: {SECRET} is not set: create an app password in Bluesky and export it")
        try:
            import atproto
        except ImportError:
            raise ConfigError(f"bluesky: the atproto library is not installed: {EXTRA_HINT}") from None
        # No retries inside the SDK (httpx does none): the engine's budget decides. trust_env=False:
        # no ~/.netrc credentials are sent to the PDS.
        request = atproto.Request(timeout=context.retry.timeout, trust_env=False)
        return BlueskySender(atproto.Client(base_url=settings.service, request=request), settings, password)


class BlueskySender:
    """One run's session with the PDS, through the SDK's ``Client``."""

    def __init__(self, client: Client, settings: BlueskySettings, password: str) -> None:
        self.client = client
        self.settings = settings
        self.password = password
        self.did: str | None = None
        self.progress: dict[tuple[str, int], list[str]] = {}

    def _call(self, call: Callable[[], T], *, what: str) -> T:
        """One SDK call; every failure becomes one :class:`SendError` line (never the password)."""
        import httpx
        from atproto import exceptions

        try:
            return call()
        except exceptions.RateLimitExceededError as exc:
            raise SendError("bluesky: rate limited (429)", retry_after=_rate_limit_wait(exc)) from None
        except exceptions.RequestErrorBase as exc:
            if exc.response is None:  # a timeout or a dropped connection: the PDS may have acted
                raise SendError(
                    f"bluesky: cannot reach {self.settings.service} to {what} ({type(exc).__name__}): check the network",
                    retry_after=0.0,
                    maybe_sent=True,
                ) from None
            raise _refused(exc.response.status_code, exc.response.content) from None
        except httpx.HTTPError as exc:  # transport errors the SDK passes through (e.g. RemoteProtocolError)
            raise SendError(
                f"bluesky: cannot reach {self.settings.service} to {what} ({type(exc).__name__}): check the network",
                retry_after=0.0,
                maybe_sent=True,
            ) from None
        except exceptions.AtProtocolError as exc:  # an answer the SDK's models do not accept, a token it cannot read
            raise SendError(f"bluesky: unexpected answer to {what} ({type(exc).__name__})") from None

    def _login(self) -> str:
        """The account's DID, after one app-password session per run (the SDK keeps the tokens)."""
        if self.did is None:
            sessions: list[str] = []
            self.client.on_session_change(lambda _event, session: sessions.append(session.did))
            self._call(
                lambda: self.client.login(self.settings.handle, self.password, fetch_bsky_profile=False),
                what="sign in",
            )
            if not sessions:
                raise SendError("bluesky: unexpected createSession answer", fatal=True)
            self.did = sessions[-1]
        return self.did

    def _get(self, rkey: str) -> str | None:
        """``uri|cid`` of our record with key ``rkey``, when it exists."""
        from atproto import models

        params = models.ComAtprotoRepoGetRecord.Params(repo=self._login(), collection=COLLECTION, rkey=rkey)
        try:
            data = self._call(lambda: self.client.com.atproto.repo.get_record(params), what="look up a post")
        except SendError as exc:
            if exc.duplicate:
                return None
            raise
        return f"{data.uri}|{data.cid}" if data.uri and data.cid else None

    def send(self, incident: Incident, index: int, message: Message) -> Sent:
        entry = incident.timeline[index]
        delivery = entry.deliveries.get(CHANNEL)
        key = (incident.id, index)
        posted = self.progress.setdefault(key, list(delivery.refs) if delivery is not None else [])
        maybe_landed = delivery is not None and delivery.attempts > 1
        root = _root(incident, index) or (posted[0] if posted else None)
        parent = posted[-1] if posted else _previous_post(incident, index)
        parts = message.parts or (message.text,)
        for number, text in enumerate(parts[len(posted) :], len(posted)):
            rkey = record_key(incident.id, entry, number)
            try:
                found = self._get(rkey) if maybe_landed else None
                ref = found or self._create(text, rkey, root, parent)
            except SendError as exc:
                exc.partial_refs = list(posted)
                raise
            posted.append(ref)
            root = root or ref
            parent = ref
        self.progress.pop(key, None)
        return Sent(ref=posted[-1].split("|")[0] if posted else None, refs=tuple(posted))

    def _create(self, text: str, rkey: str, root: str | None, parent: str | None) -> str:
        from atproto import models

        body, facets = rich_text(text)
        reply = None
        if root and parent:
            reply = models.AppBskyFeedPost.ReplyRef(root=_strong(root), parent=_strong(parent))
        record = models.AppBskyFeedPost.Record(
            text=body,
            created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            langs=["en"],
            facets=facets or None,
            reply=reply,
        )
        data = models.ComAtprotoRepoCreateRecord.Data(
            repo=self._login(), collection=COLLECTION, rkey=rkey, record=record
        )
        try:
            created = self._call(lambda: self.client.com.atproto.repo.create_record(data), what="post")
        except SendError as exc:
            if "already exists" in str(exc).lower():
                existing = self._get(rkey)  # an earlier attempt landed: adopt it
                if existing:
                    return existing
            raise
        if not created.uri or not created.cid:
            raise SendError("bluesky: unexpected createRecord answer (no uri)")
        return f"{created.uri}|{created.cid}"

    def find_sent(self, incident: Incident, index: int, message: Message) -> Sent | None:
        entry = incident.timeline[index]
        found = [self._get(record_key(incident.id, entry, number)) for number in range(len(message.parts or (1,)))]
        if found and all(found):
            refs = [ref for ref in found if ref]
            return Sent(ref=refs[-1].split("|")[0], refs=tuple(refs))
        return None

    def finish(self, incident: Incident, latest: Message | None) -> None:
        return None


def _refused(status: int, content: Any) -> SendError:
    """The PDS's answer as one SendError: 5xx retryable, a bad session fatal, the rest refused."""
    error = str(getattr(content, "error", "") or "")
    detail = " ".join(str(getattr(content, "message", "") or "").split())[:300]
    if status == 401 or error in ("AuthenticationRequired", "AccountTakedown"):
        return SendError(
            f"bluesky: {status} {error}: check channels.bluesky.handle and {SECRET} (an app password)", fatal=True
        )
    if status >= 500:
        return SendError(f"bluesky: server error {status}", retry_after=0.0)
    failure = SendError(f"bluesky: {status} {error}: {detail}".rstrip(": "))
    failure.duplicate = error == "RecordNotFound"  # read by _get: the record is not there
    return failure


def _rate_limit_wait(exc: Any) -> float:
    """Seconds until the PDS takes requests again: ``Retry-After``, else ``RateLimit-Reset`` (epoch)."""
    if exc.retry_after is not None:
        return float(exc.retry_after)
    reset = exc.reset_at
    return max(0.0, (reset - datetime.now(UTC)).total_seconds()) if reset is not None else 0.0


def _strong(ref: str) -> models.ComAtprotoRepoStrongRef.Main:
    from atproto import models

    uri, _, cid = ref.partition("|")
    return models.ComAtprotoRepoStrongRef.Main(uri=uri, cid=cid)


def _refs_of(incident: Incident, index: int) -> list[str]:
    delivery = incident.timeline[index].deliveries.get(CHANNEL)
    if delivery is None or delivery.state != "delivered":
        return []
    return [ref for ref in delivery.refs if "|" in ref]


def _root(incident: Incident, index: int) -> str | None:
    """``uri|cid`` of the incident's first post (the thread's root), once delivered."""
    for position, entry in enumerate(incident.timeline[:index]):
        if entry.public:
            refs = _refs_of(incident, position)
            return refs[0] if refs else None
    return None


def _previous_post(incident: Incident, index: int) -> str | None:
    for position in range(index - 1, -1, -1):
        if incident.timeline[position].public:
            refs = _refs_of(incident, position)
            if refs:
                return refs[-1]
    return None

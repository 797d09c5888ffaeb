"""Bluesky: the first entry is a post, later entries reply to the incident's previous post.

Settings: ``channels.bluesky: {handle: NAME, service: URL}`` (service default ``https://bsky.social``);
secret: ``BLUESKY_APP_PASSWORD`` (an app password, Settings > Privacy and security > App passwords).
Plain XRPC over HTTP (``com.atproto.server.createSession``, ``com.atproto.repo.createRecord``,
``com.atproto.repo.getRecord``): no extra library.

Length: 300 graphemes per post, counted here as code points (never fewer than graphemes, so a part
that fits here fits there); longer text becomes a numbered thread split like X's. Links get a link
facet (byte offsets in UTF-8) so they are clickable.

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
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import field_validator

from ..errors import ConfigError
from . import httpjson
from .base import ChannelSettings, ConnectContext, Message, Preview, RenderContext, Secret, SendError, Sent
from .textsplit import URL_PATTERN, split_text

if TYPE_CHECKING:
    from ..model import Entry, Incident

CHANNEL = "bluesky"
TEMPLATE = "mastodon.txt.j2"  # the same plain-text post as Mastodon
SECRET = "BLUESKY_APP_PASSWORD"
SECRETS = (
    Secret(SECRET, "create an app password (Bluesky > Settings > Privacy and security > App passwords) and export it"),
)
MAX_GRAPHEMES = 300
COLLECTION = "app.bsky.feed.post"
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


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


def link_facets(text: str) -> list[dict[str, Any]]:
    facets = []
    for match in URL_PATTERN.finditer(text):
        url = match.group(0).rstrip(".,;:!?)")
        start = len(text[: match.start()].encode("utf-8"))
        facets.append(
            {
                "index": {"byteStart": start, "byteEnd": start + len(url.encode("utf-8"))},
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": url}],
            }
        )
    return facets


class BlueskyChannel:
    """Plain-text posts, threaded per incident."""

    name = CHANNEL
    settings_model = BlueskySettings
    secrets = SECRETS
    edits_root = False

    def render(self, context: RenderContext) -> Message:
        text = context.render_template(TEMPLATE)
        text = re.sub(r"\n{3,}", "\n\n", text.strip())
        parts = tuple(split_text(text, MAX_GRAPHEMES))
        return Message(channel=CHANNEL, text=text, payload={"parts": list(parts)}, parts=parts)

    def show(self, preview: Preview, *, demo: bool) -> list[str]:
        from .mastodon import thread_lines

        return thread_lines(CHANNEL, preview, demo=demo)

    def connect(self, context: ConnectContext) -> BlueskySender:
        settings = settings_of(context.settings)
        password = os.environ.get(SECRET)
        if not password:
            raise ConfigError(f"bluesky: {SECRET} is not set: create an app password in Bluesky and export it")
        return BlueskySender(settings, password, timeout=context.retry.timeout)


class BlueskySender:
    """One run's session with the PDS."""

    def __init__(self, settings: BlueskySettings, password: str, *, timeout: float = 5.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self.password = password
        self.http = httpjson.session()
        self.session: dict[str, str] | None = None
        self.progress: dict[tuple[str, int], list[str]] = {}

    def _xrpc(self, method: str, name: str, *, body: Any = None, params: dict[str, str] | None = None) -> Any:
        headers = {}
        if name != "com.atproto.server.createSession":
            headers["Authorization"] = f"Bearer {self._login()['accessJwt']}"
        response = httpjson.send_json(
            self.http, method, f"{self.settings.service}/xrpc/{name}", channel=CHANNEL,
            what=self.settings.service, body=body, params=params, headers=headers, timeout=self.timeout,
        )  # fmt: skip
        data = httpjson.json_body(response)
        if response.status_code == 200:
            return data or {}
        error = data.get("error", "") if isinstance(data, dict) else ""
        detail = httpjson.one_line(data.get("message", "") if isinstance(data, dict) else "")
        if response.status_code == 401 or error in ("AuthenticationRequired", "AccountTakedown"):
            raise SendError(
                f"bluesky: {response.status_code} {error}: check channels.bluesky.handle and {SECRET} (an app password)",
                fatal=True,
            )
        failure = SendError(f"bluesky: {response.status_code} {error}: {detail}".rstrip(": "))
        failure.duplicate = error == "RecordNotFound"  # read by find_sent: the record is not there
        raise failure

    def _login(self) -> dict[str, str]:
        if self.session is None:
            data = self._xrpc(
                "POST", "com.atproto.server.createSession",
                body={"identifier": self.settings.handle, "password": self.password},
            )  # fmt: skip
            if not isinstance(data, dict) or not data.get("accessJwt") or not data.get("did"):
                raise SendError("bluesky: unexpected createSession answer", fatal=True)
            self.session = {"accessJwt": str(data["accessJwt"]), "did": str(data["did"])}
        return self.session

    def _get(self, rkey: str) -> str | None:
        """``uri|cid`` of our record with key ``rkey``, when it exists."""
        try:
            data = self._xrpc(
                "GET", "com.atproto.repo.getRecord",
                params={"repo": self._login()["did"], "collection": COLLECTION, "rkey": rkey},
            )  # fmt: skip
        except SendError as exc:
            if exc.duplicate:
                return None
            raise
        return f"{data['uri']}|{data['cid']}" if data.get("uri") and data.get("cid") else None

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
        record: dict[str, Any] = {
            "$type": COLLECTION,
            "text": text,
            "createdAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "langs": ["en"],
        }
        facets = link_facets(text)
        if facets:
            record["facets"] = facets
        if root and parent:
            record["reply"] = {"root": _strong(root), "parent": _strong(parent)}
        body = {"repo": self._login()["did"], "collection": COLLECTION, "rkey": rkey, "record": record}
        try:
            data = self._xrpc("POST", "com.atproto.repo.createRecord", body=body)
        except SendError as exc:
            if "already exists" in str(exc).lower():
                existing = self._get(rkey)  # an earlier attempt landed: adopt it
                if existing:
                    return existing
            raise
        if not isinstance(data, dict) or not data.get("uri") or not data.get("cid"):
            raise SendError("bluesky: unexpected createRecord answer (no uri)")
        return f"{data['uri']}|{data['cid']}"

    def find_sent(self, incident: Incident, index: int, message: Message) -> Sent | None:
        entry = incident.timeline[index]
        found = [self._get(record_key(incident.id, entry, number)) for number in range(len(message.parts or (1,)))]
        if found and all(found):
            refs = [ref for ref in found if ref]
            return Sent(ref=refs[-1].split("|")[0], refs=tuple(refs))
        return None

    def finish(self, incident: Incident, latest: Message | None) -> None:
        return None


def _strong(ref: str) -> dict[str, str]:
    uri, _, cid = ref.partition("|")
    return {"uri": uri, "cid": cid}


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

"""Discord through an incoming webhook (``DISCORD_WEBHOOK_URL``; never printed).

Each entry is an embed message sent with ``?wait=true`` so Discord answers with the message id,
which is recorded. The incident's first message is edited (``PATCH .../messages/{id}``) after
every run to show the current status.

Threads: a webhook can create a thread only in a forum or media channel (``thread_name`` on the
first post); it cannot start a thread from a message in a text channel, and ``message_reference``
replies are not available to webhooks. So with ``threads: auto`` (the default) the first post asks
for a thread named after the incident; a text channel refuses that, and the incident is then posted
as channel messages (the first one still edited to the current status). ``threads: forum`` insists
on a thread (a refusal is an error); ``threads: channel`` never asks for one. Later entries go to
the thread with ``?thread_id=``.

Limits: an embed's title 256, description 4096, field name 256 / value 1024, footer 2048, 25
fields, 6000 characters in all the embeds of one message, 10 embeds, content 2000. Longer text is
split into more messages, never cut; a title over 256 is shortened in the title and given whole at
the top of the description. ``allowed_mentions: {"parse": []}`` is sent on every message, so
incident text cannot ping ``@everyone``, roles or users.

Idempotency: Discord webhooks have no lookup by content and no nonce, so a post is known only by
the id Discord returns. What is guaranteed: an entry is never lost; parts of a split entry that
went out are recorded even when a later part fails, and the next run resumes after them; a
delivery left ``pending`` by a run killed *before* Discord stored the message is sent once by the
next run. A run killed in the instant between Discord storing a message and the answer being saved
(or an answer lost to a timeout) cannot be told apart, and the entry is sent again: at most one
duplicate per such interruption, never a lost update.
"""

from __future__ import annotations

import json
import os
import re
from typing import TYPE_CHECKING, Any, Literal

from ..errors import ConfigError, TemplateError
from . import httpjson
from .base import ChannelSettings, ConnectContext, Message, Preview, RenderContext, Secret, SendError, Sent
from .textsplit import split_text

if TYPE_CHECKING:
    import requests

    from ..model import Incident

CHANNEL = "discord"
TEMPLATE = "discord.json.j2"
SECRET = "DISCORD_WEBHOOK_URL"
SECRETS = (
    Secret(
        SECRET,
        "create a webhook (Discord channel settings > Integrations > Webhooks > New Webhook) and export its URL",
    ),
)

CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
FIELDS_PER_EMBED = 25
EMBEDS_PER_MESSAGE = 10
EMBED_TOTAL_LIMIT = 6000
THREAD_NAME_LIMIT = 100
NO_MENTIONS: dict[str, Any] = {"parse": []}

# Discord JSON error codes (https://discord.com/developers/docs/topics/opcodes-and-status-codes).
UNKNOWN_WEBHOOK = 10015
UNKNOWN_MESSAGE = 10008
FORUM_NEEDS_THREAD = 220001
THREADS_ONLY_IN_FORUMS = 220003

_WEBHOOK_PATH = re.compile(r"/webhooks/(\d+)/([A-Za-z0-9_.-]+)/?$")


class DiscordError(SendError):
    """A refusal from Discord, with its JSON error ``code`` when it gave one."""

    def __init__(self, message: str, code: Any = None) -> None:
        super().__init__(message)
        self.code = code


class DiscordSettings(ChannelSettings):
    """``channels.discord`` in ``incidentctl.yaml`` (all optional)."""

    threads: Literal["auto", "forum", "channel"] = "auto"
    """``auto``: a thread per incident when the webhook's channel is a forum, else channel messages."""
    username: str | None = None
    """Shown as the sender instead of the webhook's own name."""


# -- escaping ---------------------------------------------------------------------------------------

_ESCAPED = re.compile(r"\\(.)")
_MARKDOWN = re.compile(r"([\\*_~`|<>\[\]()#:@-])")


def escape_markdown(value: Any) -> str:
    """Discord markdown: backslash-escape every character that starts formatting, a masked link,
    a heading, a list, a quote, a spoiler, an emoji or a mention (Discord shows ``\\x`` as ``x``)."""
    return _MARKDOWN.sub(r"\\\1", str(value))


# -- limits -----------------------------------------------------------------------------------------


def _embed_size(embed: dict[str, Any]) -> int:
    size = len(embed.get("title", "")) + len(embed.get("description", ""))
    size += len((embed.get("footer") or {}).get("text", "")) + len((embed.get("author") or {}).get("name", ""))
    return size + sum(len(field["name"]) + len(field["value"]) for field in embed.get("fields", []))


def _fit_embed(embed: dict[str, Any]) -> list[dict[str, Any]]:
    """One embed within every per-embed limit: the embed itself, then continuation embeds."""
    embed = dict(embed)
    title = str(embed.get("title") or "")
    description = str(embed.get("description") or "")
    if len(title) > TITLE_LIMIT:
        description = f"**{title}**\n\n{description}".strip()
        embed["title"] = title[: TITLE_LIMIT - 1].rstrip("\\") + "…"
    footer = embed.get("footer") or {}
    if len(str(footer.get("text", ""))) > FOOTER_LIMIT:
        description = f"{description}\n\n{footer['text']}".strip()
        embed.pop("footer")
    fields: list[dict[str, Any]] = []
    for field in embed.get("fields", []):
        name, value = str(field.get("name") or "\u200b"), str(field.get("value") or "\u200b")
        names = split_text(name, FIELD_NAME_LIMIT, numbered=False)
        values = split_text(value, FIELD_VALUE_LIMIT, numbered=False)
        if len(names) > 1:  # a name too long for a name: give it whole in the values
            values = split_text(f"{name}: {value}", FIELD_VALUE_LIMIT, numbered=False)
            names = [names[0][: FIELD_NAME_LIMIT - 1] + "…"]
        for number, chunk in enumerate(values):
            fields.append(
                {"name": names[0] if number == 0 else "\u200b", "value": chunk, "inline": bool(field.get("inline"))}
            )
    chunks = split_text(description, DESCRIPTION_LIMIT) if description else []
    embed.pop("description", None)
    if chunks:
        embed["description"] = chunks[0]
    embed["fields"] = fields[:FIELDS_PER_EMBED]
    if not embed["fields"]:
        embed.pop("fields")
    more: list[dict[str, Any]] = []
    color = embed.get("color")
    for chunk in chunks[1:]:
        more.append({"description": chunk, **({"color": color} if color is not None else {})})
    rest = fields[FIELDS_PER_EMBED:]
    while rest:
        more.append({"fields": rest[:FIELDS_PER_EMBED], **({"color": color} if color is not None else {})})
        rest = rest[FIELDS_PER_EMBED:]
    return [embed, *more]


def fit_messages(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The rendered message as one or more webhook payloads, each within Discord's limits."""
    content = str(payload.get("content") or "").strip()
    embeds = [part for embed in payload.get("embeds") or [] for part in _fit_embed(embed)]
    contents = split_text(content, CONTENT_LIMIT) if content else []
    messages: list[dict[str, Any]] = [{"content": chunk, "embeds": []} for chunk in contents] or [
        {"content": "", "embeds": []}
    ]
    current = messages[-1]
    for embed in embeds:
        size = _embed_size(embed)
        used = sum(_embed_size(known) for known in current["embeds"])
        if current["embeds"] and (len(current["embeds"]) >= EMBEDS_PER_MESSAGE or used + size > EMBED_TOTAL_LIMIT):
            current = {"content": "", "embeds": []}
            messages.append(current)
        current["embeds"].append(embed)
    for message in messages:
        if not message["content"]:
            message.pop("content")
        if not message["embeds"]:
            message.pop("embeds")
        message["allowed_mentions"] = NO_MENTIONS
    return [message for message in messages if "content" in message or "embeds" in message]


def _single(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The first message alone (the root edit must stay one message): say where the rest is."""
    first = dict(messages[0])
    if len(messages) > 1 and first.get("embeds"):
        embed = dict(first["embeds"][0])
        note = "\n\n*(continued in the latest update below)*"
        description = str(embed.get("description") or "")
        embed["description"] = description[: DESCRIPTION_LIMIT - len(note)] + note
        first["embeds"] = [embed]
    return first


def plain_text(payload: dict[str, Any]) -> str:
    embed = (payload.get("embeds") or [{}])[0]
    return "\n\n".join(part for part in (embed.get("title"), embed.get("description"), payload.get("content")) if part)


# -- the webhook URL --------------------------------------------------------------------------------


def webhook_url() -> str:
    """``DISCORD_WEBHOOK_URL``, checked for shape (errors never quote it)."""
    url = (os.environ.get(SECRET) or "").strip()
    if not url:
        raise ConfigError(
            f"discord: {SECRET} is not set: create a webhook (channel settings > Integrations > Webhooks) "
            "and export its URL"
        )
    if not url.startswith(("https://", "http://")) or not _WEBHOOK_PATH.search(url.split("?", 1)[0]):
        raise ConfigError(
            f"discord: {SECRET} does not look like a webhook URL (https://discord.com/api/webhooks/ID/TOKEN)"
        )
    return url.split("?", 1)[0].rstrip("/")


def settings_of(value: Any) -> DiscordSettings:
    """The validated ``channels.{CHANNEL}`` settings (defaults when the context carries none)."""
    return value if isinstance(value, DiscordSettings) else DiscordSettings()


# -- the channel ------------------------------------------------------------------------------------


class DiscordChannel:
    """Embed messages through a webhook; a thread per incident in forum channels; the first message edited."""

    name = CHANNEL
    settings_model = DiscordSettings
    secrets = SECRETS
    edits_root = True
    confirms_delivery = False  # a webhook cannot be asked whether an interrupted post landed

    def render(self, context: RenderContext) -> Message:
        kind = "root" if context.is_first or context.purpose == "summary" else "reply"
        name = context.template_name(TEMPLATE)
        text = context.render_template(TEMPLATE, kind=kind, md=escape_markdown)
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TemplateError(f"{name}:{exc.lineno}: the template did not render valid JSON: {exc.msg}") from None
        if not isinstance(payload, dict) or not (payload.get("content") or payload.get("embeds")):
            raise TemplateError(f'{name}:1: must render a JSON object with "content" or "embeds"')
        if not isinstance(payload.get("embeds", []), list):
            raise TemplateError(f'{name}:1: "embeds" must be a list of embed objects')
        messages = fit_messages(payload)
        if context.purpose == "summary":
            messages = [_single(messages)]
        body: dict[str, Any] = {"messages": messages}
        if context.is_first and context.purpose != "summary":
            body["thread_name"] = _thread_name(context.incident.title)
        return Message(channel=CHANNEL, text=plain_text(messages[0]), payload=body)

    def show(self, preview: Preview, *, demo: bool) -> list[str]:
        if not demo:
            return json.dumps(preview.payload, indent=2, ensure_ascii=False).splitlines()
        label = {"post": "new post", "reply": "in the incident's thread", "edit": "first message edited"}.get(
            preview.kind, preview.kind
        )
        lines: list[str] = []
        for message in preview.payload.get("messages") or []:
            lines.extend(plain_text(message).splitlines())
            for embed in message.get("embeds") or []:
                lines.extend(f"{field.get('name')}: {field.get('value')}" for field in embed.get("fields") or [])
        shown = (_ESCAPED.sub(r"\1", line) for line in lines if line.strip())  # as Discord displays it
        return [f"[{CHANNEL}, {label}]", *(f"  {line}" for line in shown)]

    def connect(self, context: ConnectContext) -> DiscordSender:
        return DiscordSender(webhook_url(), settings_of(context.settings), timeout=context.retry.timeout)


def _thread_name(title: str) -> str:
    """A forum thread's name (Discord allows 100 characters; the full title is in the message)."""
    name = " ".join(title.split())
    return name if len(name) <= THREAD_NAME_LIMIT else name[: THREAD_NAME_LIMIT - 1] + "…"


def _root(incident: Incident) -> tuple[str, str | None] | None:
    """(message id, thread id or None) of the incident's first Discord message, once delivered.

    An entry marked sent by hand (``publish --mark-interrupted-sent``: its message is in Discord, its id
    unknown) is passed over: the incident's thread goes on from the next message whose id is known."""
    for entry in incident.timeline:
        if not entry.public:
            continue
        delivery = entry.deliveries.get(CHANNEL)
        if delivery is None or delivery.state != "delivered":
            return None
        if not delivery.ref:
            continue
        thread = None
        for ref in delivery.refs:
            head, sep, _ = ref.partition("/")
            if sep:
                thread = head
        return delivery.ref, thread
    return None


class DiscordSender:
    """One run's connection to the webhook."""

    def __init__(self, url: str, settings: DiscordSettings, *, timeout: float = 5.0) -> None:
        self.url = url
        self.settings = settings
        self.timeout = timeout
        self.http = httpjson.session()
        #: Learnt in this run: the webhook's channel is a text channel (it refused to open a thread).
        self.text_channel = settings.threads == "channel"
        #: Parts already sent in this run, by (incident, entry index): resume, never resend.
        self.progress: dict[tuple[str, int], list[str]] = {}

    # -- requests -----------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Any, params: dict[str, str]) -> Any:
        response = httpjson.send_json(
            self.http, method, self.url + path, channel=CHANNEL, what="the Discord webhook", body=body, params=params,
            timeout=self.timeout,
        )  # fmt: skip
        if response.status_code in (200, 201, 204):
            return httpjson.json_body(response) or {}
        raise self._error(response)

    def _error(self, response: requests.Response) -> SendError:
        status = response.status_code
        data = httpjson.json_body(response)
        code = data.get("code") if isinstance(data, dict) else None
        detail = httpjson.one_line(data.get("message", "")) if isinstance(data, dict) else ""
        if status in (401, 403, 404) and code in (UNKNOWN_WEBHOOK, None, 0, 50027):
            return SendError(
                f"discord: {status}: the webhook is unknown or its token is wrong: create a new webhook and set "
                f"{SECRET}",
                fatal=True,
            )
        if code == UNKNOWN_MESSAGE:
            return DiscordError(f"discord: {status}: the incident's first message is gone (deleted in Discord?)", code)
        return DiscordError(
            f"discord: {status}: {detail or 'request refused'}" + (f" (code {code})" if code else ""), code
        )

    def _post(
        self, payload: dict[str, Any], thread_id: str | None, thread_name: str | None
    ) -> tuple[dict[str, Any], bool]:
        """POST one message; return Discord's message and whether it opened a new (forum) thread."""
        params = {"wait": "true"}
        body = dict(payload)
        if self.settings.username:
            body["username"] = self.settings.username
        if thread_id:
            params["thread_id"] = thread_id
        elif thread_name and not self.text_channel:
            body["thread_name"] = thread_name
        try:
            data = self._request("POST", "", body, params)
        except DiscordError as exc:
            code = exc.code
            if "thread_name" in body and self.settings.threads == "auto" and code == THREADS_ONLY_IN_FORUMS:
                # A text channel: webhooks cannot open threads there; post the incident in the channel.
                body.pop("thread_name")
                self.text_channel = True
                data = self._request("POST", "", body, params)
            elif code == FORUM_NEEDS_THREAD:
                raise SendError(
                    "discord: the webhook's channel is a forum and needs a thread: set channels.discord.threads "
                    "to auto or forum",
                    fatal=True,
                ) from None
            elif code == THREADS_ONLY_IN_FORUMS:
                raise SendError(
                    "discord: threads: forum is set but the webhook's channel is not a forum or media channel",
                    fatal=True,
                ) from None
            else:
                raise
        if not isinstance(data, dict) or not data.get("id"):
            raise SendError("discord: unexpected response (no message id): is the URL a Discord webhook?")
        return data, "thread_name" in body

    # -- the Sender protocol ----------------------------------------------------------------------

    def send(self, incident: Incident, index: int, message: Message) -> Sent:
        entry = incident.timeline[index]
        delivery = entry.deliveries.get(CHANNEL)
        key = (incident.id, index)
        posted = self.progress.setdefault(key, list(delivery.refs) if delivery is not None else [])
        messages: list[dict[str, Any]] = message.payload["messages"]
        first = _is_first(incident, index)
        root = None if first else _root(incident)
        if not first and root is None and not _delivered_before(incident, index):
            raise SendError("discord: the incident's first message has not been delivered yet")
        # Every earlier message was marked sent by hand (ids unknown): this one starts the thread anew.
        thread_name = None if root is not None else message.payload.get("thread_name") or _thread_name(incident.title)
        thread = root[1] if root is not None else _thread_of(posted)
        for payload in messages[len(posted) :]:
            try:
                data, opened = self._post(payload, thread, thread_name)
            except SendError as exc:
                exc.partial_refs = list(posted)
                raise
            message_id = str(data["id"])
            if opened and data.get("channel_id"):
                thread = str(data["channel_id"])  # a forum post: the new thread is the message's channel
            posted.append(f"{thread}/{message_id}" if thread else message_id)
        self.progress.pop(key, None)
        ids = [ref.rpartition("/")[2] for ref in posted]
        return Sent(ref=ids[0] if ids else None, refs=tuple(posted))

    def find_sent(self, incident: Incident, index: int, message: Message) -> Sent | None:
        # No lookup by content exists for webhooks: only a recorded id identifies a message.
        return None

    def finish(self, incident: Incident, latest: Message | None) -> None:
        """Edit the incident's first message to show the current status and latest update."""
        root = _root(incident)
        if root is None or latest is None:
            return
        message_id, thread = root
        body = dict(latest.payload["messages"][0])
        params = {"thread_id": thread} if thread else {}
        self._request("PATCH", f"/messages/{message_id}", body, params)


def _thread_of(posted: list[str]) -> str | None:
    for ref in posted:
        head, sep, _ = ref.partition("/")
        if sep:
            return head
    return None


def _is_first(incident: Incident, index: int) -> bool:
    return not any(entry.public for entry in incident.timeline[:index])


def _delivered_before(incident: Incident, index: int) -> bool:
    """Every public entry before ``timeline[index]`` is delivered on Discord."""
    earlier = [entry.deliveries.get(CHANNEL) for entry in incident.timeline[:index] if entry.public]
    return all(delivery is not None and delivery.state == "delivered" for delivery in earlier)

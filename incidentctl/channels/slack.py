"""Slack: the first entry is a channel message, later entries reply in its thread, the root is edited.

Every message carries our marker in Slack message ``metadata`` (event type ``incidentctl_entry``,
payload: incident id and entry time), so after a crash we can find a message that was posted but
never recorded and adopt its ``ts`` instead of posting again.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..durations import isoformat_z
from ..errors import ConfigError, TemplateError
from .base import (
    METADATA_EVENT,
    UNANSWERED,
    ChannelSettings,
    ConnectContext,
    Message,
    Preview,
    RenderContext,
    RetryBudget,
    Secret,
    SendError,
    Sent,
    retry_after_seconds,
)

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from ..model import Entry, Incident
    from ..store import Repo

SLACK_API_URL_ENV = "INCIDENTCTL_SLACK_API_URL"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
TEMPLATE = "slack.json.j2"
CHANNEL = "slack"
SLACK_SECRET = "SLACK_BOT_TOKEN"
SECRETS = (Secret(SLACK_SECRET, "export the bot token (xoxb-...) to publish to Slack"),)
REMINDER_EVENT = "incidentctl_reminder"
CLOCK_SKEW = timedelta(hours=1)
"""How far ahead the local clock may run: lookups of an earlier attempt start this much earlier."""
MAX_PAGES = 50
"""Pages of 200 messages a lookup reads at most (10,000 messages)."""


def _now_utc() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


class SlackSettings(ChannelSettings):
    channel: str = "#incidents"
    mention: str | None = None
    """Who reminders mention when the incident has no commander, e.g. ``<!subteam^S123>``."""


# -- shared helpers (also used by reminders) ------------------------------------------------------


def slack_client(budget: RetryBudget | None = None, *, retries: bool = True) -> WebClient:
    """A ``WebClient`` with the bot token from ``SLACK_BOT_TOKEN``, a timeout and bounded retries.

    ``INCIDENTCTL_SLACK_API_URL`` points it elsewhere (tests, proxies). Retries (connection errors,
    timeouts, 5xx, 429 with ``Retry-After``) share ``budget``: about 15 s in all by default.
    ``chat.postMessage`` is never retried by the SDK (a resend after a timeout may double the
    message): callers retry it themselves after looking for the first attempt.
    """
    from slack_sdk import WebClient

    token = os.environ.get(SLACK_SECRET)
    if not token:
        raise ConfigError(f"slack: {SLACK_SECRET} is not set: export the bot token (xoxb-...) to publish to Slack")
    base_url = os.environ.get(SLACK_API_URL_ENV) or DEFAULT_SLACK_API_URL
    if not base_url.endswith("/"):
        base_url += "/"
    budget = budget or RetryBudget()
    handlers = _retry_handlers(budget) if retries else []
    timeout = budget.timeout
    return WebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=handlers)  # type: ignore[arg-type]


def _retry_handlers(budget: RetryBudget) -> list[Any]:
    """slack-sdk's own handlers retry once; ours retry up to the budget, honouring ``Retry-After``."""
    from http.client import HTTPException
    from urllib.error import URLError

    from slack_sdk.http_retry.handler import RetryHandler

    class BudgetedRetryHandler(RetryHandler):
        def __init__(self) -> None:
            super().__init__(max_retry_count=budget.max_attempts - 1)
            self.wait = 0.0

        def _can_retry(self, *, state: Any, request: Any, response: Any = None, error: Any = None) -> bool:
            if "chat.postMessage" in str(getattr(request, "url", "")):
                return False
            if response is not None:
                retryable = response.status_code == 429 or response.status_code >= 500
                hint = retry_after_seconds(response.headers) if response.status_code == 429 else 0.0
            else:
                retryable = isinstance(error, URLError | OSError | HTTPException)
                hint = 0.0
            if not retryable:
                return False
            self.wait = budget.delay(state.current_attempt + 1, hint)
            return budget.may_retry(state.current_attempt + 1, self.wait)

        def prepare_for_next_attempt(
            self, *, state: Any, request: Any, response: Any = None, error: Any = None
        ) -> None:
            state.next_attempt_requested = True
            budget.sleep(self.wait)
            state.increment_current_attempt()

    return [BudgetedRetryHandler()]


def root_delivery_refs(incident: Incident) -> tuple[str | None, str | None]:
    """(channel id, ts) of the incident's root Slack message, when delivered."""
    for entry in incident.timeline:
        if not entry.public:
            continue
        delivery = entry.deliveries.get(CHANNEL)
        if delivery is not None and delivery.state == "delivered" and delivery.ref:
            channel_id = None
            for ref in delivery.refs:
                channel_id, sep, _ = ref.partition("/")
                if not sep:
                    channel_id = None
            return channel_id, delivery.ref
        return None, None
    return None, None


def thread_ts(incident: Incident) -> str | None:
    """The root message ``ts``: the Slack ref of the incident's first public entry, once delivered."""
    return root_delivery_refs(incident)[1]


def thread_channel(incident: Incident) -> str | None:
    """The Slack channel id the incident's thread lives in, when known."""
    return root_delivery_refs(incident)[0]


def post_thread_message(client: WebClient, channel: str, thread_ts: str | None, text: str) -> str:
    """Post plain ``text`` as a reply in a thread (or to the channel when ``thread_ts`` is None);
    return the new message's ``ts``. Errors become one :class:`SendError` line naming the fix.
    """
    extra = {"thread_ts": thread_ts} if thread_ts else {}
    response = _call(client, "chat_postMessage", channel, channel=channel, text=text, **extra)
    return str(response["ts"])


# -- errors -------------------------------------------------------------------------------------------

_FIXES = {
    "channel_not_found": "invite the bot to {channel} or fix channels.slack.channel in incidentctl.yaml",
    "not_in_channel": "invite the bot to {channel} (/invite @your-bot in Slack)",
    "is_archived": "{channel} is archived: unarchive it or set channels.slack.channel in incidentctl.yaml",
    "invalid_auth": f"{SLACK_SECRET} is not a valid token: set the app's bot token (xoxb-...)",
    "not_authed": f"{SLACK_SECRET} was not sent: set the app's bot token (xoxb-...)",
    "token_revoked": f"{SLACK_SECRET} was revoked: reinstall the Slack app and set the new bot token",
    "token_expired": f"{SLACK_SECRET} has expired: set a current bot token",
    "account_inactive": f"{SLACK_SECRET} belongs to a deactivated app or user: reinstall the Slack app",
    "missing_scope": "the Slack app lacks a scope: add chat:write and channels:history (groups:history for private "
    "channels), then reinstall it",
    "invalid_blocks": "Slack rejected the Block Kit blocks: check templates/slack.json.j2 (`incidentctl lint`)",
    "msg_too_long": "the message is too long for Slack: shorten the update or the template",
    "thread_not_found": "the incident's Slack thread is gone: fix or remove the slack ref of its first entry",
    "message_not_found": "the incident's root Slack message is gone",
    "cant_update_message": "the root message was posted by another app or user and cannot be edited",
}
_FATAL = {"channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed", "token_revoked",
          "token_expired", "account_inactive", "missing_scope"}  # fmt: skip


def _explain(code: str, channel: str) -> str:
    fix = _FIXES.get(code)
    return f"slack: {code}: {fix.format(channel=channel)}" if fix else f"slack: {code}"


def _call(client: WebClient, method: str, shown_channel: str, **kwargs: Any) -> Any:
    """One Web API call; every failure becomes a one-line :class:`SendError`."""
    from http.client import HTTPException
    from urllib.error import URLError

    from slack_sdk.errors import SlackApiError, SlackClientError

    try:
        return getattr(client, method)(**kwargs)
    except SlackApiError as exc:
        response = exc.response
        status = getattr(response, "status_code", 200)
        code = response.get("error") if hasattr(response, "get") and isinstance(response.data, dict) else None
        if status == 429 or code == "ratelimited":
            headers = getattr(response, "headers", {}) or {}
            raise SendError(f"slack: rate limited (429)", retry_after=retry_after_seconds(headers)) from None  # noqa: F541
        if status >= 500:
            raise SendError(f"slack: server error {status}", retry_after=0.0) from None
        if code:
            raise SendError(_explain(str(code), shown_channel), fatal=code in _FATAL) from None
        raise SendError(f"slack: unexpected response (HTTP {status})") from None
    except (TimeoutError, ConnectionError, URLError, HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise SendError(
            f"slack: cannot reach the Slack API ({type(reason).__name__}): check the network or {SLACK_API_URL_ENV}",
            retry_after=0.0,
            maybe_sent=True,
        ) from None
    except (OSError, SlackClientError) as exc:
        raise SendError(f"slack: request failed: {type(exc).__name__}", retry_after=0.0, maybe_sent=True) from None


# -- rendering ------------------------------------------------------------------------------------


def template_context(context: RenderContext, kind: str) -> dict[str, Any]:
    """What ``slack.json.j2`` (and the other templates) see."""
    return {**context.message_context(), "kind": kind}


def render_blocks(context: RenderContext, kind: str) -> Message:
    name = context.template_name(TEMPLATE)
    text = context.templates.render(name, **template_context(context, kind))
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{name}:{exc.lineno}: the template did not render valid JSON: {exc.msg}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("text"), str) or not payload["text"].strip():
        raise TemplateError(f'{name}:1: must render a JSON object with a non-empty "text" fallback')
    if "blocks" in payload and not isinstance(payload["blocks"], list):
        raise TemplateError(f'{name}:1: "blocks" must be a list of Block Kit blocks')
    if "blocks" in payload:
        payload["blocks"] = fit_blocks(payload["blocks"])
    return Message(channel=CHANNEL, text=payload["text"], payload=payload)


SECTION_LIMIT = 3000
"""Characters of text in one section block (Slack refuses more)."""
MAX_BLOCKS = 50
"""Blocks in one message (Slack refuses more)."""
_ENTITY = re.compile(r"&[#\w]{0,10};?$")


def split_mrkdwn(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` characters: at a paragraph, a line or a space
    when one is in the second half, never inside an entity (``&amp;``) or a ``<link|label>``."""
    pieces: list[str] = []
    while len(text) > limit:
        window = text[:limit]
        cut = next((found for mark in ("\n\n", "\n", " ") if (found := window.rfind(mark)) >= limit // 2), limit)
        head = text[:cut]
        entity = _ENTITY.search(head)
        if entity is not None and cut < len(text) and not head.endswith(";"):
            cut = entity.start() or cut
        opened, closed = text.rfind("<", 0, cut), text.rfind(">", 0, cut)
        if opened > closed and opened > 0:
            cut = opened
        pieces.append(text[:cut].rstrip() or text[:cut])
        text = text[cut:].lstrip(" \n") if text[:cut].strip() else text[cut:]
    if text.strip() or not pieces:
        pieces.append(text)
    return pieces


def fit_blocks(blocks: list[Any]) -> list[Any]:
    """Split every section longer than Slack takes into several; never more than 50 blocks
    (a message longer than that ends with a section saying it was shortened)."""
    fitted: list[Any] = []
    for block in blocks:
        text = block.get("text") if isinstance(block, dict) and block.get("type") == "section" else None
        if not isinstance(text, dict) or not isinstance(text.get("text"), str) or len(text["text"]) <= SECTION_LIMIT:
            fitted.append(block)
            continue
        for piece in split_mrkdwn(text["text"]):
            fitted.append({**block, "text": {**text, "text": piece}})
    if len(fitted) > MAX_BLOCKS:
        note = {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": "(shortened: too long for one Slack message)"}],
        }
        fitted = [*fitted[: MAX_BLOCKS - 2], note, fitted[-1]]
    return fitted


class SlackChannel:
    """Block Kit messages in one thread per incident; the root message is edited to the current state."""

    name = CHANNEL
    settings_model = SlackSettings
    secrets = SECRETS
    edits_root = True

    def render(self, context: RenderContext) -> Message:
        return render_blocks(context, "root" if context.is_first or context.purpose == "summary" else "reply")

    def show(self, preview: Preview, *, demo: bool) -> list[str]:
        if not demo:
            return json.dumps(preview.payload, indent=2, ensure_ascii=False).splitlines()
        label = {"post": "new message", "reply": "thread reply", "edit": "first message edited"}.get(
            preview.kind, preview.kind
        )
        return [
            f"[{CHANNEL}, {label}]",
            *(f"  {line}" for line in blocks_as_text(preview.payload.get("blocks", [])) or [preview.text]),
        ]

    def connect(self, context: ConnectContext) -> SlackSender:
        settings = context.settings if isinstance(context.settings, SlackSettings) else SlackSettings()
        return SlackSender(slack_client(context.retry, retries=False), settings.channel)


def blocks_as_text(blocks: list[dict[str, Any]]) -> list[str]:
    """A Block Kit message as the lines a reader sees (for the demo's dry run)."""
    lines: list[str] = []
    for block in blocks:
        if block.get("type") in ("header", "section") and isinstance(block.get("text"), dict):
            lines.extend(str(block["text"].get("text", "")).splitlines())
        if block.get("type") == "section" and block.get("fields"):
            lines.append(" | ".join(str(field.get("text", "")).replace("\n", ": ") for field in block["fields"]))
        if block.get("type") == "context":
            lines.append(" · ".join(str(element.get("text", "")) for element in block.get("elements", [])))
    return lines


# -- the public API reminders use -----------------------------------------------------------------


def settings_for(repo: Repo) -> SlackSettings | None:
    """The validated ``channels.slack`` settings, ``None`` when Slack is not configured."""
    settings = repo.config.channel_settings(CHANNEL)
    return settings if isinstance(settings, SlackSettings) else None


def reminder_sender(repo: Repo, budget: RetryBudget | None = None) -> SlackSender | None:
    """A sender for posts outside publishing (reminders), with retries; ``None`` when Slack is not enabled."""
    from ..config import channel_enabled

    settings = settings_for(repo)
    if settings is None or not channel_enabled(repo.config, CHANNEL):
        return None
    return SlackSender(slack_client(budget), settings.channel, mention=settings.mention, budget=budget)


def entry_key(entry: Entry) -> str:
    """A short fingerprint of an entry (time, status, text): two entries in the same second differ."""
    import hashlib

    text = f"{isoformat_z(entry.at)}|{entry.status}|{entry.message}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _metadata(incident: Incident, entry: Entry) -> dict[str, Any]:
    payload = {"incident": incident.id, "entry_at": isoformat_z(entry.at), "entry": entry_key(entry)}
    return {"event_type": METADATA_EVENT, "event_payload": payload}


def _is_ours(message: dict[str, Any], incident: Incident, entry: Entry) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return bool(
        metadata.get("event_type") == METADATA_EVENT
        and payload.get("incident") == incident.id
        and payload.get("entry_at") == isoformat_z(entry.at)
        and payload.get("entry") == entry_key(entry)
    )


def _looks_like_id(channel: str) -> bool:
    return len(channel) >= 9 and channel[0] in "CGD" and channel.isalnum() and channel.isupper()


class SlackSender:
    """One run's connection to Slack."""

    def __init__(
        self, client: WebClient, channel: str, *, mention: str | None = None, budget: RetryBudget | None = None
    ) -> None:
        self.client = client
        self.channel = channel
        self.mention = mention
        """Who reminders mention when the incident has no commander (``channels.slack.mention``)."""
        self._channel_id: str | None = channel if _looks_like_id(channel) else None
        self.budget = budget or RetryBudget()
        #: Entries whose earlier attempts were looked for in this run (and not found).
        self.checked: set[tuple[str, int]] = set()
        self._since: dict[tuple[str, int], datetime] = {}

    def _root(self, incident: Incident) -> tuple[str, str] | None:
        channel_id, ts = root_delivery_refs(incident)
        if ts is None:
            return None
        return channel_id or self._resolve_channel_id(), ts

    def _resolve_channel_id(self) -> str:
        """The channel's id (Slack wants ids for history and edits); found by name when configured by name."""
        if self._channel_id is not None:
            return self._channel_id
        name = self.channel.lstrip("#")
        cursor = None
        for _ in range(50):
            response = _call(
                self.client, "conversations_list", self.channel, types="public_channel,private_channel",
                exclude_archived=True, limit=1000, cursor=cursor,
            )  # fmt: skip
            for channel in response.get("channels", []):
                if channel.get("name") == name:
                    self._channel_id = str(channel["id"])
                    return self._channel_id
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        raise SendError(_explain("channel_not_found", self.channel), fatal=True)

    def post_in_thread(self, incident: Incident, text: str) -> str:
        """Post plain ``text`` in the incident's thread (the channel when it has none); return its ``ts``.

        Retried within the budget; after an attempt that may have landed (timeout, dropped
        connection), the thread is searched for it (by a metadata marker) before trying again.
        """
        import hashlib

        from .base import with_retries

        root = thread_ts(incident)
        channel = (thread_channel(incident) if root is not None else None) or self.channel
        marker = {"incident": incident.id, "text": hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]}
        started = _now_utc()
        extra = {"thread_ts": root} if root else {}

        def post() -> str:
            response = _call(
                self.client, "chat_postMessage", channel, channel=channel, text=text,
                metadata={"event_type": REMINDER_EVENT, "event_payload": marker}, **extra,
            )  # fmt: skip
            return str(response["ts"])

        def landed(_exc: SendError) -> str | None:
            if root is not None:
                found = self._find_marked("conversations_replies", {"channel": channel, "ts": root}, marker)
            else:
                oldest = (started - CLOCK_SKEW).timestamp()
                found = self._find_marked(
                    "conversations_history", {"channel": self._resolve_channel_id(), "oldest": f"{oldest:.6f}"}, marker
                )
            return found

        # A lookup that cannot complete ends the retries without a resend (with_retries asks through ask_landed).
        return with_retries(post, self.budget, before_retry=landed)[0]

    def send(self, incident: Incident, timeline_index: int, message: Message) -> Sent:
        entry = incident.timeline[timeline_index]
        key = (incident.id, timeline_index)
        delivery = entry.deliveries.get(CHANNEL)
        # The engine counts this attempt before calling: more than one means an earlier one may have
        # landed. Look for it first; when the lookup cannot complete, do not send (find_sent raises).
        if delivery is not None and delivery.attempts > 1 and key not in self.checked:
            found = self.find_sent(incident, timeline_index, message)
            if found is not None:
                self.checked.add(key)
                return found
        self.checked.add(key)
        try:
            return self._post(incident, timeline_index, message)
        except SendError as exc:
            if exc.maybe_sent:
                self.checked.discard(key)
            raise

    def _post(self, incident: Incident, timeline_index: int, message: Message) -> Sent:
        entry = incident.timeline[timeline_index]
        payload = message.payload
        first = _is_first(incident, timeline_index)
        root = None if first else self._root(incident)
        if not first and root is None:
            raise SendError("slack: the incident's first message has not been delivered yet", retry_after=None)
        extra: dict[str, Any] = {}
        if root is not None:
            extra["thread_ts"] = root[1]
            if broadcasts(incident, entry):
                extra["reply_broadcast"] = True
        response = _call(
            self.client,
            "chat_postMessage",
            self.channel,
            channel=root[0] if root is not None else self.channel,
            text=payload["text"],
            blocks=payload.get("blocks"),
            metadata=_metadata(incident, entry),
            unfurl_links=False,
            unfurl_media=False,
            **extra,
        )
        channel_id = str(response.get("channel") or (root[0] if root else self.channel))
        if root is None and _looks_like_id(channel_id):
            self._channel_id = channel_id
        ts = str(response["ts"])
        return Sent(ref=ts, refs=(f"{channel_id}/{ts}",))

    def find_sent(self, incident: Incident, timeline_index: int, message: Message) -> Sent | None:
        """Our message for the entry, found by its metadata marker; ``None`` when it is not there.

        Reads every page (cursors) of the channel's history since the attempt, less a margin for
        a local clock that runs fast (:data:`CLOCK_SKEW`), or of the incident's thread. Raises
        :class:`SendError` (not retried) when the lookup cannot complete: then nobody knows.
        """
        entry = incident.timeline[timeline_index]
        marker = _metadata(incident, entry)["event_payload"]
        if _is_first(incident, timeline_index):
            channel_id = self._resolve_channel_id()
            delivery = entry.deliveries.get(CHANNEL)
            # The earliest attempt time seen in this run: send() checks after the current attempt's
            # time was recorded, which must not move the window past an earlier attempt.
            seen = delivery.at if delivery is not None and delivery.at else entry.at
            key = (incident.id, timeline_index)
            self._since[key] = earliest = min(seen, self._since.get(key, seen))
            since = earliest - CLOCK_SKEW
            found = self._find_marked(
                "conversations_history", {"channel": channel_id, "oldest": f"{since.timestamp():.6f}"}, marker
            )
        else:
            root = self._root(incident)
            if root is None:
                return None
            channel_id = root[0]
            found = self._find_marked("conversations_replies", {"channel": channel_id, "ts": root[1]}, marker)
        return Sent(ref=found, refs=(f"{channel_id}/{found}",)) if found is not None else None

    def _find_marked(self, method: str, arguments: dict[str, Any], marker: dict[str, Any]) -> str | None:
        """The ``ts`` of the message carrying ``marker`` among every page of ``method``."""
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            try:
                response = _call(
                    self.client, method, self.channel, include_all_metadata=True, limit=200, cursor=cursor,
                    **arguments,
                )  # fmt: skip
            except SendError as exc:
                raise SendError(f"{exc}: {UNANSWERED}", fatal=exc.fatal) from None
            for message in response.get("messages", []):
                metadata = message.get("metadata") or {}
                if (
                    metadata.get("event_type") in (METADATA_EVENT, REMINDER_EVENT)
                    and metadata.get("event_payload") == marker
                ):
                    return str(message["ts"])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        raise SendError(
            f"slack: more than {MAX_PAGES * 200} messages to look through for an earlier attempt: not sent again; "
            "check the channel, then mark the delivery by hand or publish again"
        )

    def finish(self, incident: Incident, latest: Message | None) -> None:
        """Edit the root message to show the current status and the latest update."""
        root = self._root(incident)
        if root is None or latest is None:
            return
        first = next(entry for entry in incident.timeline if entry.public)
        _call(
            self.client,
            "chat_update",
            self.channel,
            channel=root[0],
            ts=root[1],
            text=latest.payload["text"],
            blocks=latest.payload.get("blocks"),
            metadata=_metadata(incident, first),
        )


#: Maintenance notices a thread reply also shows in the channel: the ones people must not miss.
BROADCAST_NOTICES = frozenset({"reminder", "rescheduled", "started"})


def broadcasts(incident: Incident, entry: Entry) -> bool:
    """Does the reply for ``entry`` go to the channel too (``reply_broadcast``)? A resolution, a maintenance
    completed or cancelled, and a maintenance's reminder, changed window or start."""
    from ..vocabulary import FINISHED_STATUSES

    if entry.status in FINISHED_STATUSES:
        return True
    if not incident.is_maintenance:
        return False
    if entry.notice in ("reminder", "rescheduled"):
        return True
    public = [item for item in incident.timeline if item.public]
    position = next((number for number, item in enumerate(public) if item is entry), None)
    if position is None or position == 0:
        return False
    if entry.scheduled_for is not None:
        return True  # the window moved
    return entry.status == "in_progress" and public[position - 1].status != "in_progress"


def _is_first(incident: Incident, index: int) -> bool:
    """Is ``timeline[index]`` the incident's first public entry (the thread's root)?"""
    return not any(entry.public for entry in incident.timeline[:index])

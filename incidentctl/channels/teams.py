"""Microsoft Teams through a Workflows webhook (``TEAMS_WEBHOOK_URL``; never printed).

The URL is the one Teams' Workflows app gives for "Post to a channel when a webhook request is
received" (Microsoft 365 connectors, the older incoming webhooks, are retired; Workflows accept
Adaptive Cards only). Each public entry is one message carrying one Adaptive Card, version 1.5:

    {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                         "contentUrl": null, "content": {...card...}}]}

Teams workflows cannot keep a thread: every entry is a new post in the channel, and a post cannot
be edited afterwards (the webhook returns no message id, only ``202 Accepted`` and the flow run's
id, which is recorded as the delivery ref). An update longer than one message (about 28 KB) becomes
several cards numbered ``(1/2)``, never cut.

Idempotency: the webhook offers no lookup, so what is guaranteed is the same as Discord's: an entry
is never lost, cards of a split entry that went out are not resent, a delivery left ``pending`` by
a run killed before the request is sent once; an interruption between Teams accepting a card and
the answer being recorded may post that card twice.
"""

from __future__ import annotations

import json
import os
import re
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, TemplateError
from ..vocabulary import STATUS_LABELS
from . import httpjson
from .base import ChannelSettings, ConnectContext, Message, Preview, RenderContext, Secret, SendError, Sent
from .textsplit import split_text

if TYPE_CHECKING:
    from ..model import Incident

CHANNEL = "teams"
TEMPLATE = "teams.json.j2"
SECRET = "TEAMS_WEBHOOK_URL"
SECRETS = (
    Secret(
        SECRET,
        'in the Teams channel, add the Workflows template "Post to a channel when a webhook request is received" '
        "and export the URL it gives",
    ),
)
CARD_VERSION = "1.5"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
#: Teams takes about 28 KB per message; the update's text gets this much JSON per card, leaving
#: room for the heading, facts and envelope.
BODY_JSON_LIMIT = 16_000
RUN_ID_HEADER = "x-ms-workflow-run-id"


class TeamsSettings(ChannelSettings):
    """``channels.teams`` in ``incidentctl.yaml`` (nothing to set yet: the URL is the secret)."""


# -- escaping ---------------------------------------------------------------------------------------

_MARKDOWN = re.compile(r"([\\*_~`\[\]()#>|<-])")
_ORDERED = re.compile(r"^(\s*\d+)\.", re.MULTILINE)


def escape_markdown(value: Any) -> str:
    """TextBlock markdown (Teams): backslash-escape emphasis, links, headings, lists and quotes."""
    return _ORDERED.sub(r"\1\\.", _MARKDOWN.sub(r"\\\1", str(value)))


def envelope(card: dict[str, Any]) -> dict[str, Any]:
    """The message a Workflows webhook expects around one card."""
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }


def webhook_url() -> str:
    url = (os.environ.get(SECRET) or "").strip()
    if not url:
        raise ConfigError(
            f'teams: {SECRET} is not set: in Teams, add the Workflows template "Post to a channel when a webhook '
            'request is received" and export the URL it gives'
        )
    if not url.startswith(("https://", "http://")) or " " in url:
        raise ConfigError(f"teams: {SECRET} does not look like a URL (https://...)")
    return url


class TeamsChannel:
    """One Adaptive Card per entry, posted by a Teams workflow."""

    name = CHANNEL
    settings_model = TeamsSettings
    secrets = SECRETS
    edits_root = False
    confirms_delivery = False  # a webhook cannot be asked whether an interrupted post landed

    def render(self, context: RenderContext) -> Message:
        values = context.message_context()
        text = context.entry.message.strip()
        chunks = split_text(text, BODY_JSON_LIMIT, lambda part: len(json.dumps(part))) if text else [""]
        cards = []
        name = context.template_name(TEMPLATE)
        for number, chunk in enumerate(chunks, 1):
            rendered = context.render_template(
                TEMPLATE, md=escape_markdown, body_text=chunk, part=number, parts=len(chunks)
            )
            try:
                card = json.loads(rendered)
            except json.JSONDecodeError as exc:
                raise TemplateError(f"{name}:{exc.lineno}: the template did not render valid JSON: {exc.msg}") from None
            if (
                not isinstance(card, dict)
                or card.get("type") != "AdaptiveCard"
                or not isinstance(card.get("body"), list)
            ):
                raise TemplateError(
                    f'{name}:1: must render an Adaptive Card ({{"type": "AdaptiveCard", "body": [...]}})'
                )
            cards.append(envelope(card))
        label = STATUS_LABELS.get(values["status"], str(values["status"]).capitalize())
        heading = f"{'Maintenance ' + label.lower() if context.is_maintenance else label}: {context.incident.title}"
        return Message(channel=CHANNEL, text=f"{heading}\n\n{text}".strip(), payload={"messages": cards})

    def show(self, preview: Preview, *, demo: bool) -> list[str]:
        if not demo:
            return json.dumps(preview.payload, indent=2, ensure_ascii=False).splitlines()
        cards = len(preview.payload.get("messages") or [])
        label = "Adaptive Card" if cards < 2 else f"{cards} Adaptive Cards"
        return [f"[{CHANNEL}, {label} posted by the workflow]", *(f"  {line}" for line in preview.text.splitlines())]

    def connect(self, context: ConnectContext) -> TeamsSender:
        return TeamsSender(webhook_url(), timeout=context.retry.timeout)


class TeamsSender:
    """One run's connection to the workflow."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self.http = httpjson.session()
        self.progress: dict[tuple[str, int], list[str]] = {}

    def _post(self, body: dict[str, Any]) -> str:
        response = httpjson.send_json(
            self.http, "POST", self.url, channel=CHANNEL, what="the Teams workflow", body=body, timeout=self.timeout
        )
        status = response.status_code
        if 200 <= status < 300:
            return response.headers.get(RUN_ID_HEADER) or f"accepted-{status}"
        data = httpjson.json_body(response)
        error = data.get("error") if isinstance(data, dict) else None
        detail = ""
        if isinstance(error, dict):
            detail = httpjson.one_line(f"{error.get('code', '')}: {error.get('message', '')}".strip(": "))
        if status in (401, 403, 404):
            raise SendError(
                f"teams: {status}: the workflow refused the URL ({detail or 'unauthorized or not found'}): the flow may be "
                f"off or deleted, or {SECRET} is wrong; copy the URL again from the Workflows app",
                fatal=True,
            )
        raise SendError(f"teams: {status}: {detail or 'the workflow refused the card'}")

    def send(self, incident: Incident, index: int, message: Message) -> Sent:
        entry = incident.timeline[index]
        delivery = entry.deliveries.get(CHANNEL)
        key = (incident.id, index)
        posted = self.progress.setdefault(key, list(delivery.refs) if delivery is not None else [])
        for body in message.payload["messages"][len(posted) :]:
            try:
                posted.append(self._post(body))
            except SendError as exc:
                exc.partial_refs = list(posted)
                raise
        self.progress.pop(key, None)
        return Sent(ref=posted[-1] if posted else None, refs=tuple(posted))

    def find_sent(self, incident: Incident, index: int, message: Message) -> Sent | None:
        return None  # a workflow webhook has no lookup; see the module docstring

    def finish(self, incident: Incident, latest: Message | None) -> None:
        return None  # Teams posts from a workflow cannot be edited

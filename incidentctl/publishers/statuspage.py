"""The status page channel: entries reach it when the static site is built from the repo.

There is nothing to send: an entry is "delivered" once it is public in the record, and
``site build`` renders it (``templates/statuspage/update.html.j2`` is the per-update piece).
This publisher exists so the channel fits the same protocol, previews and delivery records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Message, RenderContext, RetryBudget, Sent

if TYPE_CHECKING:
    from ..config import Config
    from ..model import Incident

CHANNEL = "statuspage"
TEMPLATE = "statuspage/update.html.j2"


class StatuspagePublisher:
    name = CHANNEL

    def render(self, context: RenderContext) -> Message:
        from ..render import message_context, render

        html = render(context.env, TEMPLATE, **message_context(context.incident, context.entry, context.config))
        return Message(channel=CHANNEL, text=html.strip(), payload={"html": html.strip()})

    def connect(self, config: Config, budget: RetryBudget) -> StatuspageSender:
        return StatuspageSender(config)


class StatuspageSender:
    def __init__(self, config: Config) -> None:
        settings = config.channels.statuspage
        self.output = settings.output if settings is not None else "site"

    def send(self, incident: Incident, index: int, message: Message) -> Sent:
        # The record is the source of the site: the entry is published by the next `site build`.
        return Sent(ref=f"{self.output}/incidents/{incident.id}.html")

    def find_sent(self, incident: Incident, index: int, message: Message) -> Sent | None:
        return None

    def finish(self, incident: Incident, latest: Message | None) -> None:
        return None

"""The status page channel: an entry is delivered when the static site is rebuilt with it.

Sending means rebuilding the site from the repo (once per ``publish`` run, before the first entry
is marked delivered); the delivery's ref is the incident page, relative to the site root, or its
full URL when ``channels.statuspage.url`` is set. ``templates/statuspage/update.html.j2`` renders
one update for previews and ``--dry-run``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Message, RenderContext, RetryBudget, SendError, Sent

if TYPE_CHECKING:
    from ..config import Config
    from ..model import Incident
    from ..store import Repo

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
        self.url = (settings.url or "").rstrip("/") if settings is not None else ""
        self.repo: Repo | None = None
        self._built = False

    def bind_repo(self, repo: Repo) -> None:
        self.repo = repo

    def _build(self) -> None:
        if self._built:
            return
        if self.repo is None:
            raise SendError("statuspage: no incident repo to build the site from", fatal=True)
        from ..site import build_site

        try:
            build_site(self.repo)
        except OSError as exc:
            raise SendError(f"statuspage: cannot write the site: {exc.strerror or exc}", fatal=True) from None
        self._built = True

    def send(self, incident: Incident, index: int, message: Message) -> Sent:
        self._build()
        page = f"incidents/{incident.id}.html"
        return Sent(ref=f"{self.url}/{page}" if self.url else page)

    def find_sent(self, incident: Incident, index: int, message: Message) -> Sent | None:
        return None  # rebuilding is idempotent: sending again is always safe

    def finish(self, incident: Incident, latest: Message | None) -> None:
        return None

"""The status page channel: an entry is delivered when the static site is rebuilt with it.

Sending means rebuilding the site from the repo (once per ``publish`` run, before the first entry
is marked delivered); the delivery's ref is the incident page, relative to the site root, or its
full URL when ``channels.statuspage.url`` is set. ``templates/statuspage/update.html.j2`` renders
one update for previews and ``--dry-run``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from .base import ChannelSettings, ConnectContext, Message, Preview, RenderContext, SendError, Sent

if TYPE_CHECKING:
    from ..model import Incident
    from ..store import Repo

CHANNEL = "statuspage"
TEMPLATE = "statuspage/update.html.j2"


class StatuspageSettings(ChannelSettings):
    output: str = "site"
    url: str | None = None
    title: str | None = None
    history_page_size: int = Field(default=50, ge=1)


class StatuspageChannel:
    name = CHANNEL
    settings_model = StatuspageSettings
    secrets = ()
    edits_root = False

    def render(self, context: RenderContext) -> Message:
        html = context.render_template(TEMPLATE)
        return Message(channel=CHANNEL, text=html.strip(), payload={"html": html.strip()})

    def show(self, preview: Preview, *, demo: bool) -> list[str]:
        if demo:
            return [f"[{CHANNEL}] incidents/{preview.incident_id}.html rebuilt with this update"]
        return [preview.text]

    def connect(self, context: ConnectContext) -> StatuspageSender:
        return StatuspageSender(context.repo, context.settings)


def settings_for(config: Any) -> StatuspageSettings | None:
    """The validated ``channels.statuspage`` settings of ``config``, ``None`` when not configured."""
    settings = config.channel_settings(CHANNEL)
    return settings if isinstance(settings, StatuspageSettings) else None


class StatuspageSender:
    def __init__(self, repo: Repo, settings: Any) -> None:
        url = settings.url if isinstance(settings, StatuspageSettings) else None
        self.url = (url or "").rstrip("/")
        self.repo = repo
        self._built = False

    def _build(self) -> None:
        if self._built:
            return
        from ..site import build_site

        try:
            build_site(self.repo)
        except OSError as exc:
            raise SendError(f"statuspage: cannot write the site: {exc.strerror or exc}", fatal=True) from None
        self._built = True

    def send(self, incident: Incident, timeline_index: int, message: Message) -> Sent:
        self._build()
        page = f"incidents/{incident.id}.html"
        return Sent(ref=f"{self.url}/{page}" if self.url else page)

    def find_sent(self, incident: Incident, timeline_index: int, message: Message) -> Sent | None:
        return None  # rebuilding is idempotent: sending again is always safe

    def finish(self, incident: Incident, latest: Message | None) -> None:
        return None

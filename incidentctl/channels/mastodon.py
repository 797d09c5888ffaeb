"""Mastodon: the first entry is a post, later entries reply to the incident's previous post.

Needs the optional ``Mastodon.py`` library (``pip install 'incidentctl[mastodon]'``); rendering
(``--dry-run``) does not. Settings: ``channels.mastodon: {instance: URL, visibility: public}``;
secret: ``MASTODON_ACCESS_TOKEN`` (an application token with the ``write:statuses`` scope).

Length: the instance's own limit, read once per run from ``/api/v2/instance``
(``configuration.statuses.max_characters``; every URL counts ``characters_reserved_per_url``).
A dry run assumes Mastodon's defaults (500 and 23). Longer text becomes a numbered thread, split
like X's (at word boundaries, never inside a URL).

Idempotency: every post carries an ``Idempotency-Key`` derived from the incident, the entry (time,
status, text) and the part, so a post retried after a timeout or a killed run is answered with the
status that already exists instead of a second one, for as long as the instance remembers the key
(Mastodon: one hour). Parts of a thread that went out are recorded and never resent.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from typing import TYPE_CHECKING, Any, Literal

from pydantic import field_validator

from ..durations import isoformat_z
from ..errors import ConfigError
from .base import ChannelSettings, ConnectContext, Message, Preview, RenderContext, Secret, SendError, Sent
from .textsplit import split_text, url_weighted_length

if TYPE_CHECKING:
    from mastodon import Mastodon

    from ..model import Entry, Incident

CHANNEL = "mastodon"
TEMPLATE = "mastodon.txt.j2"
SECRET = "MASTODON_ACCESS_TOKEN"
EXTRA_HINT = "pip install 'incidentctl[mastodon]'"
SECRETS = (
    Secret(
        SECRET,
        "create an application on your instance (Preferences > Development, scope write:statuses) "
        "and export its access token",
    ),
)
DEFAULT_MAX_CHARACTERS = 500
DEFAULT_URL_CHARACTERS = 23

_MENTION = re.compile(r"@(?=\w)")


class MastodonSettings(ChannelSettings):
    """``channels.mastodon`` in ``incidentctl.yaml``."""

    instance: str
    """The server the account lives on, e.g. ``https://mastodon.social``."""
    visibility: Literal["public", "unlisted", "private", "direct"] = "public"

    @field_validator("instance")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError("must be the instance's URL, e.g. https://mastodon.social")
        return value


def settings_of(value: Any) -> MastodonSettings:
    """The validated ``channels.mastodon`` settings (``instance`` is required: validated at config load)."""
    if not isinstance(value, MastodonSettings):
        raise ConfigError("incidentctl.yaml: channels.mastodon.instance: Field required (e.g. https://mastodon.social)")
    return value


def thread_lines(channel: str, preview: Preview, *, demo: bool) -> list[str]:
    """A threaded text post as shown: each part (the thread it becomes) with its number."""
    parts = [str(part) for part in preview.payload.get("parts") or [preview.text]]
    if not demo:
        return [
            line
            for number, part in enumerate(parts, 1)
            for line in (f"--- post {number}/{len(parts)}", *part.splitlines())
        ]
    label = "new post" if preview.kind == "post" else "reply in the incident's thread"
    lines = [f"[{channel}, {label}" + (f", a thread of {len(parts)} posts]" if len(parts) > 1 else "]")]
    for number, part in enumerate(parts):
        if number:
            lines.append("  ---")
        lines.extend(f"  {line}" for line in part.splitlines())
    return lines


def no_mentions(text: str) -> str:
    """Incident text must not notify accounts: a zero-width space after ``@`` breaks a mention."""
    return _MENTION.sub("@\u200b", text)


def split_status(text: str, max_characters: int, url_characters: int) -> list[str]:
    return split_text(text, max_characters, lambda part: url_weighted_length(part, url_characters))


def entry_fingerprint(incident_id: str, entry: Entry) -> str:
    text = f"{incident_id}|{isoformat_z(entry.at)}|{entry.status}|{entry.message}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def idempotency_key(incident_id: str, entry: Entry, part: int, total: int) -> str:
    """Stable per entry and part: the same post retried carries the same key."""
    return f"incidentctl-{entry_fingerprint(incident_id, entry)[:40]}-{part}of{total}"


class MastodonChannel:
    """Plain-text statuses, threaded per incident by ``in_reply_to_id``."""

    name = CHANNEL
    settings_model = MastodonSettings
    secrets = SECRETS
    edits_root = False

    def render(self, context: RenderContext) -> Message:
        text = no_mentions(context.render_template(TEMPLATE).strip())
        text = re.sub(r"\n{3,}", "\n\n", text)
        parts = tuple(split_status(text, DEFAULT_MAX_CHARACTERS, DEFAULT_URL_CHARACTERS))
        return Message(channel=CHANNEL, text=text, payload={"parts": list(parts)}, parts=parts)

    def show(self, preview: Preview, *, demo: bool) -> list[str]:
        return thread_lines(CHANNEL, preview, demo=demo)

    def connect(self, context: ConnectContext) -> MastodonSender:
        settings = settings_of(context.settings)
        token = os.environ.get(SECRET)
        if not token:
            raise ConfigError(
                f"mastodon: {SECRET} is not set: create an application on {settings.instance} (Preferences > "
                "Development, scope write:statuses) and export its access token"
            )
        try:
            from mastodon import Mastodon
        except ImportError:
            raise ConfigError(f"mastodon: the Mastodon.py library is not installed: {EXTRA_HINT}") from None
        api = Mastodon(
            access_token=token,
            api_base_url=settings.instance,
            ratelimit_method="throw",
            request_timeout=context.retry.timeout,
            version_check_mode="none",
        )
        return MastodonSender(api, settings)


class MastodonSender:
    """One run's connection to the instance."""

    def __init__(self, api: Mastodon, settings: MastodonSettings) -> None:
        self.api = api
        self.settings = settings
        self.limits: tuple[int, int] | None = None
        self.progress: dict[tuple[str, int], list[str]] = {}

    # -- the instance's limits, once per run --------------------------------------------------------

    def _limits(self) -> tuple[int, int]:
        if self.limits is None:
            info = self._call(self.api.instance_v2, what="read the instance's limits")
            statuses = ((info or {}).get("configuration") or {}).get("statuses") or {}
            maximum = statuses.get("max_characters") or DEFAULT_MAX_CHARACTERS
            per_url = statuses.get("characters_reserved_per_url") or DEFAULT_URL_CHARACTERS
            self.limits = (int(maximum), int(per_url))
        return self.limits

    # -- calls ----------------------------------------------------------------------------------------

    def _call(self, method: Any, *args: Any, what: str, **kwargs: Any) -> Any:
        import mastodon

        try:
            return method(*args, **kwargs)
        except mastodon.MastodonRatelimitError:
            reset = getattr(self.api, "ratelimit_reset", None)
            wait = max(0.0, float(reset) - time.time()) if isinstance(reset, int | float) else 0.0
            raise SendError("mastodon: rate limited (429)", retry_after=wait) from None
        except mastodon.MastodonUnauthorizedError:
            raise SendError(
                f"mastodon: 401 Unauthorized: {SECRET} is not a valid token for {self.settings.instance} "
                "(it needs the write:statuses scope)",
                fatal=True,
            ) from None
        except mastodon.MastodonServerError as exc:
            raise SendError(f"mastodon: server error {_status(exc)}", retry_after=0.0) from None
        except mastodon.MastodonNetworkError:
            raise SendError(
                f"mastodon: cannot reach {self.settings.instance} to {what}: check the network or channels.mastodon.instance",
                retry_after=0.0,
                maybe_sent=True,
            ) from None
        except mastodon.MastodonAPIError as exc:
            status = _status(exc)
            detail = str(exc.args[3]) if len(exc.args) > 3 and exc.args[3] else "refused"
            raise SendError(f"mastodon: {status}: {' '.join(detail.split())[:300]}", fatal=status in (403,)) from None
        except mastodon.MastodonError as exc:
            raise SendError(f"mastodon: {type(exc).__name__}", retry_after=0.0, maybe_sent=True) from None

    # -- the Sender protocol ----------------------------------------------------------------------

    def send(self, incident: Incident, index: int, message: Message) -> Sent:
        entry = incident.timeline[index]
        maximum, per_url = self._limits()
        parts = split_status(message.text, maximum, per_url)
        delivery = entry.deliveries.get(CHANNEL)
        key = (incident.id, index)
        posted = self.progress.setdefault(key, list(delivery.refs) if delivery is not None else [])
        reply_to = posted[-1] if posted else _previous_post(incident, index)
        for number, text in enumerate(parts[len(posted) :], len(posted) + 1):
            try:
                status = self._call(
                    self.api.status_post,
                    text,
                    in_reply_to_id=reply_to,
                    visibility=self.settings.visibility,
                    idempotency_key=idempotency_key(incident.id, entry, number, len(parts)),
                    what="post",
                )
            except SendError as exc:
                exc.partial_refs = list(posted)
                raise
            status_id = str(status["id"])
            posted.append(status_id)
            reply_to = status_id
        self.progress.pop(key, None)
        return Sent(ref=posted[-1] if posted else None, refs=tuple(posted))

    def find_sent(self, incident: Incident, index: int, message: Message) -> Sent | None:
        # The idempotency key makes the resend itself the check: the instance answers with the
        # status that already exists.
        return None

    def finish(self, incident: Incident, latest: Message | None) -> None:
        return None


def _status(exc: Exception) -> int:
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    return int(args[1]) if len(args) > 1 and isinstance(args[1], int) else 0


def _previous_post(incident: Incident, index: int) -> str | None:
    """The incident's latest post before ``timeline[index]``: the one to reply to."""
    for entry in reversed(incident.timeline[:index]):
        delivery = entry.deliveries.get(CHANNEL)
        if entry.public and delivery is not None and delivery.state == "delivered" and delivery.ref:
            return delivery.ref
    return None

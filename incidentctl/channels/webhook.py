"""Webhook subscribers: one signed POST per subscriber per public entry, in Statuspage's webhook shape.

Subscribers come from the YAML/JSON file named by ``INCIDENTCTL_WEBHOOK_SUBSCRIBERS`` (a list of
``{id, url, secret, components?}``), kept out of the repo. The body is Statuspage's webhook JSON
(``meta``, ``page``, ``incident`` with ``incident_updates`` newest first, and ``component_update``
plus ``component`` when the entry changed a component), so receivers written for Statuspage work.

Signing follows Standard Webhooks: ``webhook-id`` (stable per entry and subscriber: receivers
de-duplicate on it), ``webhook-timestamp`` (Unix seconds) and ``webhook-signature:
v1,<base64 HMAC-SHA256 of "id.timestamp.body">``. A ``whsec_<base64>`` secret is decoded as the
standard says; any other secret is used as its UTF-8 bytes as the HMAC key (what a receiver gets
by passing ``secret.encode()`` to the ``standardwebhooks`` library).

A 2xx answer within the retry policy's request timeout (5 s by default) is a delivery; a redirect is a failure (never followed); 5xx, 429, 408,
timeouts and connection errors are retried within the run's budget. Delivered subscriber ids are
recorded in the delivery's ``refs``: a subscriber that failed is retried by the next ``publish``,
and the ones that got the entry never get it again. URLs and secrets are never printed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..durations import isoformat_z
from ..errors import ConfigError
from .base import (
    ChannelSettings,
    ConnectContext,
    Message,
    Preview,
    ProgressHook,
    RenderContext,
    Secret,
    SendError,
    Sent,
    retry_after_seconds,
)
from .subscribers import check_components, entry_stamp, load_subscriber_file, touched_components, wants

if TYPE_CHECKING:
    import requests

    from ..config import Config
    from ..model import Entry, Incident

CHANNEL = "webhook"
SUBSCRIBERS_ENV = "INCIDENTCTL_WEBHOOK_SUBSCRIBERS"
SECRETS = (
    Secret(
        SUBSCRIBERS_ENV,
        f"export {SUBSCRIBERS_ENV}=the path of a YAML/JSON list of {{id, url, secret, components?}} "
        "(keep it out of the repo)",
    ),
)
SECRET_PREFIX = "whsec_"
DOCUMENTATION_URL = "https://www.standardwebhooks.com/"
USER_AGENT = "incidentctl-webhook/1"

#: Statuspage's page indicator and description for the worst current impact.
_INDICATORS = {
    "operational": ("none", "All Systems Operational"),
    "under_maintenance": ("maintenance", "Service Under Maintenance"),
    "degraded_performance": ("minor", "Minor Service Outage"),
    "partial_outage": ("major", "Partial System Outage"),
    "major_outage": ("critical", "Major System Outage"),
}
_RANK = ["operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage"]


class WebhookSettings(ChannelSettings):
    """``channels.webhook`` in incidentctl.yaml (all optional)."""

    unsubscribe_url: str | None = None
    """Shown to receivers as ``meta.unsubscribe``."""
    documentation_url: str = DOCUMENTATION_URL
    """Shown to receivers as ``meta.documentation``."""
    page_id: str | None = None
    """``page.id`` in the body (default: the organization name as a slug)."""


class WebhookSubscriber(BaseModel):
    """One item of the subscribers file."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    url: str
    secret: str = Field(min_length=1)
    components: list[str] | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(value.strip())
        except ValueError:
            raise ValueError("must be an http(s) URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL")
        return value.strip()

    @field_validator("secret")
    @classmethod
    def _usable_secret(cls, value: str) -> str:
        signing_key(value)
        return value


def signing_key(secret: str) -> bytes:
    """The HMAC key: ``whsec_<base64>`` decoded (as ``standardwebhooks`` does), else the UTF-8 bytes."""
    if secret.startswith(SECRET_PREFIX):
        try:
            key = base64.b64decode(secret[len(SECRET_PREFIX) :] + "==")
        except (binascii.Error, ValueError):
            raise ValueError("a whsec_ secret must be base64 after the prefix") from None
        if not key:
            raise ValueError("a whsec_ secret must not be empty after the prefix")
        return key
    return secret.encode("utf-8")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one request."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def webhook_id(incident_id: str, stamp: str, subscriber_id: str) -> str:
    """Stable per entry and subscriber, so a resend after a crash is recognised by the receiver."""
    digest = hashlib.sha256(f"{incident_id}|{stamp}|{subscriber_id}".encode()).hexdigest()[:32]
    return f"msg_{digest}"


# -- the body -------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    slug = "".join(ch if ch.isalnum() else "-" for ch in text.lower())
    return "-".join(part for part in slug.split("-") if part) or "page"


def _worst(impacts: dict[str, str]) -> str:
    worst = "operational"
    for impact in impacts.values():
        if impact in _RANK and _RANK.index(impact) > _RANK.index(worst):
            worst = impact
    return worst


def _impact_name(impact: str) -> str:
    return _INDICATORS.get(impact, ("none", ""))[0]


def build_body(context: RenderContext, settings: WebhookSettings) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Statuspage's webhook JSON for one entry, and every component change the entry made.

    ``context.incident`` is the public view, so nothing internal can reach the body.
    """
    from ..render import incident_url

    incident, entry, config = context.incident, context.entry, context.config
    upto = incident.timeline[: context.public_index + 1]
    before: dict[str, str] = {}
    for earlier in upto[:-1]:
        before.update(earlier.components)
    now = {**before, **entry.components}
    stamps = {id(item): entry_stamp(incident, item) for item in upto}

    def update_id(item: Entry) -> str:
        return f"{incident.id}-{stamps[id(item)]}"

    changes = [
        {
            "created_at": isoformat_z(entry.at),
            "new_status": new,
            "old_status": before.get(component_id, "operational"),
            "id": f"{update_id(entry)}-{component_id}",
            "component_id": component_id,
        }
        for component_id, new in entry.components.items()
        if new != before.get(component_id, "operational")
        or (component_id not in before and not incident.is_maintenance)  # a maintenance names them operational first
    ]
    updates = []
    seen: dict[str, str] = {}
    for item in upto:
        affected = [
            {
                "code": component_id,
                "name": config.component_name(component_id),
                "old_status": seen.get(component_id, "operational"),
                "new_status": new,
            }
            for component_id, new in item.components.items()
        ]
        seen.update(item.components)
        updates.append(
            {
                "id": update_id(item),
                "incident_id": incident.id,
                "status": item.status,
                "body": item.message,
                "created_at": isoformat_z(item.at),
                "updated_at": isoformat_z(item.at),
                "display_at": isoformat_z(item.at),
                "affected_components": affected,
            }
        )
    updates.reverse()  # Statuspage lists the newest update first
    worst = _worst(now)
    indicator, description = _INDICATORS[worst]
    resolved = [item.at for item in upto if item.status == "resolved"]
    monitoring = [item.at for item in upto if item.status == "monitoring"]
    body: dict[str, Any] = {
        "meta": {"unsubscribe": settings.unsubscribe_url, "documentation": settings.documentation_url},
        "page": {
            "id": settings.page_id or _slug(config.organization),
            "status_indicator": indicator,
            "status_description": description,
        },
        "incident": {
            "id": incident.id,
            "name": incident.title,
            "status": entry.status,
            "impact": _impact_name(_worst({k: v for item in upto for k, v in item.components.items()})),
            "created_at": isoformat_z(incident.started_at),
            "updated_at": isoformat_z(entry.at),
            "started_at": isoformat_z(incident.started_at),
            "monitoring_at": isoformat_z(monitoring[-1]) if monitoring else None,
            "resolved_at": isoformat_z(resolved[-1]) if entry.status == "resolved" and resolved else None,
            "shortlink": incident_url(config, incident.id),
            "page_id": settings.page_id or _slug(config.organization),
            "components": [
                {"id": component_id, "name": config.component_name(component_id), "status": status}
                for component_id, status in now.items()
            ],
            "incident_updates": updates,
        },
    }
    if incident.is_maintenance:
        body["incident"].update(_maintenance_fields(context, upto))
    return body, changes


def _maintenance_fields(context: RenderContext, upto: list[Entry]) -> dict[str, Any]:
    """Statuspage's scheduled-maintenance fields of the ``incident`` object: the window in force at the
    entry, ``impact: maintenance``, ``resolved_at`` once completed or cancelled, the automation switches."""
    from ..render import maintenance_context
    from ..vocabulary import FINISHED_STATUSES

    incident, entry = context.incident, context.entry
    window = maintenance_context(incident, entry, context.config)["window"]
    reminded = [item.at for item in upto if item.notice == "reminder"]
    return {
        "impact": "maintenance",
        "scheduled_for": isoformat_z(window["start"]),
        "scheduled_until": isoformat_z(window["end"]),
        "scheduled_remind_prior": bool(context.config.maintenance.remind_before),
        "scheduled_reminded_at": isoformat_z(reminded[-1]) if reminded else None,
        "scheduled_auto_in_progress": incident.auto_start,
        "scheduled_auto_completed": incident.auto_complete,
        "resolved_at": isoformat_z(entry.at) if entry.status in FINISHED_STATUSES else None,
    }


def _with_component(body: dict[str, Any], change: dict[str, Any] | None, config: Config) -> dict[str, Any]:
    if change is None:
        return body
    component_id = change["component_id"]
    component = {"id": component_id, "name": config.component_name(component_id), "status": change["new_status"]}
    return {**body, "component_update": change, "component": component}


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# -- the channel ----------------------------------------------------------------------------------


def settings_of(value: Any) -> WebhookSettings:
    """The validated ``channels.webhook`` settings (defaults when the context carries none)."""
    return value if isinstance(value, WebhookSettings) else WebhookSettings()


class WebhookChannel:
    """Signed Statuspage-shaped webhooks to every subscriber in ``$INCIDENTCTL_WEBHOOK_SUBSCRIBERS``."""

    name = CHANNEL
    settings_model = WebhookSettings
    secrets = SECRETS
    edits_root = False

    def render(self, context: RenderContext) -> Message:
        body, changes = build_body(context, settings_of(context.settings))
        first = _with_component(body, changes[0] if changes else None, context.config)
        payload = {
            "body": first,
            "component_updates": changes,
            "touched": touched_components(context.incident, context.entry),
            "stamp": entry_stamp(context.incident, context.entry),
        }
        return Message(channel=CHANNEL, text=json.dumps(first, indent=2, ensure_ascii=False), payload=payload)

    def show(self, preview: Preview, *, demo: bool) -> list[str]:
        body = preview.payload.get("body") or {}
        if not demo:
            return json.dumps(body, indent=2, ensure_ascii=False).splitlines()
        lines = body_as_text(body)
        changes = preview.payload.get("component_updates") or []
        if len(changes) > 1:
            lines.append(f"({len(changes)} components changed: a subscriber filtered by component gets its own)")
        return [f"[{CHANNEL}, signed POST to each subscriber]", *(f"  {line}" for line in lines)]

    def connect(self, context: ConnectContext) -> WebhookSender:
        subscribers = load_subscriber_file(SUBSCRIBERS_ENV, WebhookSubscriber, CHANNEL, required=True) or []
        seen: set[str] = set()
        for subscriber in subscribers:
            if subscriber.id in seen:
                raise ConfigError(f"{CHANNEL}: {SUBSCRIBERS_ENV}: subscriber id {subscriber.id!r} is used twice")
            seen.add(subscriber.id)
            check_components(context.config, subscriber.components, f"{CHANNEL}: {SUBSCRIBERS_ENV}: {subscriber.id}")
        return WebhookSender(subscribers, context.config, timeout=context.retry.timeout)


def body_as_text(body: dict[str, Any]) -> list[str]:
    """A webhook body as a person reads it (the demo): the incident, the component change, the update."""
    incident = body.get("incident") or {}
    updates = incident.get("incident_updates") or [{}]
    lines = [
        f"incident {incident.get('id')}: {incident.get('name')} ({incident.get('status')}, impact "
        f"{incident.get('impact')})",
        f"page: {(body.get('page') or {}).get('status_description')}",
    ]
    change = body.get("component_update")
    if change:
        component = (body.get("component") or {}).get("name") or change.get("component_id")
        lines.append(f"component_update: {component} {change.get('old_status')} -> {change.get('new_status')}")
    lines.append(f"update: {updates[0].get('body')}")
    return lines


class _Failure(Exception):
    def __init__(self, reason: str, *, retry_after: float | None = None, maybe_sent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent


class WebhookSender:
    """One run's deliveries; remembers per entry which subscribers got it (and which gave up) in this run."""

    def __init__(
        self,
        subscribers: list[WebhookSubscriber],
        config: Config,
        clock: Callable[[], float] = time.time,
        *,
        timeout: float = 5.0,
    ) -> None:
        self.subscribers = subscribers
        self.config = config
        self.clock = clock
        self.timeout = timeout
        self._session: requests.Session | None = None
        self._done: dict[tuple[str, str], set[str]] = {}
        self._given_up: dict[tuple[str, str], dict[str, str]] = {}
        self.record_progress: ProgressHook | None = None
        """Set by the engine: saves the subscribers an entry reached before the next one is tried."""

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            import requests

            self._session = requests.Session()
            self._session.headers["User-Agent"] = USER_AGENT
        return self._session

    def _eligible(self, message: Message) -> list[WebhookSubscriber]:
        touched = list(message.payload.get("touched") or [])
        return [subscriber for subscriber in self.subscribers if wants(subscriber.components, touched)]

    @staticmethod
    def _recorded(incident: Incident, timeline_index: int) -> list[str]:
        delivery = incident.timeline[timeline_index].deliveries.get(CHANNEL)
        return list(delivery.refs) if delivery is not None else []

    def _body_for(self, subscriber: WebhookSubscriber, message: Message) -> dict[str, Any]:
        changes = list(message.payload.get("component_updates") or [])
        body = dict(message.payload["body"])
        body.pop("component_update", None)
        body.pop("component", None)
        chosen = next(
            (
                change
                for change in changes
                if not subscriber.components or change["component_id"] in subscriber.components
            ),
            None,
        )
        return _with_component(body, chosen, self.config)

    def _post(self, subscriber: WebhookSubscriber, msg_id: str, body: bytes) -> None:
        import requests

        timestamp = int(self.clock())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(subscriber.secret, msg_id, timestamp, body),
        }
        try:
            response = self.session.post(
                subscriber.url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False
            )
        except requests.ConnectTimeout:
            raise _Failure("connection timed out", retry_after=0.0) from None
        except requests.Timeout:
            raise _Failure(f"no answer within {self.timeout:g} s", retry_after=0.0, maybe_sent=True) from None
        except requests.ConnectionError:
            raise _Failure("cannot connect", retry_after=0.0, maybe_sent=True) from None
        except requests.RequestException as exc:  # never str(exc): it holds the URL
            raise _Failure(f"request failed ({type(exc).__name__})") from None
        status = response.status_code
        response.close()
        if 200 <= status < 300:
            return
        if status == 429:
            raise _Failure("HTTP 429", retry_after=retry_after_seconds(response.headers))
        if status >= 500 or status == 408:
            raise _Failure(f"HTTP {status}", retry_after=0.0)
        if 300 <= status < 400:
            raise _Failure(f"HTTP {status} (redirects are not followed)")
        raise _Failure(f"HTTP {status}")

    def send(self, incident: Incident, timeline_index: int, message: Message) -> Sent:
        key = (incident.id, str(message.payload["stamp"]))
        done = self._done.setdefault(key, set())
        given_up = self._given_up.setdefault(key, {})
        recorded = self._recorded(incident, timeline_index)
        eligible = self._eligible(message)
        failures: dict[str, _Failure] = {}
        for subscriber in eligible:
            if subscriber.id in done or subscriber.id in recorded or subscriber.id in given_up:
                continue
            msg_id = webhook_id(incident.id, str(message.payload["stamp"]), subscriber.id)
            try:
                self._post(subscriber, msg_id, encode(self._body_for(subscriber, message)))
            except _Failure as failure:
                failures[subscriber.id] = failure
                if failure.retry_after is None:
                    given_up[subscriber.id] = failure.reason
                continue
            done.add(subscriber.id)
            if self.record_progress is not None:
                self.record_progress(incident.id, timeline_index, list(dict.fromkeys([*recorded, *sorted(done)])))
        delivered = [subscriber.id for subscriber in eligible if subscriber.id in done or subscriber.id in recorded]
        refs = list(dict.fromkeys([*recorded, *delivered]))
        missing = [subscriber.id for subscriber in eligible if subscriber.id not in delivered]
        if not missing:
            return Sent(ref=None, refs=tuple(refs))
        reasons = {**given_up, **{sid: failure.reason for sid, failure in failures.items()}}
        shown = "; ".join(f"{sid}: {reasons.get(sid, 'not sent')}" for sid in missing[:5])
        more = f"; {len(missing) - 5} more" if len(missing) > 5 else ""
        retryable = [failure for failure in failures.values() if failure.retry_after is not None]
        error = SendError(
            f"{CHANNEL}: {len(missing)} of {len(eligible)} subscribers not delivered ({shown}{more})",
            retry_after=max(failure.retry_after or 0.0 for failure in retryable) if retryable else None,
            maybe_sent=any(failure.maybe_sent for failure in retryable),
        )
        error.partial_refs = refs
        raise error

    def find_sent(self, incident: Incident, timeline_index: int, message: Message) -> Sent | None:
        """Delivered when every current subscriber for the entry is recorded (or got it in this run).

        Receivers cannot be asked, so a subscriber not recorded is sent again with the same
        ``webhook-id``: a receiver that already has it de-duplicates.
        """
        recorded = self._recorded(incident, timeline_index)
        done = self._done.get((incident.id, str(message.payload["stamp"])), set())
        eligible = self._eligible(message)
        if all(subscriber.id in recorded or subscriber.id in done for subscriber in eligible):
            delivered = [subscriber.id for subscriber in eligible if subscriber.id in done]
            return Sent(ref=None, refs=tuple(dict.fromkeys([*recorded, *delivered])))
        return None

    def finish(self, incident: Incident, latest: Message | None) -> None:
        return None

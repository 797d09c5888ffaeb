"""Atlassian Statuspage (an existing hosted page) as a mirror: one Statuspage incident per incident.

REST API v1 (``INCIDENTCTL_ATLASSIAN_API_URL``, default ``https://api.statuspage.io/v1``), with
``Authorization: OAuth <STATUSPAGE_API_KEY>``. The first public entry creates the incident
(``POST /pages/{page_id}/incidents``: name, status, body, component statuses through
``channels.atlassian.components``, and ``metadata: {incidentctl: {id: <our id>}}``); each later entry
PATCHes it (status, body, components). Statuspage allows one request per second per key: a small
rate limiter waits between requests (with the retry policy's clock and sleep).

After a crash, ``find_sent`` looks the incident up by our id in its metadata (a search by name,
then the unresolved list) instead of creating a second one; for a later entry it compares the
incident's newest update (status, body, time) with the entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from ..errors import ConfigError
from .base import (
    ChannelSettings,
    ConnectContext,
    Message,
    Preview,
    RenderContext,
    Secret,
    SendError,
    Sent,
    retry_after_seconds,
)

if TYPE_CHECKING:
    import requests

    from ..model import Entry, Incident

CHANNEL = "atlassian"
API_URL_ENV = "INCIDENTCTL_ATLASSIAN_API_URL"
DEFAULT_API_URL = "https://api.statuspage.io/v1"
API_KEY = "STATUSPAGE_API_KEY"
SECRETS = (Secret(API_KEY, "export an API key of the Statuspage account (Statuspage > your avatar > API info)"),)
METADATA_KEY = "incidentctl"
MIN_INTERVAL = 1.0
"""Seconds between two requests with one key (Statuspage: 1 request per second per key)."""


class AtlassianSettings(ChannelSettings):
    page_id: str = Field(min_length=1)
    components: dict[str, str] = Field(default_factory=dict)
    """Our component id → the Statuspage component id."""
    deliver_notifications: bool = True
    """Let Statuspage notify the page's subscribers of each update."""


# -- rendering (no network) -------------------------------------------------------------------------


def _component_state(context: RenderContext, mapping: dict[str, str]) -> dict[str, str]:
    """Every mapped component's impact as of this entry (cumulative, so each request is complete)."""
    current: dict[str, str] = {}
    for entry in context.incident.timeline[: context.public_index + 1]:
        current.update(entry.components)
    return {mapping[cid]: impact for cid, impact in current.items() if cid in mapping}


def render_payload(context: RenderContext) -> Message:
    settings = context.settings if isinstance(context.settings, AtlassianSettings) else None
    mapping = settings.components if settings is not None else {}
    entry = context.entry
    components = _component_state(context, mapping)
    body: dict[str, Any] = {"status": entry.status, "body": entry.message}
    if context.is_first:
        body = {"name": context.incident.title, **body}
    if context.incident.is_maintenance:
        body.update(_maintenance_fields(context))
    if components:
        body["components"] = components
        body["component_ids"] = list(components)
    body["deliver_notifications"] = settings.deliver_notifications if settings is not None else True
    if context.is_first:
        body["metadata"] = {METADATA_KEY: {"id": context.incident.id}}
    return Message(channel=CHANNEL, text=entry.message, payload={"incident": body})


#: Our maintenance statuses that Statuspage has no word for: a cancelled maintenance ends as ``completed``
#: (its last update says it was cancelled), the closest state Statuspage's API accepts.
_STATUSPAGE_STATUS = {"cancelled": "completed"}


def _maintenance_fields(context: RenderContext) -> dict[str, Any]:
    """A scheduled maintenance on the hosted page: its status in Statuspage's words, the window when the
    entry announced or moved it, and no automation of Statuspage's own (our ``tick`` starts, completes
    and reminds; Statuspage doing it too would notify subscribers twice)."""
    from ..durations import isoformat_z
    from ..render import maintenance_context

    entry = context.entry
    fields: dict[str, Any] = {"status": _STATUSPAGE_STATUS.get(entry.status, entry.status)}
    window = maintenance_context(context.incident, entry, context.config)["window"]
    if context.is_first or entry.scheduled_for is not None:
        fields["scheduled_for"] = isoformat_z(window["start"])
        fields["scheduled_until"] = isoformat_z(window["end"])
    if context.is_first:
        fields.update(
            scheduled_remind_prior=False,
            scheduled_auto_in_progress=False,
            scheduled_auto_completed=False,
            auto_transition_to_maintenance_state=False,
            auto_transition_to_operational_state=False,
        )
    return fields


class AtlassianChannel:
    """Mirrors each incident to one incident on an Atlassian Statuspage page."""

    name = CHANNEL
    settings_model = AtlassianSettings
    secrets = SECRETS
    edits_root = False

    def render(self, context: RenderContext) -> Message:
        return render_payload(context)

    def show(self, preview: Preview, *, demo: bool) -> list[str]:
        if not demo:
            return json.dumps(preview.payload, indent=2, ensure_ascii=False).splitlines()
        noun = "scheduled maintenance" if "scheduled_for" in preview.payload.get("incident", {}) else "incident"
        label = f"new {noun}" if preview.kind == "post" else "incident update"
        status = preview.payload.get("incident", {}).get("status", "")
        return [f"[{CHANNEL}, {label}, {status}]", *(f"  {line}" for line in preview.text.splitlines())]

    def connect(self, context: ConnectContext) -> AtlassianSender:
        settings = context.settings
        if not isinstance(settings, AtlassianSettings):
            raise ConfigError(f"{CHANNEL}: channels.{CHANNEL}.page_id is not set in incidentctl.yaml")
        key = os.environ.get(API_KEY, "")
        if not key:
            raise ConfigError(f"{CHANNEL}: {API_KEY} is not set: {SECRETS[0].how_to_get}")
        policy = context.retry.policy
        return AtlassianSender(
            api_url=os.environ.get(API_URL_ENV) or DEFAULT_API_URL,
            key=key,
            settings=settings,
            timeout=context.retry.timeout,
            limiter=RateLimiter.for_key(key, policy.clock, policy.sleep),
        )


# -- the rate limiter -----------------------------------------------------------------------------


class RateLimiter:
    """At most one request per ``interval`` seconds for one key, shared by every sender in the process."""

    _by_key: ClassVar[dict[str, RateLimiter]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, clock: Callable[[], float], sleep: Callable[[float], None], interval: float = MIN_INTERVAL):
        self.clock = clock
        self.sleep = sleep
        self.interval = interval
        self._last: float | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_key(cls, key: str, clock: Callable[[], float], sleep: Callable[[float], None]) -> RateLimiter:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        with cls._registry_lock:
            limiter = cls._by_key.get(digest)
            if limiter is None or limiter.clock is not clock:
                limiter = cls(clock, sleep)
                cls._by_key[digest] = limiter
            limiter.sleep = sleep
            return limiter

    def wait(self) -> None:
        with self._lock:
            if self._last is not None:
                remaining = self.interval - (self.clock() - self._last)
                if remaining > 0:
                    self.sleep(remaining)
            self._last = self.clock()

    def done(self) -> None:
        """The response arrived: the next request waits a full interval from now."""
        with self._lock:
            self._last = self.clock()


# -- sending --------------------------------------------------------------------------------------


def _first_public_index(incident: Incident) -> int:
    return next(index for index, entry in enumerate(incident.timeline) if entry.public)


def _remote_id(incident: Incident) -> str | None:
    """The Statuspage incident id: the ref of the first public entry's delivery."""
    first = incident.timeline[_first_public_index(incident)]
    delivery = first.deliveries.get(CHANNEL)
    return delivery.ref if delivery is not None and delivery.state == "delivered" and delivery.ref else None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _is_ours(remote: Any, incident_id: str) -> bool:
    if not isinstance(remote, dict):
        return False
    metadata = remote.get("metadata") or {}
    ours = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
    return isinstance(ours, dict) and ours.get("id") == incident_id


class AtlassianSender:
    """One run's connection to the Statuspage REST API."""

    def __init__(
        self, *, api_url: str, key: str, settings: AtlassianSettings, timeout: float, limiter: RateLimiter
    ) -> None:
        import requests

        self.api_url = api_url.rstrip("/")
        self.settings = settings
        self.timeout = timeout
        self.limiter = limiter
        self.session: requests.Session = requests.Session()
        self.session.headers.update(
            {"Authorization": f"OAuth {key}", "Accept": "application/json", "User-Agent": "incidentctl"}
        )

    @property
    def _incidents_path(self) -> str:
        return f"/pages/{self.settings.page_id}/incidents"

    def _request(self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        """One request; every failure becomes a one-line :class:`SendError` naming the fix."""
        import requests

        self.limiter.wait()
        writes = method in ("POST", "PATCH")
        try:
            response = self.session.request(method, self.api_url + path, json=body, params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise SendError(
                f"{CHANNEL}: cannot reach the Statuspage API ({type(exc).__name__}): check the network or "
                f"{API_URL_ENV}",
                retry_after=0.0,
                maybe_sent=writes,
            ) from None
        finally:
            self.limiter.done()
        status = response.status_code
        if status in (420, 429):
            raise SendError(f"{CHANNEL}: rate limited ({status})", retry_after=retry_after_seconds(response.headers))
        if status >= 500:
            raise SendError(f"{CHANNEL}: server error {status}", retry_after=0.0)
        if status == 401:
            raise SendError(f"{CHANNEL}: {API_KEY} was refused (401): set a valid Statuspage API key", fatal=True)
        if status == 403:
            raise SendError(
                f"{CHANNEL}: the API key may not write to page {self.settings.page_id} (403): use a key of the page's "
                "account",
                fatal=True,
            )
        if status == 404:
            raise SendError(
                f"{CHANNEL}: not found (404) at {path}: check channels.{CHANNEL}.page_id in incidentctl.yaml",
                fatal=path == self._incidents_path,
            )
        if status >= 400:
            raise SendError(f"{CHANNEL}: Statuspage refused the request ({status}): {_error_text(response)}")
        try:
            return response.json()
        except ValueError:
            raise SendError(f"{CHANNEL}: unexpected response (HTTP {status}, not JSON)", retry_after=0.0) from None

    def send(self, incident: Incident, timeline_index: int, message: Message) -> Sent:
        body = message.payload
        if timeline_index == _first_public_index(incident):
            adopted = self._imported_here(incident, timeline_index)
            if adopted is not None:
                return adopted
            created = self._request("POST", self._incidents_path, body=body)
            remote_id = created.get("id") if isinstance(created, dict) else None
            if not remote_id:
                raise SendError(f"{CHANNEL}: the created incident has no id", retry_after=None)
            return Sent(ref=str(remote_id), refs=(str(remote_id),))
        remote_id = _remote_id(incident)
        if remote_id is None:
            raise SendError(f"{CHANNEL}: the incident's first update has not been delivered yet", retry_after=None)
        updated = self._request("PATCH", f"{self._incidents_path}/{remote_id}", body=body)
        return Sent(ref=_newest_update_id(updated) or remote_id, refs=(remote_id,))

    def _imported_here(self, incident: Incident, timeline_index: int) -> Sent | None:
        """An incident imported from this very page (``import statuspage``) is already there: its imported
        state is adopted as the first delivery (no request), and later entries update that incident."""
        source = incident.imported_from
        entry = incident.timeline[timeline_index]
        if (
            not entry.imported
            or source is None
            or source.source != "statuspage"
            or source.page != self.settings.page_id
        ):
            return None
        return Sent(
            ref=source.id,
            refs=(source.id,),
            note=f"{CHANNEL}: {incident.id} was imported from page {source.page}: its incident {source.id} is updated",
        )

    def find_sent(self, incident: Incident, timeline_index: int, message: Message) -> Sent | None:
        entry = incident.timeline[timeline_index]
        if timeline_index == _first_public_index(incident):
            adopted = self._imported_here(incident, timeline_index)
            if adopted is not None:
                return adopted
            found = self._find_incident(incident)
            return Sent(ref=str(found["id"]), refs=(str(found["id"]),)) if found is not None else None
        remote_id = _remote_id(incident)
        if remote_id is None:
            return None
        remote = self._request("GET", f"{self._incidents_path}/{remote_id}")
        return self._landed(remote, remote_id, entry, message)

    def _find_incident(self, incident: Incident) -> dict[str, Any] | None:
        """Our incident on the page, by the id in its metadata (searched by name, then the unresolved list, or
        for a maintenance the upcoming and active maintenance lists)."""
        lists = ("upcoming", "active_maintenance") if incident.is_maintenance else ("unresolved",)
        searches: list[tuple[str, dict[str, Any] | None]] = [
            (self._incidents_path, {"q": incident.title, "limit": 100}),
            *((f"{self._incidents_path}/{name}", None) for name in lists),
        ]
        for path, params in searches:
            listed = self._request("GET", path, params=params)
            for remote in listed if isinstance(listed, list) else []:
                if _is_ours(remote, incident.id) and remote.get("id"):
                    return dict(remote)
        return None

    @staticmethod
    def _landed(remote: Any, remote_id: str, entry: Entry, message: Message) -> Sent | None:
        """Did the PATCH for ``entry`` land? The newest update has its status and body, made after the entry."""
        updates = remote.get("incident_updates") if isinstance(remote, dict) else None
        if not isinstance(updates, list) or not updates:
            return None
        newest = max(
            (update for update in updates if isinstance(update, dict)),
            key=lambda update: _parse_time(update.get("created_at")) or datetime.min.replace(tzinfo=entry.at.tzinfo),
        )
        wanted = message.payload.get("incident", {})
        made = _parse_time(newest.get("created_at"))
        delivery = entry.deliveries.get(CHANNEL)
        since = (delivery.at if delivery is not None and delivery.at else entry.at) - timedelta(minutes=5)
        if (
            newest.get("status") == wanted.get("status")
            and (newest.get("body") or "") == (wanted.get("body") or "")
            and made is not None
            and made >= min(since, entry.at)
        ):
            return Sent(ref=str(newest.get("id") or remote_id), refs=(remote_id,))
        return None

    def finish(self, incident: Incident, latest: Message | None) -> None:
        return None


def _newest_update_id(remote: Any) -> str | None:
    updates = remote.get("incident_updates") if isinstance(remote, dict) else None
    if not isinstance(updates, list) or not updates:
        return None
    newest = max(
        (update for update in updates if isinstance(update, dict)),
        key=lambda update: str(update.get("created_at") or ""),
        default=None,
    )
    return str(newest["id"]) if newest and newest.get("id") else None


def _error_text(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200].strip() or "no detail"
    if isinstance(data, dict):
        detail = data.get("error") or data.get("message") or data.get("errors")
        return str(detail)[:200] if detail else json.dumps(data)[:200]
    return str(data)[:200]

"""Fakes of Atlassian Statuspage on 127.0.0.1: its REST API v1 (what the ``atlassian`` channel
writes to) and a page's public ``api/v2`` documents (what ``import statuspage`` reads).

    with FakeAtlassian() as api:
        monkeypatch.setenv("INCIDENTCTL_ATLASSIAN_API_URL", api.url)
        monkeypatch.setenv("STATUSPAGE_API_KEY", api.key)
        ...
        assert api.incidents[0]["name"] == ...

The API fake checks the ``Authorization: OAuth <key>`` header, the page id, that a created incident
carries ``metadata.incidentctl.id``, and the rate (at least ``min_interval`` seconds between two
requests from one key: a faster request is answered 420 and counted in ``rate_violations``). It
stores incidents with their updates (newest first, as Statuspage lists them) and component statuses.
Faults (from :class:`FakeServer`): ``fail_next(status=503)``, ``rate_limit_next(retry_after=1)``,
``drop_next(after=True, method="POST /incidents")``.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

from .server import FakeServer

DEFAULT_KEY = "sp-test-key-0000-secret"
DEFAULT_PAGE = "pg0example01"


_REALTIME = ("investigating", "identified", "monitoring", "resolved")
_SCHEDULED = ("scheduled", "in_progress", "verifying", "completed")
_MAINTENANCE_LISTS = {
    "upcoming": ("scheduled",),
    "active_maintenance": ("in_progress", "verifying"),
    "scheduled": _SCHEDULED,
}
_MAINTENANCE_FIELDS = (
    "scheduled_for", "scheduled_until", "scheduled_remind_prior", "scheduled_auto_in_progress",
    "scheduled_auto_completed", "auto_transition_to_maintenance_state", "auto_transition_to_operational_state",
)  # fmt: skip


def _window_problem(fields: dict[str, Any], *, required: bool) -> str | None:
    """Statuspage's rule for a scheduled maintenance: both ends given, ISO 8601, the end after the start."""
    start, end = fields.get("scheduled_for"), fields.get("scheduled_until")
    if start is None and end is None and not required:
        return None
    try:
        begins = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        ends = datetime.fromisoformat(str(end).replace("Z", "+00:00"))
    except ValueError:
        return "scheduled_for and scheduled_until must be ISO 8601 timestamps"
    return None if ends > begins else "scheduled_until must be after scheduled_for"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _PatchingServer(FakeServer):
    """FakeServer also answering PATCH (Statuspage updates incidents with PATCH)."""

    def __init__(self) -> None:
        super().__init__()
        fake = self

        def do_patch(handler: BaseHTTPRequestHandler) -> None:
            fake._handle(handler)

        self._server.RequestHandlerClass.do_PATCH = do_patch  # type: ignore[attr-defined]


class FakeAtlassian(_PatchingServer):
    def __init__(self, key: str = DEFAULT_KEY, page_id: str = DEFAULT_PAGE, min_interval: float = 1.0) -> None:
        super().__init__()
        self.key = key
        self.page_id = page_id
        self.min_interval = min_interval
        self.incidents: list[dict[str, Any]] = []
        self.components: dict[str, str] = {}
        """Their component id → current status (set by incident requests)."""
        self.rate_violations: list[float] = []
        self._last_by_key: dict[str, float] = {}
        self._counter = 0
        self._rate_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def route(self, path: str) -> str:
        # "POST /incidents", "PATCH /incidents/{id}", "GET /incidents/unresolved": the method is added in handle.
        return path

    def rate_limit_next(self, times: int = 1, retry_after: int = 1, method: str | None = None) -> None:
        self.fail_next(times, status=429, headers={"Retry-After": str(retry_after)}, body={"error": "Rate limited"})

    def writes(self) -> list[dict[str, Any]]:
        """POST/PATCH requests the fake handled (answered, or handled and then dropped by ``drop_next``); not those
        refused for the rate limit (420: nothing was written, the client waits and sends again)."""
        return [r for r in self.requests if r["params"].get("_verb") in ("POST", "PATCH") and r.get("status") != 420]

    def _next_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter:08d}"

    def _check_rate(self, key: str) -> bool:
        now = time.monotonic()
        with self._rate_lock:
            last = self._last_by_key.get(key)
            self._last_by_key[key] = now
        if last is not None and now - last < self.min_interval - 0.02:
            self.rate_violations.append(now - last)
            return False
        return True

    def handle(
        self, method: str, params: dict[str, Any], headers: dict[str, str], raw: bytes, request: BaseHTTPRequestHandler
    ) -> tuple[int, Any, dict[str, str]]:
        verb = request.command
        params["_verb"] = verb
        auth = headers.get("authorization", "")
        if not self._check_rate(auth):
            return 420, {"error": "You have exceeded the rate limit"}, {"Retry-After": "1"}
        if auth != f"OAuth {self.key}":
            return 401, {"error": "Could not authenticate"}, {}
        prefix = f"/v1/pages/{self.page_id}/incidents"
        if not method.startswith(prefix):
            return 404, {"error": "The requested resource could not be found."}, {}
        rest = method[len(prefix) :].strip("/")
        body = json.loads(raw.decode("utf-8")) if raw else {}
        if verb == "POST" and rest == "":
            return self._create(body.get("incident") or {})
        if verb == "GET" and rest == "":
            query = str(params.get("q") or "").casefold()
            found = [item for item in self.incidents if not query or query in item["name"].casefold()]
            return 200, list(reversed(found)), {}
        if verb == "GET" and rest == "unresolved":
            return 200, [item for item in reversed(self.incidents) if item["status"] in _REALTIME[:-1]], {}
        if verb == "GET" and rest in _MAINTENANCE_LISTS:
            wanted = _MAINTENANCE_LISTS[rest]
            return 200, [item for item in reversed(self.incidents) if item["status"] in wanted], {}
        found = next((item for item in self.incidents if item["id"] == rest), None)
        if found is None:
            return 404, {"error": "The requested resource could not be found."}, {}
        if verb == "GET":
            return 200, found, {}
        if verb == "PATCH":
            return self._update(found, body.get("incident") or {})
        return 405, {"error": "method not allowed"}, {}

    def _apply_components(self, incident: dict[str, Any], fields: dict[str, Any]) -> list[dict[str, Any]] | None:
        components = fields.get("components") or {}
        affected = []
        for their_id, status in components.items():
            affected.append(
                {"code": their_id, "name": their_id, "old_status": self.components.get(their_id, "operational"),
                 "new_status": status}
            )  # fmt: skip
            self.components[their_id] = status
        if fields.get("component_ids"):
            incident["component_ids"] = list(fields["component_ids"])
        return affected or None

    def _add_update(self, incident: dict[str, Any], fields: dict[str, Any]) -> None:
        now = _now()
        update = {
            "id": self._next_id("upd"),
            "incident_id": incident["id"],
            "status": fields.get("status", incident["status"]),
            "body": fields.get("body", ""),
            "created_at": now,
            "updated_at": now,
            "display_at": now,
            "affected_components": self._apply_components(incident, fields),
            "deliver_notifications": bool(fields.get("deliver_notifications", True)),
        }
        incident["incident_updates"].insert(0, update)
        incident["status"] = update["status"]
        incident["updated_at"] = now
        if update["status"] in ("resolved", "completed"):
            incident["resolved_at"] = now
        for name in _MAINTENANCE_FIELDS:
            if name in fields:
                incident[name] = fields[name]

    def _create(self, fields: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        ours = (fields.get("metadata") or {}).get("incidentctl") or {}
        if not fields.get("name") or not ours.get("id"):
            return 422, {"error": "name and metadata.incidentctl.id are required by this fake"}, {}
        if fields.get("status") not in (*_REALTIME, *_SCHEDULED):
            return 422, {"error": f"status {fields.get('status')!r} is not valid"}, {}
        if fields["status"] in _SCHEDULED:
            problem = _window_problem(fields, required=True)
            if problem:
                return 422, {"error": problem}, {}
        now = _now()
        incident: dict[str, Any] = {
            "id": self._next_id("inc"),
            "page_id": self.page_id,
            "name": fields["name"],
            "status": fields["status"],
            "created_at": now,
            "updated_at": now,
            "resolved_at": None,
            "metadata": fields.get("metadata"),
            "component_ids": [],
            "incident_updates": [],
        }
        self._add_update(incident, fields)
        self.incidents.append(incident)
        return 201, incident, {}

    def _update(self, incident: dict[str, Any], fields: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        allowed = _SCHEDULED if incident["status"] in _SCHEDULED else _REALTIME
        if "status" in fields and fields["status"] not in allowed:
            return 422, {"error": f"status {fields['status']!r} is not valid"}, {}
        problem = _window_problem({**incident, **fields}, required=False)
        if problem:
            return 422, {"error": problem}, {}
        self._add_update(incident, fields)
        return 200, incident, {}


class FakeStatuspagePage(FakeServer):
    """A public Statuspage page serving saved ``api/v2`` documents (path → JSON data); others are 404."""

    def __init__(self, documents: dict[str, Any]) -> None:
        super().__init__()
        self.documents = documents

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle(
        self, method: str, params: dict[str, Any], headers: dict[str, str], raw: bytes, request: BaseHTTPRequestHandler
    ) -> tuple[int, Any, dict[str, str]]:
        path = method.lstrip("/")
        if path in self.documents:
            return 200, self.documents[path], {}
        return 404, b"<html><body>Not found</body></html>", {}

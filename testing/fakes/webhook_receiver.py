"""A fake webhook receiver: every path is one subscriber's endpoint; bodies kept raw for signature checks."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

from .server import FakeServer


class WebhookReceiver(FakeServer):
    """``url(path)`` is an endpoint; ``received(path)`` what it accepted (2xx), in order.

    Faults are injected per endpoint with ``fail_next(..., method=path)`` (the route is the path).
    """

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[dict[str, Any]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def handle(
        self, method: str, params: dict[str, Any], headers: dict[str, str], raw: bytes, request: BaseHTTPRequestHandler
    ) -> tuple[int, Any, dict[str, str]]:
        self.accepted.append({"path": method, "headers": headers, "raw": raw, "body": json.loads(raw.decode("utf-8"))})
        return 200, {"ok": True}, {}

    def received(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [item for item in self.accepted if item["path"] == path]

    def attempts(self, path: str) -> int:
        with self.lock:
            return sum(1 for request in self.requests if request["method"] == path)

    def unique_ids(self, path: str) -> set[str]:
        return {item["headers"]["webhook-id"] for item in self.received(path)}

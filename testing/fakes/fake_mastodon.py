"""A fake Mastodon instance on 127.0.0.1, driven through the real ``Mastodon.py`` client.

    with FakeMastodon(max_characters=500) as instance:
        # channels.mastodon.instance = instance.url; MASTODON_ACCESS_TOKEN = instance.token

It checks the bearer token, the length limit (URLs count ``characters_reserved_per_url``, like
Mastodon), that ``in_reply_to_id`` names an existing status, the visibility, and idempotency keys:
a POST with a key already used returns the status created with it (nothing new is posted).
``/api/v2/instance`` reports the limits. Faults: ``fail_next(status=503)``, ``rate_limit_next()``,
``drop_next(after=True)`` (the status is created, the answer lost).
"""

from __future__ import annotations

import re
from http.server import BaseHTTPRequestHandler
from typing import Any

from .server import FakeServer

DEFAULT_TOKEN = "mastodon-secret-token-0987654321"
_URL = re.compile(r"https?://\S+")


class FakeMastodon(FakeServer):
    def __init__(self, max_characters: int = 500, url_characters: int = 23, token: str = DEFAULT_TOKEN) -> None:
        super().__init__()
        self.token = token
        self.max_characters = max_characters
        self.url_characters = url_characters
        self.statuses: list[dict[str, Any]] = []
        self.keys: dict[str, str] = {}  # idempotency key -> status id
        self.replayed = 0  # POSTs answered from an idempotency key

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def route(self, path: str) -> str:
        return path.rstrip("/")

    def rate_limit_next(self, times: int = 1) -> None:
        self.fail_next(times, status=429, body={"error": "Too many requests"}, method="/api/v1/statuses")

    def length(self, text: str) -> int:
        return len(_URL.sub("x" * self.url_characters, text))

    def thread(self, root_id: str) -> list[dict[str, Any]]:
        """The chain of statuses starting at ``root_id``, each replying to the one before."""
        chain = [next(status for status in self.statuses if status["id"] == root_id)]
        while True:
            replies = [s for s in self.statuses if s["in_reply_to_id"] == chain[-1]["id"]]
            if not replies:
                return chain
            assert len(replies) == 1, f"two replies to {chain[-1]['id']}"
            chain.append(replies[0])

    def handle(
        self, method: str, params: dict[str, Any], headers: dict[str, str], raw: bytes, request: BaseHTTPRequestHandler
    ) -> tuple[int, Any, dict[str, str]]:
        if method == "/api/v2/instance" and request.command == "GET":
            return (
                200,
                {
                    "domain": "127.0.0.1",
                    "title": "Fake",
                    "version": "4.3.0",
                    "configuration": {
                        "statuses": {
                            "max_characters": self.max_characters,
                            "max_media_attachments": 4,
                            "characters_reserved_per_url": self.url_characters,
                        }
                    },
                },
                {},
            )
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"error": "The access token is invalid"}, {}
        if method != "/api/v1/statuses" or request.command != "POST":
            return 404, {"error": "Record not found"}, {}
        key = headers.get("idempotency-key")
        if key and key in self.keys:
            self.replayed += 1
            return 200, self._public(next(s for s in self.statuses if s["id"] == self.keys[key])), {}
        text = str(params.get("status") or "")
        if not text.strip():
            return 422, {"error": "Validation failed: Text can't be blank"}, {}
        if self.length(text) > self.max_characters:
            return 422, {"error": f"Validation failed: Text character limit of {self.max_characters} exceeded"}, {}
        reply_to = params.get("in_reply_to_id")
        if reply_to is not None and not any(s["id"] == str(reply_to) for s in self.statuses):
            return 404, {"error": "Record not found"}, {}
        visibility = params.get("visibility", "public")
        if visibility not in ("public", "unlisted", "private", "direct"):
            return 422, {"error": "Validation failed: Visibility is not included in the list"}, {}
        status = {
            "id": str(110000000000000000 + len(self.statuses) + 1),
            "text": text,
            "in_reply_to_id": str(reply_to) if reply_to is not None else None,
            "visibility": visibility,
            "idempotency_key": key,
        }
        self.statuses.append(status)
        if key:
            self.keys[key] = status["id"]
        return 200, self._public(status), {}

    def _public(self, status: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": status["id"],
            "created_at": "2026-03-04T15:00:00.000Z",
            "in_reply_to_id": status["in_reply_to_id"],
            "visibility": status["visibility"],
            "content": f"<p>{status['text']}</p>",
            "url": f"{self.url}/@ops/{status['id']}",
            "uri": f"{self.url}/users/ops/statuses/{status['id']}",
            "account": {"id": "1", "username": "ops", "acct": "ops"},
            "media_attachments": [],
            "mentions": [],
            "tags": [],
            "emojis": [],
        }

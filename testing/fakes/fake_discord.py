"""A fake Discord webhook on 127.0.0.1, driven through ``requests`` like the real one.

    with FakeDiscord(forum=True) as discord:
        monkeypatch.setenv("DISCORD_WEBHOOK_URL", discord.url)

It checks the webhook token in the path, ``?wait=true``, ``allowed_mentions: {"parse": []}``,
Discord's message and embed limits, forum rules (a forum post needs ``thread_name`` or
``thread_id``; a text channel refuses ``thread_name`` with code 220003), that ``thread_id`` names an
existing thread, and that an edited message exists. Faults: ``fail_next(status=503)``,
``rate_limit_next(retry_after=0.05)``, ``drop_next(after=True)``.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any

from .server import FakeServer

WEBHOOK_ID = "112233445566778899"
DEFAULT_TOKEN = "discord-secret-token-abc123"


class FakeDiscord(FakeServer):
    def __init__(self, forum: bool = False, token: str = DEFAULT_TOKEN) -> None:
        super().__init__()
        self.forum = forum
        self.token = token
        self.channel_id = "900000000000000001"
        self.messages: list[dict[str, Any]] = []
        self.threads: dict[str, str] = {}  # thread id -> name
        self._next = 1_000_000_000_000_000_000
        fake = self
        handler = self._server.RequestHandlerClass
        handler.do_PATCH = lambda request: fake._handle(request)  # type: ignore[attr-defined]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/webhooks/{WEBHOOK_ID}/{self.token}"

    def route(self, path: str) -> str:
        return "edit" if "/messages/" in path else "execute"

    def rate_limit_next(self, times: int = 1, retry_after: float = 0.05) -> None:
        self.fail_next(
            times,
            status=429,
            headers={"Retry-After": str(retry_after)},
            body={"message": "You are being rate limited.", "retry_after": retry_after, "global": False},
        )

    # -- views ----------------------------------------------------------------------------------

    def in_thread(self, thread_id: str) -> list[dict[str, Any]]:
        return [message for message in self.messages if message["channel_id"] == thread_id]

    def in_channel(self) -> list[dict[str, Any]]:
        return [message for message in self.messages if message["channel_id"] == self.channel_id]

    # -- the API --------------------------------------------------------------------------------

    def _new_id(self) -> str:
        self._next += 1
        return str(self._next)

    def handle(
        self, method: str, params: dict[str, Any], headers: dict[str, str], raw: bytes, request: BaseHTTPRequestHandler
    ) -> tuple[int, Any, dict[str, str]]:
        path = request.path.split("?", 1)[0]
        parts = path.strip("/").split("/")
        if len(parts) < 4 or parts[:2] != ["api", "webhooks"] or parts[2] != WEBHOOK_ID:
            return 404, {"message": "Unknown Webhook", "code": 10015}, {}
        if parts[3] != self.token:
            return 401, {"message": "Invalid Webhook Token", "code": 50027}, {}
        if params.get("allowed_mentions") != {"parse": []}:
            return 400, {"message": "test: allowed_mentions must be {parse: []}", "code": 50035}, {}
        problem = self._check_limits(params)
        if problem:
            return 400, {"message": f"Invalid Form Body: {problem}", "code": 50035}, {}
        thread_id = params.get("thread_id")
        if thread_id is not None and thread_id not in self.threads:
            return 400, {"message": "Unknown Channel", "code": 10003}, {}
        if request.command == "PATCH":
            return self._edit(parts, params, thread_id)
        if request.command != "POST":
            return 405, {"message": "405: Method Not Allowed", "code": 0}, {}
        if params.get("wait") != "true":
            return 204, b"", {}
        thread_name = params.get("thread_name")
        if thread_name is not None and not self.forum:
            return 400, {"message": "Webhooks can only create threads in forum channels", "code": 220003}, {}
        if self.forum and thread_name is None and thread_id is None:
            return (
                400,
                {"message": "Webhooks posted to forum channels must have a thread_name or thread_id", "code": 220001},
                {},
            )
        if thread_name is not None and (not str(thread_name).strip() or len(thread_name) > 100):
            return 400, {"message": "Invalid Form Body: thread_name", "code": 50035}, {}
        message_id = self._new_id()
        channel = self.channel_id
        if thread_name is not None:
            self.threads[message_id] = thread_name
            channel = message_id
        elif thread_id is not None:
            channel = thread_id
        message = {
            "id": message_id,
            "channel_id": channel,
            "content": params.get("content", ""),
            "embeds": params.get("embeds", []),
            "username": params.get("username"),
            "thread_name": thread_name,
            "edits": [],
        }
        self.messages.append(message)
        return 200, {k: v for k, v in message.items() if k != "edits"} | {"webhook_id": WEBHOOK_ID}, {}

    def _edit(self, parts: list[str], params: dict[str, Any], thread_id: str | None) -> tuple[int, Any, dict[str, str]]:
        message_id = parts[-1]
        channel = thread_id or self.channel_id
        for message in self.messages:
            if message["id"] == message_id and message["channel_id"] == channel:
                message["edits"].append({"content": message["content"], "embeds": message["embeds"]})
                message["content"] = params.get("content", "")
                message["embeds"] = params.get("embeds", [])
                return 200, {k: v for k, v in message.items() if k != "edits"}, {}
        return 404, {"message": "Unknown Message", "code": 10008}, {}

    @staticmethod
    def _check_limits(params: dict[str, Any]) -> str | None:
        content = params.get("content") or ""
        embeds = params.get("embeds") or []
        if not content and not embeds:
            return "empty message"
        if len(content) > 2000:
            return "content longer than 2000"
        if len(embeds) > 10:
            return "more than 10 embeds"
        total = 0
        for embed in embeds:
            for key, limit in (("title", 256), ("description", 4096)):
                if len(embed.get(key, "")) > limit:
                    return f"embed {key} longer than {limit}"
            fields = embed.get("fields", [])
            if len(fields) > 25:
                return "more than 25 fields"
            for field in fields:
                if not field.get("name") or not field.get("value"):
                    return "empty field"
                if len(field["name"]) > 256 or len(field["value"]) > 1024:
                    return "field too long"
            footer = (embed.get("footer") or {}).get("text", "")
            if len(footer) > 2048:
                return "footer too long"
            total += len(embed.get("title", "")) + len(embed.get("description", "")) + len(footer)
            total += sum(len(f["name"]) + len(f["value"]) for f in fields)
        if total > 6000:
            return "embeds longer than 6000 in all"
        return None

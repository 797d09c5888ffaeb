"""A fake Slack Web API on 127.0.0.1, driven through the real ``slack_sdk.WebClient``.

    with FakeSlack() as slack:
        monkeypatch.setenv("INCIDENTCTL_SLACK_API_URL", slack.url)
        monkeypatch.setenv("SLACK_BOT_TOKEN", slack.token)
        ...
        assert slack.messages[0]["text"] == ...

It checks the bearer token, channel membership, that thread replies point at an existing root
message, and Block Kit basics (a ``text`` fallback beside ``blocks``, header length, field counts).
Faults: ``fail_next(status=503)``, ``rate_limit_next(retry_after=1)``, ``drop_next(after=True)``,
``error_next("channel_not_found")``, ``latency = 0.3`` (``method_latency["chat.postMessage"]`` for one
method). ``clock_offset = -600`` makes Slack's clock (message ``ts``) run 10 minutes behind ours;
``flood(n)`` posts ``n`` messages by someone else. ``conversations.history``/``replies`` answer in pages
of ``limit`` (history at most ``max_history_page``) with ``response_metadata.next_cursor``.
"""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from .server import FakeServer

DEFAULT_TOKEN = "xoxb-test-0000-secret-token"


class FakeSlack(FakeServer):
    def __init__(
        self, token: str = DEFAULT_TOKEN, channels: dict[str, str] | None = None, members: set[str] | None = None
    ) -> None:
        super().__init__()
        self.token = token
        #: channel id -> name
        self.channels = channels if channels is not None else {"C0INCIDENTS": "incidents", "C0GENERAL": "general"}
        #: channel ids the bot is a member of
        self.members = members if members is not None else set(self.channels)
        self.messages: list[dict[str, Any]] = []
        self.api_errors: list[tuple[str | None, str]] = []
        self.clock_offset = 0.0
        self.max_history_page = 200
        self._counter = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def route(self, path: str) -> str:
        return path.rsplit("/", 1)[-1]

    def rate_limit_next(self, times: int = 1, retry_after: int = 1, method: str | None = None) -> None:
        self.fail_next(
            times,
            status=429,
            headers={"Retry-After": str(retry_after)},
            body={"ok": False, "error": "ratelimited"},
            method=method,
        )

    def error_next(self, error: str, times: int = 1, method: str | None = None) -> None:
        """The next ``times`` calls answer ``{"ok": false, "error": error}`` with HTTP 200."""
        with self.lock:
            for _ in range(times):
                self.api_errors.append((method, error))

    # -- views for assertions -------------------------------------------------------------------

    def roots(self) -> list[dict[str, Any]]:
        return [message for message in self.messages if message.get("thread_ts") is None]

    def replies(self, thread_ts: str) -> list[dict[str, Any]]:
        return [message for message in self.messages if message.get("thread_ts") == thread_ts]

    def calls(self, method: str) -> list[dict[str, Any]]:
        return [request for request in self.requests if request["method"] == method and request["fault"] is None]

    # -- the API --------------------------------------------------------------------------------

    def _channel(self, value: Any) -> str | None:
        text = str(value or "")
        if text in self.channels:
            return text
        name = text.lstrip("#")
        for channel_id, channel_name in self.channels.items():
            if channel_name == name:
                return channel_id
        return None

    def _next_ts(self) -> str:
        # Real time, like Slack: recovery looks for messages posted since the attempt started.
        self._counter += 1
        return f"{int(time.time() + self.clock_offset)}.{self._counter:06d}"

    def flood(self, count: int, channel: str = "C0INCIDENTS", thread_ts: str | None = None) -> None:
        """``count`` messages by someone else (no metadata), newest last."""
        with self.lock:
            for number in range(count):
                self.messages.append(
                    {"channel": channel, "ts": self._next_ts(), "text": f"chatter {number}", "blocks": None,
                     "thread_ts": thread_ts, "reply_broadcast": False, "metadata": None, "edits": []}
                )  # fmt: skip

    def _page(self, found: list[dict[str, Any]], params: dict[str, Any], most: int) -> dict[str, Any]:
        size = max(1, min(int(params.get("limit") or 100), most))
        start = int(params.get("cursor") or 0)
        page = found[start : start + size]
        more = start + size < len(found)
        return {
            "ok": True,
            "messages": page,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + size) if more else ""},
        }

    def handle(
        self, method: str, params: dict[str, Any], headers: dict[str, str], raw: bytes, request: BaseHTTPRequestHandler
    ) -> tuple[int, Any, dict[str, str]]:
        if headers.get("authorization") != f"Bearer {self.token}":
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        for index, (only, error) in enumerate(self.api_errors):
            if only is None or only == method:
                del self.api_errors[index]
                return 200, {"ok": False, "error": error}, {}
        handler = getattr(self, "_api_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        return 200, handler(params), {}

    def _check_blocks(self, params: dict[str, Any]) -> str | None:
        blocks = params.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not str(params.get("text") or "").strip():
            return "no_text"  # we always send a plain fallback beside the blocks
        if blocks is None:
            return None
        if not isinstance(blocks, list) or len(blocks) > 50:
            return "invalid_blocks"
        for block in blocks:
            kind = block.get("type")
            if kind == "header" and (block["text"]["type"] != "plain_text" or len(block["text"]["text"]) > 150):
                return "invalid_blocks"
            if kind == "section":
                if "text" not in block and "fields" not in block:
                    return "invalid_blocks"
                if "text" in block and not (0 < len(block["text"]["text"]) <= 3000):
                    return "invalid_blocks"
                if len(block.get("fields", [])) > 10 or any(len(f["text"]) > 2000 for f in block.get("fields", [])):
                    return "invalid_blocks"
            if kind == "context" and not (0 < len(block.get("elements", [])) <= 10):
                return "invalid_blocks"
        return None

    def _api_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "user_id": "UBOT", "team": "Example"}

    def _api_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params.get("channel"))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel not in self.members:
            return {"ok": False, "error": "not_in_channel"}
        problem = self._check_blocks(params)
        if problem:
            return {"ok": False, "error": problem}
        thread = params.get("thread_ts")
        if thread is not None and not any(
            m["ts"] == thread and m["channel"] == channel and m.get("thread_ts") is None for m in self.messages
        ):
            return {"ok": False, "error": "thread_not_found"}
        if params.get("reply_broadcast") and thread is None:
            return {"ok": False, "error": "invalid_arguments"}
        metadata = params.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        blocks = params.get("blocks")
        message = {
            "channel": channel,
            "ts": self._next_ts(),
            "text": params.get("text"),
            "blocks": json.loads(blocks) if isinstance(blocks, str) else blocks,
            "thread_ts": thread,
            "reply_broadcast": bool(params.get("reply_broadcast")),
            "metadata": metadata,
            "edits": [],
        }
        self.messages.append(message)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": {"text": message["text"]}}

    def _api_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if channel not in self.channels:  # chat.update wants the channel id
            return {"ok": False, "error": "channel_not_found"}
        problem = self._check_blocks(params)
        if problem:
            return {"ok": False, "error": problem}
        for message in self.messages:
            if message["channel"] == channel and message["ts"] == params.get("ts"):
                message["edits"].append({"text": message["text"], "blocks": message["blocks"]})
                blocks = params.get("blocks")
                message["text"] = params.get("text")
                message["blocks"] = json.loads(blocks) if isinstance(blocks, str) else blocks
                return {"ok": True, "channel": channel, "ts": message["ts"]}
        return {"ok": False, "error": "message_not_found"}

    def _visible(self, message: dict[str, Any], include_metadata: bool) -> dict[str, Any]:
        shown = {"type": "message", "ts": message["ts"], "text": message["text"]}
        if message.get("thread_ts"):
            shown["thread_ts"] = message["thread_ts"]
        if include_metadata and message.get("metadata"):
            shown["metadata"] = message["metadata"]
        return shown

    @staticmethod
    def _flag(value: Any) -> bool:
        return str(value).lower() in ("1", "true")

    def _api_conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        oldest = float(params.get("oldest") or 0)
        found = [
            self._visible(m, self._flag(params.get("include_all_metadata")))
            for m in reversed(self.messages)
            if m["channel"] == channel
            and (m.get("thread_ts") is None or m["reply_broadcast"])
            and float(m["ts"]) >= oldest
        ]
        return self._page(found, params, self.max_history_page)

    def _api_conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        ts = params.get("ts")
        thread = [m for m in self.messages if m["channel"] == channel and (m["ts"] == ts or m.get("thread_ts") == ts)]
        if not thread:
            return {"ok": False, "error": "thread_not_found"}
        include = self._flag(params.get("include_all_metadata"))
        return self._page([self._visible(m, include) for m in thread], params, 1000)

    def _api_conversations_list(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "channels": [
                {"id": cid, "name": name, "is_member": cid in self.members} for cid, name in self.channels.items()
            ],
            "response_metadata": {"next_cursor": ""},
        }

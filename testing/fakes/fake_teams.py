"""A fake Teams Workflows webhook on 127.0.0.1 ("Post to a channel when a webhook request is received").

It checks the URL's signature (``sig``), the message envelope, that every attachment is an Adaptive
Card valid against the 1.5 schema subset in ``adaptive_card_schema`` and that the request is under
Teams' ~28 KB message size; it answers ``202 Accepted`` with an ``x-ms-workflow-run-id`` header like
Power Automate. Faults: ``fail_next(status=503)``, ``fail_next(status=429, headers={"Retry-After": "1"})``.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any

from .adaptive_card_schema import card_problems
from .server import FakeServer

DEFAULT_SIG = "teams-signature-secret-0123456789"
MAX_BYTES = 28 * 1024


class FakeTeams(FakeServer):
    def __init__(self, sig: str = DEFAULT_SIG) -> None:
        super().__init__()
        self.sig = sig
        self.posts: list[dict[str, Any]] = []  # the cards shown in the channel, in order
        self._runs = 0

    @property
    def url(self) -> str:
        return (
            f"http://127.0.0.1:{self.port}/workflows/0a1b2c/triggers/manual/paths/invoke"
            f"?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={self.sig}"
        )

    def route(self, path: str) -> str:
        return "invoke"

    def handle(
        self, method: str, params: dict[str, Any], headers: dict[str, str], raw: bytes, request: BaseHTTPRequestHandler
    ) -> tuple[int, Any, dict[str, str]]:
        if params.get("sig") != self.sig:
            return (
                401,
                {"error": {"code": "DirectApiAuthorizationRequired", "message": "The request must be authenticated."}},
                {},
            )
        if len(raw) > MAX_BYTES:
            return 413, {"error": {"code": "MessageTooLarge", "message": "The message is too large."}}, {}
        if (
            params.get("type") != "message"
            or not isinstance(params.get("attachments"), list)
            or not params["attachments"]
        ):
            return 400, {"error": {"code": "InvalidRequestContent", "message": "type message with attachments"}}, {}
        for attachment in params["attachments"]:
            if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
                return 400, {"error": {"code": "InvalidRequestContent", "message": "not an adaptive card"}}, {}
            problems = card_problems(attachment.get("content"))
            if problems:
                return 400, {"error": {"code": "InvalidAdaptiveCard", "message": "; ".join(problems)[:500]}}, {}
        for attachment in params["attachments"]:
            self.posts.append(attachment["content"])
        self._runs += 1
        return 202, b"", {"x-ms-workflow-run-id": f"08584{self._runs:015d}"}

"""A fake X API v2 (``POST /2/tweets``) on 127.0.0.1, driven through the real ``tweepy.Client``.

It verifies the OAuth 1.0a signature *for the public URL* (https://api.twitter.com/2/tweets: the
client signs for X and only sends elsewhere), that a reply points at an existing post, X's 280
weighted-character limit (``twitter-text-parser``) and its duplicate rule (403 for identical text).
Faults: ``fail_next(status=503)``, ``rate_limit_next(reset_in=1)``, ``drop_next(after=True)``,
``latency = 0.3``.
"""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler
from types import SimpleNamespace
from typing import Any

from .server import FakeServer

PUBLIC_URL = "https://api.twitter.com"
CREDENTIALS = {
    "X_API_KEY": "x-consumer-key-secret-1",
    "X_API_SECRET": "x-consumer-secret-secret-2",
    "X_ACCESS_TOKEN": "x-access-token-secret-3",
    "X_ACCESS_TOKEN_SECRET": "x-access-token-secret-secret-4",
}


class FakeX(FakeServer):
    def __init__(self, credentials: dict[str, str] | None = None) -> None:
        super().__init__()
        self.credentials = dict(credentials or CREDENTIALS)
        self.posts: list[dict[str, Any]] = []
        self.rejected: list[dict[str, Any]] = []
        self._counter = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rate_limit_next(self, times: int = 1, reset_in: float = 1) -> None:
        reset = str(int(time.time() + reset_in))
        self.fail_next(
            times,
            status=429,
            headers={"x-rate-limit-reset": reset},
            body={"title": "Too Many Requests", "detail": "Too Many Requests", "status": 429},
        )

    def post(self, post_id: str) -> dict[str, Any]:
        return next(post for post in self.posts if post["id"] == post_id)

    def thread(self) -> list[list[dict[str, Any]]]:
        """Chains of posts: each root with its replies in reply order."""
        chains = []
        for root in (p for p in self.posts if p["reply_to"] is None):
            chain = [root]
            while True:
                nxt = [p for p in self.posts if p["reply_to"] == chain[-1]["id"]]
                if not nxt:
                    break
                chain.append(nxt[0])
            chains.append(chain)
        return chains

    # -- the API --------------------------------------------------------------------------------

    def _signature_ok(self, method: str, path: str, headers: dict[str, str]) -> bool:
        from oauthlib.oauth1.rfc5849 import signature, utils

        auth = headers.get("authorization", "")
        if not auth.startswith("OAuth "):
            return False
        params = {key: utils.unescape(value) for key, value in utils.parse_authorization_header(auth)}
        if params.get("oauth_consumer_key") != self.credentials["X_API_KEY"]:
            return False
        if params.get("oauth_token") != self.credentials["X_ACCESS_TOKEN"]:
            return False
        if params.get("oauth_signature_method") != "HMAC-SHA1":
            return False
        given = params.pop("oauth_signature", "")
        pairs = [(key, value) for key, value in params.items() if key != "realm"]
        normalized = signature.normalize_parameters(pairs)
        base = signature.signature_base_string(method, signature.base_string_uri(PUBLIC_URL + path), normalized)
        keys = SimpleNamespace(
            client_secret=self.credentials["X_API_SECRET"],
            resource_owner_secret=self.credentials["X_ACCESS_TOKEN_SECRET"],
        )
        expected = signature.sign_hmac_sha1_with_client(base, keys)
        return bool(given) and given == expected

    def handle(
        self, method: str, params: dict[str, Any], headers: dict[str, str], raw: bytes, request: BaseHTTPRequestHandler
    ) -> tuple[int, Any, dict[str, str]]:
        path = request.path.split("?", 1)[0]
        if path != "/2/tweets" or request.command != "POST":
            return 404, {"title": "Not Found Error", "status": 404, "detail": "not found"}, {}
        if not self._signature_ok(request.command, path, headers):
            return 401, {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}, {}
        from twitter_text import parse_tweet

        text = str(params.get("text") or "")
        parsed = parse_tweet(text)
        if not text.strip() or parsed.weightedLength > 280:
            self.rejected.append({"text": text, "reason": "too_long"})
            return (
                400,
                {
                    "errors": [{"message": f"text is {parsed.weightedLength} weighted characters (max 280)"}],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                },
                {},
            )
        if any(post["text"] == text for post in self.posts):
            self.rejected.append({"text": text, "reason": "duplicate"})
            return (
                403,
                {
                    "detail": "You are not allowed to create a Tweet with duplicate content.",
                    "type": "about:blank",
                    "title": "Forbidden",
                    "status": 403,
                },
                {},
            )
        reply = (params.get("reply") or {}).get("in_reply_to_tweet_id")
        if reply is not None and not any(post["id"] == reply for post in self.posts):
            return (
                400,
                {
                    "errors": [{"message": "reply target does not exist"}],
                    "title": "Invalid Request",
                    "detail": "Invalid Request",
                },
                {},
            )
        self._counter += 1
        post_id = str(1866000000000000000 + self._counter)
        self.posts.append({"id": post_id, "text": text, "reply_to": reply})
        return 201, {"data": {"id": post_id, "text": text, "edit_history_tweet_ids": [post_id]}}, {}

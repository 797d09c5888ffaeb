"""A fake X API v2 (``POST /2/tweets``) on 127.0.0.1, driven through the real ``tweepy.Client``.

It verifies the OAuth 1.0a signature *for the public URL* (https://api.twitter.com/2/tweets: the
client signs for X and only sends elsewhere), that a reply points at an existing post, X's 280
weighted-character limit (``twitter-text-parser``) and its duplicate rule (403 for identical text).
It also answers ``GET /2/users/me`` and ``GET /2/users/:id/tweets`` (newest first, 100 a page with
``pagination_token``, ``referenced_tweets``), which the publisher reads to find a post an
interrupted attempt made. ``read_forbidden = True`` answers those reads 403 (an app without read access).
Faults: ``fail_next(status=503)``, ``rate_limit_next(reset_in=1)``, ``drop_next(after=True)``,
``latency = 0.3`` (``method_latency["/2/tweets"]`` for posts only, ``"/2/users"`` for reads).
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
        self.read_forbidden = False
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

    def route(self, path: str) -> str:
        return "/2/users" if path.startswith("/2/users") else path

    def _signature_ok(self, method: str, path: str, headers: dict[str, str], query: dict[str, Any]) -> bool:
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
        pairs += [(key, str(value)) for key, value in query.items()]
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
        query = params if request.command == "GET" else {}
        if not self._signature_ok(request.command, path, headers, query):
            return 401, {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}, {}
        if request.command == "GET" and path.startswith("/2/users/"):
            return self._read(path, params)
        if path != "/2/tweets" or request.command != "POST":
            return 404, {"title": "Not Found Error", "status": 404, "detail": "not found"}, {}
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

    def _read(self, path: str, params: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if self.read_forbidden:
            return 403, {"title": "Forbidden", "type": "about:blank", "status": 403, "detail": "Forbidden"}, {}
        if path == "/2/users/me":
            return 200, {"data": {"id": USER_ID, "name": "Status", "username": "status"}}, {}
        if path != f"/2/users/{USER_ID}/tweets":
            return 404, {"title": "Not Found Error", "status": 404, "detail": "not found"}, {}
        size = min(100, int(params.get("max_results") or 10))
        start = int(params.get("pagination_token") or 0)
        newest_first = list(reversed(self.posts))
        page = newest_first[start : start + size]
        data = []
        for post in page:
            item: dict[str, Any] = {
                "id": post["id"],
                "text": _escaped(post["text"]),
                "edit_history_tweet_ids": [post["id"]],
            }
            if post["reply_to"] is not None and "referenced_tweets" in str(params.get("tweet.fields") or ""):
                item["referenced_tweets"] = [{"type": "replied_to", "id": post["reply_to"]}]
            data.append(item)
        meta: dict[str, Any] = {"result_count": len(data)}
        if start + size < len(newest_first):
            meta["next_token"] = str(start + size)
        return 200, {"data": data, "meta": meta} if data else {"meta": meta}, {}


USER_ID = "1866000000000000001"


def _escaped(text: str) -> str:
    """X API v2 returns post text with ``&``, ``<`` and ``>`` as HTML entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

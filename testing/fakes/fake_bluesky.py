"""A fake Bluesky PDS on 127.0.0.1 (XRPC), driven through the real ``atproto`` SDK: sessions
(createSession, refreshSession, with real JWTs the SDK decodes), getProfile, createRecord, getRecord.

Answers are valid for the SDK's models. It checks the app password and the bearer token, the record key (a TID), that a key is used once
("Record already exists"), 300 graphemes per post, that reply ``root``/``parent`` name existing
posts with their cid, and that link facets' byte ranges cover their URL. Faults as in ``server``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

import regex

from .server import FakeServer

DEFAULT_PASSWORD = "abcd-efgh-ijkl-mnop"
DID = "did:plc:fakeincidentctl0000000"
_TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


class FakeBluesky(FakeServer):
    def __init__(self, handle: str = "status.example.com", password: str = DEFAULT_PASSWORD) -> None:
        super().__init__()
        self.account = handle
        self.password = password
        now = int(time.time())
        self.jwt = _jwt({"scope": "com.atproto.appPass", "sub": DID, "iat": now, "exp": now + 7200}, password)
        self.refresh_jwt = _jwt({"scope": "com.atproto.refresh", "sub": DID, "iat": now, "exp": now + 86400}, password)
        self.records: dict[str, dict[str, Any]] = {}  # rkey -> {uri, cid, value}
        self.order: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def route(self, path: str) -> str:
        return path.rsplit("/", 1)[-1]

    def posts(self) -> list[dict[str, Any]]:
        return [self.records[rkey] for rkey in self.order]

    def handle(
        self, method: str, params: dict[str, Any], headers: dict[str, str], raw: bytes, request: BaseHTTPRequestHandler
    ) -> tuple[int, Any, dict[str, str]]:
        if method == "com.atproto.server.createSession":
            if params.get("identifier") != self.account or params.get("password") != self.password:
                return 401, {"error": "AuthenticationRequired", "message": "Invalid identifier or password"}, {}
            return 200, self._session(), {}
        if method == "com.atproto.server.refreshSession":
            if headers.get("authorization") != f"Bearer {self.refresh_jwt}":
                return 400, {"error": "ExpiredToken", "message": "Token has expired"}, {}
            return 200, self._session(), {}
        if headers.get("authorization") != f"Bearer {self.jwt}":
            return 401, {"error": "AuthenticationRequired", "message": "Invalid token"}, {}
        if method == "app.bsky.actor.getProfile":
            if params.get("actor") not in (self.account, DID):
                return 400, {"error": "InvalidRequest", "message": "Profile not found"}, {}
            return 200, {"did": DID, "handle": self.account, "displayName": "Status", "postsCount": len(self.order)}, {}
        if method == "com.atproto.repo.getRecord":
            found = self.records.get(str(params.get("rkey")))
            if found is None or params.get("repo") != DID:
                return 400, {"error": "RecordNotFound", "message": "Could not locate record"}, {}
            return 200, found, {}
        if method != "com.atproto.repo.createRecord":
            return 404, {"error": "MethodNotImplemented"}, {}
        rkey, record = str(params.get("rkey")), params.get("record") or {}
        if params.get("repo") != DID or params.get("collection") != "app.bsky.feed.post" or not _TID.match(rkey):
            return 400, {"error": "InvalidRequest", "message": "bad repo, collection or rkey"}, {}
        if rkey in self.records:
            return 400, {"error": "InvalidRequest", "message": "Record already exists"}, {}
        text = record.get("text", "")
        if not text or len(regex.findall(r"\X", text)) > 300:
            return 400, {"error": "InvalidRequest", "message": "Record/text must not be longer than 300 graphemes"}, {}
        reply = record.get("reply")
        if reply is not None:
            for side in ("root", "parent"):
                target = next((r for r in self.records.values() if r["uri"] == reply[side]["uri"]), None)
                if target is None or target["cid"] != reply[side]["cid"]:
                    return 400, {"error": "InvalidRequest", "message": f"reply {side} not found"}, {}
        encoded = text.encode("utf-8")
        for facet in record.get("facets", []):
            span = encoded[facet["index"]["byteStart"] : facet["index"]["byteEnd"]].decode("utf-8")
            if span != facet["features"][0]["uri"]:
                return 400, {"error": "InvalidRequest", "message": "facet does not cover its link"}, {}
        uri = f"at://{DID}/app.bsky.feed.post/{rkey}"
        cid = "bafyrei" + hashlib.sha256(repr(record).encode()).hexdigest()[:40]
        self.records[rkey] = {"uri": uri, "cid": cid, "value": record}
        self.order.append(rkey)
        return 200, {"uri": uri, "cid": cid, "commit": {"cid": cid, "rev": rkey}, "validationStatus": "valid"}, {}

    def _session(self) -> dict[str, Any]:
        return {
            "accessJwt": self.jwt,
            "refreshJwt": self.refresh_jwt,
            "did": DID,
            "handle": self.account,
            "active": True,
        }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _jwt(claims: dict[str, Any], key: str) -> str:
    """An HS256 JWT like a PDS's session tokens (the SDK reads ``exp`` to refresh in time)."""
    header = _b64(json.dumps({"typ": "at+jwt", "alg": "HS256"}).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(key.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"

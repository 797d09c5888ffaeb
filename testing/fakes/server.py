"""A small threaded HTTP server with failure injection, shared by the Slack and X fakes."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Fault:
    """One injected failure: an HTTP status (with headers/body), or a dropped connection.

    ``drop="before"`` closes the connection without handling the request; ``drop="after"``
    handles it (the message is posted) and then closes without answering: the ambiguous case.
    """

    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    drop: str | None = None
    method: str | None = None


class FakeServer:
    """Base: start/stop, a request log, latency, and a queue of faults consumed one per request."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.faults: deque[Fault] = deque()
        self.latency = 0.0
        #: Extra latency for some methods only (Slack method name or X path).
        self.method_latency: dict[str, float] = {}
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                fake._handle(self)

            def do_GET(self) -> None:
                fake._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- injection ------------------------------------------------------------------------------

    def fail_next(
        self,
        times: int = 1,
        status: int = 503,
        headers: dict[str, str] | None = None,
        body: Any = None,
        method: str | None = None,
    ) -> None:
        """The next ``times`` requests (to ``method`` only, when given) get ``status``."""
        with self.lock:
            for _ in range(times):
                self.faults.append(Fault(status=status, headers=dict(headers or {}), body=body, method=method))

    def drop_next(self, times: int = 1, after: bool = True, method: str | None = None) -> None:
        """Drop the connection of the next ``times`` requests (after handling them when ``after``)."""
        with self.lock:
            for _ in range(times):
                self.faults.append(Fault(drop="after" if after else "before", method=method))

    def _take_fault(self, method: str) -> Fault | None:
        with self.lock:
            for fault in list(self.faults):
                if fault.method is None or fault.method == method:
                    self.faults.remove(fault)
                    return fault
        return None

    # -- handling -------------------------------------------------------------------------------

    def route(self, path: str) -> str:
        return path

    def handle(
        self, method: str, params: dict[str, Any], headers: dict[str, str], raw: bytes, request: BaseHTTPRequestHandler
    ) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        parts = urlsplit(request.path)
        method = self.route(parts.path)
        params: dict[str, Any] = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        content_type = request.headers.get("Content-Type", "")
        if raw and "json" in content_type:
            params.update(json.loads(raw.decode("utf-8")))
        elif raw:
            params.update({key: values[-1] for key, values in parse_qs(raw.decode("utf-8")).items()})
        headers = {key.lower(): value for key, value in request.headers.items()}
        fault = self._take_fault(method)
        record = {"method": method, "params": params, "headers": headers, "fault": fault, "received": time.monotonic()}
        with self.lock:
            self.requests.append(record)
        if fault is not None and fault.drop == "before":
            self._drop(request)
            return
        if fault is not None and fault.drop is None:
            body = fault.body if fault.body is not None else {"ok": False, "error": f"HTTP {fault.status}"}
            self._respond(request, fault.status, body, fault.headers)
            return
        with self.lock:
            status, body, extra = self.handle(method, params, headers, raw, request)
        record["status"] = status
        # Latency after handling, as with a slow network: a client that times out may still have posted.
        delay = self.method_latency.get(method, self.latency)
        if delay:
            time.sleep(delay)
        record["answered"] = time.monotonic()
        if fault is not None and fault.drop == "after":
            self._drop(request)
            return
        self._respond(request, status, body, extra)

    @staticmethod
    def _drop(request: BaseHTTPRequestHandler) -> None:
        request.close_connection = True
        try:
            request.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    @staticmethod
    def _respond(request: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str]) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        try:
            request.send_response(status)
            request.send_header("Content-Type", "application/json; charset=utf-8")
            request.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                request.send_header(key, value)
            request.end_headers()
            request.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

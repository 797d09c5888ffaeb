"""``site serve``: build the site, then preview it on http://127.0.0.1:PORT/ (stdlib server)."""

from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ..errors import IncidentctlError


class _QuietHandler(SimpleHTTPRequestHandler):
    extensions_map = {  # noqa: RUF012 - the stdlib's own attribute
        **SimpleHTTPRequestHandler.extensions_map,
        ".atom": "application/atom+xml",
        ".json": "application/json",
        ".ics": "text/calendar",
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass


def make_server(folder: Path, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A server for ``folder`` (port 0 picks a free one; read ``server.server_address``)."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    try:
        return ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise IncidentctlError(f"cannot listen on {host}:{port}: {exc.strerror}") from None

"""`incidentctl demo` previews every built-in channel, the subscriber channels as a subscriber would
receive them, with no credentials (the test environment has none) and no network."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from incidentctl.demo import run_demo


def test_demo_previews_every_new_channel_without_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the demo tried to connect: {args[1:]!r}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    lines: list[str] = []
    run_demo(tmp_path / "demo", out=lambda line: lines.append(str(line)))
    text = "\n".join(lines)
    for header in (
        "[webhook, signed POST to each subscriber]",
        "[email, new thread, one copy per recipient]",
        "[email, reply in the incident's thread, one copy per recipient]",
        "[discord, new post]",
        "[discord, first message edited]",
        "[teams, Adaptive Card posted by the workflow]",
        "[mastodon, new post]",
        "[bluesky, new post",
    ):
        assert header in text, header
    # What a subscriber reads: the webhook's incident and update, the mail's subject and body.
    assert "component_update: API operational -> major_outage" in text
    assert "  Subject: [Status] ChatGPT, Sora and API unavailable" in text
    assert "Investigating: ChatGPT, Sora and API unavailable" in text
    # As shown to people: no escaped Discord markdown, no raw JSON.
    assert "users\\:" not in text and '"incident_updates"' not in text

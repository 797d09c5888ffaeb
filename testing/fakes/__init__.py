"""Fake Slack and X HTTP servers on 127.0.0.1 for tests: real clients, real HTTP, injected failures."""

from .fake_slack import FakeSlack
from .fake_x import FakeX

__all__ = ["FakeSlack", "FakeX"]

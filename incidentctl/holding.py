"""Holding updates: a public "no new information" entry when a promised update is overdue (opt-in per severity)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Config
    from .model import Incident
    from .tick import Due


def due_actions(incident: Incident, config: Config, now: datetime) -> list[Due]:
    """The holding update due on ``incident`` at ``now``, if any (none yet)."""
    return []

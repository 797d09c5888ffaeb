"""Scheduled maintenance: schedule, start, complete, cancel, reschedule; and what ``tick`` applies when due."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Config
    from .model import Incident
    from .tick import Due


def due_actions(incident: Incident, config: Config, now: datetime) -> list[Due]:
    """Auto-start, auto-complete and reminder notices due on ``incident`` at ``now`` (none yet)."""
    return []

"""Publishers: one module per channel behind the ``Publisher`` protocol (see :mod:`.base`)."""

from __future__ import annotations

from .base import (
    ENTRY_POINT_GROUP,
    Message,
    Publisher,
    RenderContext,
    RetryBudget,
    Sender,
    SendError,
    Sent,
    get_publisher,
    publisher_names,
    register,
    unregister,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Message",
    "Publisher",
    "RenderContext",
    "RetryBudget",
    "SendError",
    "Sender",
    "Sent",
    "get_publisher",
    "publisher_names",
    "register",
    "unregister",
]

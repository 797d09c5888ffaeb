"""Channels: one module per channel behind the :class:`Channel` protocol, found through the registry."""

from __future__ import annotations

from .base import (
    BaseChannel,
    Channel,
    ChannelSettings,
    ConnectContext,
    Message,
    NoSettings,
    RenderContext,
    RetryBudget,
    RetryPolicy,
    Secret,
    Sender,
    SendError,
    Sent,
    current_retry_policy,
    use_retry_policy,
)
from .registry import (
    ENTRY_POINT_GROUP,
    channel_names,
    find_channel,
    get_channel,
    missing_secrets,
    missing_secrets_message,
    register,
    secret_names,
    unregister,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "BaseChannel",
    "Channel",
    "ChannelSettings",
    "ConnectContext",
    "Message",
    "NoSettings",
    "RenderContext",
    "RetryBudget",
    "RetryPolicy",
    "Secret",
    "SendError",
    "Sender",
    "Sent",
    "channel_names",
    "current_retry_policy",
    "find_channel",
    "get_channel",
    "missing_secrets",
    "missing_secrets_message",
    "register",
    "secret_names",
    "unregister",
    "use_retry_policy",
]

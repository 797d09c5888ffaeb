"""Finding channels: one entry-point group, ``incidentctl.channels``, for built-ins and plugins alike.

The built-in channels are declared in incidentctl's own ``pyproject.toml`` exactly as a plugin
declares its own::

    [project.entry-points."incidentctl.channels"]
    mychannel = "my_package.module:MyChannel"

The value is a class (instantiated with no arguments) or an instance implementing
:class:`~incidentctl.channels.base.Channel`. The older group ``incidentctl.publishers`` is read too.
Tests and scripts may :func:`register` a channel object directly.

The built-ins are also listed in :data:`BUILTINS` (the same ``name = "module:Class"`` lines; a test
keeps the two equal), so finding one imports only its own module: no scan of every installed
package's metadata (``importlib.metadata.entry_points``) and no ``pyproject.toml`` read on start-up.
The scan runs only for a name that is not built in, or to list every channel.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import ConfigError
from .base import Channel, Secret

ENTRY_POINT_GROUP = "incidentctl.channels"
LEGACY_ENTRY_POINT_GROUP = "incidentctl.publishers"

#: The built-in channels: ``[project.entry-points."incidentctl.channels"]`` of pyproject.toml, line for line.
BUILTINS: dict[str, str] = {
    "slack": "incidentctl.channels.slack:SlackChannel",
    "x": "incidentctl.channels.x:XChannel",
    "statuspage": "incidentctl.channels.statuspage:StatuspageChannel",
    "webhook": "incidentctl.channels.webhook:WebhookChannel",
    "email": "incidentctl.channels.email:EmailChannel",
    "discord": "incidentctl.channels.discord:DiscordChannel",
    "teams": "incidentctl.channels.teams:TeamsChannel",
    "mastodon": "incidentctl.channels.mastodon:MastodonChannel",
    "bluesky": "incidentctl.channels.bluesky:BlueskyChannel",
    "atlassian": "incidentctl.channels.atlassian:AtlassianChannel",
}

_registered: dict[str, Channel] = {}
_scanned: dict[str, Any] = {}
_loaded: dict[str, Channel] = {}


def register(channel: Channel) -> None:
    """Add (or replace) a channel under ``channel.name``; wins over installed entry points."""
    _check(channel, repr(channel))
    _registered[channel.name] = channel


def unregister(name: str) -> None:
    _registered.pop(name, None)


def _source_tree_points() -> dict[str, Any]:
    """A source checkout whose installed metadata predates the group (not re-installed since): read
    the same declarations from its ``pyproject.toml``, so the built-ins are still found."""
    import tomllib
    from importlib.metadata import EntryPoint
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    project = data.get("project") or {}
    if project.get("name") != "incidentctl":
        return {}
    declared = (project.get("entry-points") or {}).get(ENTRY_POINT_GROUP) or {}
    return {name: EntryPoint(name, str(value), ENTRY_POINT_GROUP) for name, value in declared.items()}


def _entry_points() -> dict[str, Any]:
    """Installed entry points by name, scanned once per process (a new plugin needs a new process)."""
    from importlib.metadata import entry_points

    if _scanned:
        return _scanned
    found: dict[str, Any] = _source_tree_points()
    for group in (LEGACY_ENTRY_POINT_GROUP, ENTRY_POINT_GROUP):  # the new group wins
        for point in entry_points(group=group):
            found[point.name] = point
    _scanned.update(found)
    return _scanned


def _check(channel: object, where: str) -> Channel:
    missing = [
        attr for attr in ("name", "settings_model", "secrets", "edits_root", "render", "connect", "show")
        if not hasattr(channel, attr)
    ]  # fmt: skip
    if missing or not isinstance(channel, Channel):
        raise ConfigError(f"{where} is not an incidentctl channel (missing: {', '.join(missing) or 'render/connect'})")
    return channel


def get_channel(name: str) -> Channel:
    """The channel called ``name``: registered, else from an installed entry point."""
    if name in _registered:
        return _registered[name]
    if name in _loaded:
        return _loaded[name]
    value = BUILTINS.get(name)
    if value is None:
        point = _entry_points().get(name)
        if point is None:
            known = ", ".join(channel_names()) or "none"
            raise ConfigError(f"channels.{name}: no such channel (known: {known}); install its plugin")
        value = str(point.value)
    try:
        factory = _load(value)
    except Exception as exc:  # noqa: BLE001 - a broken plugin is a config problem, not a traceback
        raise ConfigError(f"channels.{name}: cannot load {value}: {type(exc).__name__}: {exc}") from None
    channel = _check(factory() if isinstance(factory, type) else factory, value)
    _loaded[name] = channel
    return channel


def _load(value: str) -> Any:
    """``module:attr.path`` → the object, as ``EntryPoint.load`` does (without importing importlib.metadata)."""
    import importlib

    module_name, _, attrs = value.partition(":")
    target: Any = importlib.import_module(module_name.strip())
    for attr in filter(None, attrs.strip().split(".")):
        target = getattr(target, attr)
    return target


def find_channel(name: str) -> Channel | None:
    """Like :func:`get_channel`, ``None`` for an unknown name."""
    try:
        return get_channel(name)
    except ConfigError:
        return None


def channel_names() -> list[str]:
    return sorted({*_registered, *BUILTINS, *_entry_points()})


# -- secrets ----------------------------------------------------------------------------------------


def missing_secrets(channel: Channel, env: dict[str, str] | None = None) -> list[Secret]:
    source = os.environ if env is None else env
    return [secret for secret in channel.secrets if secret.required and not source.get(secret.env)]


def missing_secrets_message(channel: Channel, missing: list[Secret] | None = None) -> str:
    """``slack: SLACK_BOT_TOKEN is not set: export the bot token (xoxb-...) to publish to Slack``."""
    missing = missing_secrets(channel) if missing is None else missing
    if not missing:
        return f"{channel.name}: the channel is not enabled"
    names = ", ".join(secret.env for secret in missing)
    verb = "is" if len(missing) == 1 else "are"
    fixes = list(dict.fromkeys(secret.how_to_get for secret in missing))
    return f"{channel.name}: {names} {verb} not set: {'; '.join(fixes)}"


def secret_names() -> list[str]:
    """Every secret any known channel declares (for scrubbing output and isolating tests)."""
    names: list[str] = []
    for name in channel_names():
        channel = find_channel(name)
        if channel is not None:
            names.extend(secret.env for secret in channel.secrets)
    return list(dict.fromkeys(names))

"""One :class:`Templates` object per incident repo: the sandboxed Jinja environment every template
(Slack, X, the status page, the postmortem, a plugin's own) is rendered in.

Lookup is the repo's ``templates/`` first, then the packaged defaults; undefined variables are
errors (``StrictUndefined``); every failure is a :class:`~incidentctl.errors.TemplateError` naming
file and line. Channels receive it in their :class:`~incidentctl.channels.base.RenderContext`.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from jinja2 import BytecodeCache
    from jinja2.sandbox import SandboxedEnvironment

    from .config import Config


class Templates:
    """The templates of one repo (``root`` may be ``None``: packaged templates only)."""

    def __init__(self, root: Path | None, timezone: str = "UTC") -> None:
        self.root = root
        self.timezone = timezone
        self.env = _build_environment(root, timezone)
        self._overlays: dict[str, SandboxedEnvironment] = {}
        self._lock = threading.Lock()

    @property
    def folders(self) -> list[Path]:
        """Where templates are looked up, in order."""
        from .render import packaged_templates

        return [*([self.root / "templates"] if self.root else []), packaged_templates()]

    def render(self, name: str, **context: Any) -> str:
        """Render template ``name``; any failure becomes a TemplateError naming file and line."""
        from .render import render

        return render(self.env, name, **context)

    def overlay(self, key: str, filters: Callable[[], dict[str, Any]]) -> SandboxedEnvironment:
        """An overlay of the environment with extra ``filters`` (built once per key, e.g. the site's)."""
        with self._lock:
            env = self._overlays.get(key)
            if env is None:
                env = self.env.overlay()
                env.filters.update(filters())
                self._overlays[key] = env
            return env

    def fingerprint(self, subfolder: str = "") -> str:
        """A digest of every template file (repo overrides and packaged) under ``subfolder`` and the zone:
        anything rendered from them is stale when it changes."""
        digest = hashlib.sha256(self.timezone.encode("utf-8"))
        for folder in self.folders:
            base = folder / subfolder if subfolder else folder
            if not base.is_dir():
                continue
            for path in sorted(base.rglob("*")):
                if path.is_file():
                    digest.update(f"{path}\0".encode())
                    digest.update(hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest()


_REPOS: dict[tuple[str, str], Templates] = {}
_REPOS_LOCK = threading.Lock()


def templates_for(root: Path | None, config: Config | None = None) -> Templates:
    """The one :class:`Templates` for the repo at ``root`` with ``config``'s time zone."""
    zone = config.timezone if config is not None else "UTC"
    key = (str(root) if root else "", zone)
    with _REPOS_LOCK:
        templates = _REPOS.get(key)
        if templates is None:
            templates = _REPOS[key] = Templates(Path(root) if root else None, zone)
        return templates


def _build_environment(root: Path | None, zone: str) -> SandboxedEnvironment:
    from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, select_autoescape
    from jinja2.sandbox import SandboxedEnvironment

    from .promises import promise_time
    from .render import (
        _iso,
        duration_filter,
        escape_mrkdwn,
        local_time,
        offset_time,
        packaged_templates,
    )
    from .vocabulary import IMPACT_LABELS, STATUS_LABELS

    search = []
    if root:
        # Added even before the folder exists: an override dropped in later is still found.
        search.append(FileSystemLoader(str(root / "templates")))
    search.append(FileSystemLoader(str(packaged_templates())))
    env = SandboxedEnvironment(
        loader=ChoiceLoader(search),
        bytecode_cache=_bytecode_cache(root),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html", "htm", "xml", "html.j2", "xml.j2"), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    tz = ZoneInfo(zone)
    env.filters.update(
        duration=duration_filter,
        localtime=lambda value, fmt="%Y-%m-%d %H:%M %Z": local_time(value, tz, fmt),
        offsettime=lambda value: offset_time(value, tz),
        promise=lambda value, at=None: promise_time(value, at, tz),
        iso=_iso,
        mrkdwn=escape_mrkdwn,
        status_label=lambda value: STATUS_LABELS.get(str(value), str(value)),
        impact_label=lambda value: IMPACT_LABELS.get(str(value), str(value)),
    )
    env.globals.update(STATUS_LABELS=STATUS_LABELS, IMPACT_LABELS=IMPACT_LABELS, timezone=zone)
    return env


def _bytecode_cache(root: Path | None) -> BytecodeCache | None:
    """Compiled templates kept in ``.git/incidentctl/jinja/`` (keyed by each template's source, so an
    edited template is recompiled; never tracked, safe to delete): compiling is most of the cost of
    rendering a handful of pages, e.g. the site rebuild after one update."""
    if not root or not (root / ".git").is_dir():
        return None
    from jinja2 import FileSystemBytecodeCache

    from .records.cache import cache_dir  # light module: os, pickle

    folder = cache_dir(root) / "jinja"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return FileSystemBytecodeCache(str(folder))


def forget_templates() -> None:
    """Drop every repo's :class:`Templates` (a template override added to a repo that already rendered
    the packaged one is then found; tests, long-running processes)."""
    with _REPOS_LOCK:
        _REPOS.clear()

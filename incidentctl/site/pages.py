"""Rendering the status page's files: the Jinja environment with the site's filters, and one function per page."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..durations import isoformat_z
from ..errors import IncidentctlError
from ..vocabulary import INDICATOR_BANNERS, INDICATOR_WORDS
from .availability import format_uptime
from .summary import IncidentView, incident_path, micros, with_record
from .view import site_title

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from jinja2.sandbox import SandboxedEnvironment
    from markupsafe import Markup

    from ..config import Config
    from ..store import Repo
    from .history import HistoryPage
    from .view import SiteView


_OVERLAYS: dict[int, tuple[SandboxedEnvironment, SandboxedEnvironment]] = {}


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


IMPACT_CLASS = {
    "operational": "op",
    "under_maintenance": "um",
    "degraded_performance": "dg",
    "partial_outage": "pa",
    "major_outage": "ma",
}


def site_environment(repo: Repo) -> SandboxedEnvironment:
    """The shared environment plus the site's ``time_tag`` filter (an overlay, cached per environment)."""
    from ..render import environment

    base = environment(repo.root, repo.config)
    cached = _OVERLAYS.get(id(base))
    if cached is not None and cached[0] is base:
        return cached[1]
    overlay = base.overlay()
    overlay.filters["time_tag"] = _time_tag_filter(repo.config.tz)
    _OVERLAYS[id(base)] = (base, overlay)
    return overlay


def _time_tag_filter(zone: ZoneInfo) -> Callable[[Any], Markup]:
    from markupsafe import Markup, escape

    from ..render import local_time

    names: dict[str | None, str] = {}  # zone abbreviation → its escaped text (a handful per zone)

    def slow_tag(value: Any) -> Markup:
        # Both parts are escaped: the ISO stamp is digits and punctuation, the local time goes through escape().
        return Markup(f'<time datetime="{escape(isoformat_z(value))}">{escape(local_time(value, zone))}</time>')  # noqa: S704

    def time_tag(value: Any) -> Markup:
        """``<time datetime="2024-12-12T00:00:00Z">2024-12-11 19:00 EST</time>``; a filter, not a macro: pages have many."""
        if value is None:
            return Markup("")
        if type(value) is not datetime or value.tzinfo is None:
            return slow_tag(value)
        # The same text as slow_tag, without strftime (its Python wrapper is most of the cost):
        # str() (isoformat) pads the year to four digits as isoformat_z does; strftime's %Y does not below 1000.
        local = value.astimezone(zone)
        if local.year < 1000:
            return slow_tag(value)
        name = local.tzname()
        escaped = names.get(name)
        if escaped is None:
            escaped = names[name] = str(escape(name or ""))
        utc = str(value.astimezone(UTC))  # "2024-12-12 00:00:00+00:00" (str() is isoformat(" "), the fastest)
        return Markup(f'<time datetime="{utc[:10]}T{utc[11:19]}Z">{str(local)[:16]} {escaped}</time>')  # noqa: S704

    return time_tag


def render_incident_page(
    env: SandboxedEnvironment, common: dict[str, Any], item: IncidentView, record: dict[str, Any], now: datetime
) -> bytes:
    """One incident's page: depends on that incident, the config and (while open) ``now`` only."""
    item = with_record(item, record)
    if item.is_maintenance:
        # Only what the page key names (see incremental.Job.page_key): the phase, and now while it runs.
        phase = item.phase(micros(now))
        moment = now if item.is_active else None
        return _page(
            env, "site/maintenance.html.j2", common, root="../", item=item, incident=record, now=moment, phase=phase
        )
    moment = now if item.is_open else None
    return _page(env, "site/incident.html.j2", common, root="../", item=item, incident=record, now=moment)


def common_context(config: Config) -> dict[str, Any]:
    return {
        "site_title": site_title(config),
        "organization": config.organization,
        # From the config alone, so a page never depends on other incidents (names of unknown ids: the id).
        "component_names": {component.id: component.name for component in config.components},
        "impact_class": IMPACT_CLASS,
        "impact_words": INDICATOR_WORDS,
        "banners": INDICATOR_BANNERS,
        "uptime": format_uptime,
        "incident_path": incident_path,
    }


def _page(env: SandboxedEnvironment, name: str, common: dict[str, Any], **context: Any) -> bytes:
    from ..render import render

    # Control characters are HTML parse errors; untrusted text may carry them.
    return _CONTROL.sub("", render(env, name, **common, **context)).encode("utf-8")


def static_file(env: SandboxedEnvironment, name: str) -> bytes:
    """A static file from the templates (a repo's own ``templates/site/style.css`` wins)."""
    import jinja2

    assert env.loader is not None
    try:
        source, _, _ = env.loader.get_source(env, name)
    except jinja2.TemplateNotFound:
        raise IncidentctlError(f"{name} not found in the repo's templates/ or the packaged templates") from None
    return source.encode("utf-8")


def render_history_page(
    env: SandboxedEnvironment, common: dict[str, Any], view: SiteView, page: HistoryPage, archive: list[HistoryPage]
) -> bytes:
    """``history.html`` (``archive``: every archive page, for its links) or one archive page."""
    return _page(env, "site/history.html.j2", common, root="", site=view, page=page, archive=archive)


def render_index(env: SandboxedEnvironment, common: dict[str, Any], view: SiteView) -> bytes:
    return _page(env, "site/index.html.j2", common, root="", site=view)

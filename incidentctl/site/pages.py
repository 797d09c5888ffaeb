"""Rendering the status page's files: the Jinja environment with the site's filters, and one function per page."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
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


_CONTROL_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
"""The control characters a page never holds (tab, line feed and carriage return stay)."""


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

    def tag_text(value: Any) -> str:
        """``<time datetime="2024-12-12T00:00:00Z">2024-12-11 19:00 EST</time>``: what ``time_tag`` marks safe."""
        if value is None:
            return ""
        if type(value) is not datetime or value.tzinfo is None:
            return str(slow_tag(value))
        # The same text as slow_tag, without strftime (its Python wrapper is most of the cost):
        # str() (isoformat) pads the year to four digits as isoformat_z does; strftime's %Y does not below 1000.
        local = value.astimezone(zone)
        if local.year < 1000:
            return str(slow_tag(value))
        name = local.tzname()
        escaped = names.get(name)
        if escaped is None:
            escaped = names[name] = str(escape(name or ""))
        utc = str(value.astimezone(UTC))  # "2024-12-12 00:00:00+00:00" (str() is isoformat(" "), the fastest)
        return f'<time datetime="{utc[:10]}T{utc[11:19]}Z">{str(local)[:16]} {escaped}</time>'

    def time_tag(value: Any) -> Markup:
        """``<time datetime="2024-12-12T00:00:00Z">2024-12-11 19:00 EST</time>``; a filter, not a macro: pages have many."""
        return Markup(tag_text(value))  # noqa: S704 - escaped above

    time_tag.as_text = tag_text  # type: ignore[attr-defined] # for updates_html: no Markup per value
    return time_tag


def render_incident_page(
    env: SandboxedEnvironment, common: dict[str, Any], item: IncidentView, record: dict[str, Any], now: datetime
) -> bytes:
    """One incident's page: depends on that incident, the config and (while open) ``now`` only."""
    item = with_record(item, record)
    extra: dict[str, Any] = {}
    if _packaged_macros(env):
        # The packaged `updates` macro's output made in Python (most of a page's rendering time in
        # Jinja); the packaged page templates use it, a repo's own templates may ignore it.
        extra["updates_html"] = updates_html(env, record, common["component_names"])
    if item.is_maintenance:
        # Only what the page key names (see incremental.Job.page_key): the phase, and now while it runs.
        phase = item.phase(micros(now))
        moment = now if item.is_active else None
        return _page(
            env,
            "site/maintenance.html.j2",
            common,
            root="../",
            item=item,
            incident=record,
            now=moment,
            phase=phase,
            **extra,
        )
    moment = now if item.is_open else None
    return _page(env, "site/incident.html.j2", common, root="../", item=item, incident=record, now=moment, **extra)


MACROS = "site/macros.html.j2"
HISTORY = "site/history.html.j2"


def _packaged_macros(env: SandboxedEnvironment) -> bool:
    """Whether ``site/macros.html.j2`` is the packaged one: then its ``updates`` macro's output may be
    made in Python (:func:`updates_html`)."""
    return _is_packaged(env, MACROS)


def _is_packaged(env: SandboxedEnvironment, name: str) -> bool:
    """Whether template ``name`` is the packaged file, not a repo's own copy: the template Jinja itself
    would load (its cache, reloaded as Jinja reloads it). A repo's copy keeps its own loops, so an edit
    of it always shows."""
    from ..render import packaged_templates

    key = (id(env), name)
    if not env.auto_reload:  # templates loaded once for this build (Job.run's overlay): asked once
        kept = _PACKAGED_IN_ENV.get(key)
        if kept is not None and kept[0] is env:
            return kept[1]
        if len(_PACKAGED_IN_ENV) > 32:
            _PACKAGED_IN_ENV.clear()
        _PACKAGED_IN_ENV[key] = (env, False)  # until known below
    try:
        filename = env.get_template(name).filename
    except Exception:  # noqa: BLE001 - a missing or broken file: the page's own render says what is wrong
        return False
    if filename is None:
        return False
    packaged = _PACKAGED_FILES.get(filename)
    if packaged is None:
        packaged = _PACKAGED_FILES[filename] = Path(filename).resolve() == (packaged_templates() / name).resolve()
    if not env.auto_reload:
        _PACKAGED_IN_ENV[key] = (env, packaged)
    return packaged


_PACKAGED_FILES: dict[str, bool] = {}
_PACKAGED_IN_ENV: dict[tuple[int, str], tuple[SandboxedEnvironment, bool]] = {}


def updates_html(env: SandboxedEnvironment, record: dict[str, Any], component_names: dict[str, str]) -> Markup:
    """What the packaged ``updates(incident, component_names)`` macro renders, byte for byte
    (``tests/test_site.py`` compares the two on every kind of entry), without Jinja's per-value calls."""
    from jinja2.filters import do_dictsort
    from markupsafe import Markup, escape

    filters = env.filters
    time_tag, status_label, impact_label = filters["time_tag"], filters["status_label"], filters["impact_label"]
    time_tag = getattr(time_tag, "as_text", time_tag)  # the same text, not made Markup first
    labels = _LABELS.get(status_label)
    if labels is None or len(labels) > 10_000:
        labels = _LABELS[status_label] = {}
    impacts = _LABELS.get(impact_label)
    if impacts is None or len(impacts) > 10_000:
        impacts = _LABELS[impact_label] = {}
    parts = ['<ol class="updates" reversed>\n']
    add = parts.append
    for entry in reversed(record["timeline"]):
        status = entry["status"]
        label = labels.get(status)
        if label is None:
            label = labels[status] = str(escape(status_label(status)))
        # time_tag gives escaped text.
        add(f"<li><strong>{label}</strong> · {time_tag(entry['at'])}\n")
        if entry["scheduled_for"] and entry["scheduled_until"]:
            moved = "Moved to" if entry["notice"] == "rescheduled" else "Scheduled for"
            start, end = time_tag(entry["scheduled_for"]), time_tag(entry["scheduled_until"])
            add(f'<p class="meta">{moved} {start} – {end}</p>')
        if entry["message"]:
            add(f'<p dir="auto">{escape(entry["message"])}</p>')
        if entry["components"]:
            shown = []
            for cid, impact in do_dictsort(entry["components"]):
                text = impacts.get(impact)
                if text is None:
                    text = impacts[impact] = str(escape(impact_label(impact)))
                shown.append(f"<bdi>{escape(component_names.get(cid, cid))}</bdi>: {text}")
            add(f'<p class="meta">{"; ".join(shown)}</p>')
        add("</li>\n")
    add("</ol>")
    return Markup("".join(parts))  # noqa: S704 - every value above is escaped


_LABELS: dict[Callable[[Any], Any], dict[Any, str]] = {}
"""A label filter's escaped text per value (statuses, impacts: a handful), per filter function."""


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

    # Control characters are HTML parse errors; untrusted text may carry them. Deleted from the UTF-8
    # bytes (the same characters: no byte of a multi-byte sequence is below 0x80), 3x faster than a regex.
    return render(env, name, **common, **context).encode("utf-8").translate(None, _CONTROL_BYTES)


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
    extra: dict[str, Any] = {}
    if _is_packaged(env, HISTORY):  # a repo's own copy renders its own rows
        extra["history_rows"] = [history_rows(env, common, month.incidents) for month in page.months]
    return _page(env, HISTORY, common, root="", site=view, page=page, archive=archive, **extra)


def history_rows(env: SandboxedEnvironment, common: dict[str, Any], items: Sequence[IncidentView]) -> Markup:
    """One month's ``<li>`` rows as the packaged ``history.html.j2`` writes them (a page lists hundreds;
    the sandbox checks each attribute a template reads), for that template's ``history_rows`` (given
    only to the packaged template);
    ``tests/test_site_pages.py`` compares the two."""
    from markupsafe import Markup, escape

    filters = env.filters
    time_tag, status_label, duration = filters["time_tag"], filters["status_label"], filters["duration"]
    time_tag = getattr(time_tag, "as_text", time_tag)
    impact_words = common["impact_words"]
    parts: list[str] = []
    add = parts.append
    for item in items:
        incident = item.incident
        status = escape(status_label(incident["status"]))
        add(f'<li><a href="{escape(item.path)}"><bdi>{escape(incident["title"])}</bdi></a>\n')
        if item.is_maintenance:
            window = f"{time_tag(item.scheduled_for_at)} – {time_tag(item.scheduled_until_at)}"
            add(f'<p class="meta">Scheduled maintenance · {status} · {window}</p></li>\n')
            continue
        started, resolved = incident["started_at"], incident["resolved_at"]
        lasted = f" · lasted {escape(duration(started, resolved))}" if resolved else ""
        add(f'<p class="meta">{escape(impact_words[item.impact])} · {status} · {time_tag(started)}{lasted}</p></li>\n')
    return Markup("".join(parts))  # noqa: S704 - every value above is escaped


def render_index(env: SandboxedEnvironment, common: dict[str, Any], view: SiteView) -> bytes:
    return _page(env, "site/index.html.j2", common, root="", site=view)

"""The one Jinja environment: sandboxed, ``StrictUndefined``, repo templates before packaged ones.

Every template (Slack, X, the status page, the postmortem) is rendered here, so the sandbox, the
filters and the error messages are the same everywhere.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .durations import format_duration, isoformat_z
from .errors import TemplateError

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

    from .config import Config

STATUS_LABELS = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
}
IMPACT_LABELS = {
    "operational": "Operational",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "under_maintenance": "Under maintenance",
}


def packaged_templates() -> Path:
    """The default templates: inside the wheel (``incidentctl/_templates``) or the source tree."""
    here = Path(__file__).resolve().parent
    installed = here / "_templates"
    if installed.is_dir():
        return installed
    return here.parent / "templates"


def packaged_samples() -> Path:
    """The sample incident records (real outages replayed), shipped like the templates."""
    here = Path(__file__).resolve().parent
    installed = here / "_samples"
    if installed.is_dir():
        return installed
    return here.parent / "incidents"


# -- filters --------------------------------------------------------------------------------------


def escape_mrkdwn(value: Any) -> str:
    """Slack mrkdwn: only ``&``, ``<`` and ``>`` are control characters."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def local_time(value: Any, tz: ZoneInfo | str = "UTC", fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """A timestamp in the configured zone, e.g. ``2024-12-11 19:00 EST``."""
    if value is None:
        return ""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    return _as_datetime(value).astimezone(zone).strftime(fmt)


def offset_time(value: Any, tz: ZoneInfo | str = "UTC") -> str:
    """``2024-12-11 19:00 -05:00``: local time with its UTC offset (terminal output)."""
    if value is None:
        return ""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    local = _as_datetime(value).astimezone(zone)
    offset = local.strftime("%z")
    return local.strftime("%Y-%m-%d %H:%M ") + (f"{offset[:3]}:{offset[3:]}" if offset else "UTC")


def duration_filter(value: Any, end: Any = None) -> str:
    """``{{ seconds|duration }}``, ``{{ delta|duration }}`` or ``{{ start|duration(end) }}`` → ``4h 38m``."""
    if end is not None:
        return format_duration(_as_datetime(end) - _as_datetime(value))
    if isinstance(value, timedelta | int | float):
        return format_duration(value)
    return format_duration(None)


def _iso(value: Any) -> str:
    return isoformat_z(_as_datetime(value)) if value is not None else ""


# -- environment ----------------------------------------------------------------------------------


def environment(root: Path | None, config: Config | None = None) -> SandboxedEnvironment:
    """The environment for an incident repo (``root/templates`` first, then the packaged defaults)."""
    zone = config.timezone if config is not None else "UTC"
    return _environment(str(root) if root else "", zone)


@functools.lru_cache(maxsize=8)
def _environment(root: str, zone: str) -> SandboxedEnvironment:
    from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, select_autoescape
    from jinja2.sandbox import SandboxedEnvironment

    search = []
    if root and (Path(root) / "templates").is_dir():
        search.append(FileSystemLoader(str(Path(root) / "templates")))
    search.append(FileSystemLoader(str(packaged_templates())))
    env = SandboxedEnvironment(
        loader=ChoiceLoader(search),
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
        iso=_iso,
        mrkdwn=escape_mrkdwn,
        status_label=lambda value: STATUS_LABELS.get(str(value), str(value)),
        impact_label=lambda value: IMPACT_LABELS.get(str(value), str(value)),
    )
    env.globals.update(STATUS_LABELS=STATUS_LABELS, IMPACT_LABELS=IMPACT_LABELS, timezone=zone)
    return env


def render(env: SandboxedEnvironment, name: str, **context: Any) -> str:
    """Render template ``name``; any failure becomes a :class:`TemplateError` naming file and line."""
    import jinja2

    try:
        template = env.get_template(name)
    except jinja2.TemplateNotFound:
        raise TemplateError(f"template {name!r} not found (looked in the repo's templates/ and the packaged defaults)") from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{exc.filename or name}:{exc.lineno}: template syntax error: {exc.message}") from None
    try:
        return template.render(**context)
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{_where(exc, template.filename or name)}: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a user template may raise anything; name where
        raise TemplateError(f"{_where(exc, template.filename or name)}: {type(exc).__name__}: {exc}") from None


def _where(exc: BaseException, filename: str) -> str:
    """file:line of the innermost template frame in the traceback."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename or tb.tb_frame.f_globals.get("__jinja_template__") is not None:
            template = tb.tb_frame.f_globals.get("__jinja_template__")
            if template is not None:
                line = template.get_corresponding_lineno(tb.tb_lineno)
                filename = template.filename or filename
        tb = tb.tb_next
    return f"{filename}:{line}" if line else filename


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)

"""The one Jinja environment: sandboxed, ``StrictUndefined``, repo templates before packaged ones.

Every template (Slack, X, the status page, the postmortem) is rendered here, so the sandbox, the
filters and the error messages are the same everywhere.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .durations import format_duration, isoformat_z
from .errors import TemplateError
from .vocabulary import IMPACT_LABELS, STATUS_LABELS

if TYPE_CHECKING:
    from jinja2 import BytecodeCache
    from jinja2.sandbox import SandboxedEnvironment

    from .config import Config
    from .model import Entry, Incident


def _packaged(installed_name: str, source_name: str) -> Path:
    """A folder shipped in the wheel as ``incidentctl/<installed_name>``, or the source tree's own."""
    here = Path(__file__).resolve().parent
    installed = here / installed_name
    return installed if installed.is_dir() else here.parent / source_name


def packaged_templates() -> Path:
    """The default templates: inside the wheel (``incidentctl/_templates``) or the source tree."""
    return _packaged("_templates", "templates")


def packaged_samples() -> Path:
    """The sample incident records (real outages replayed), shipped like the templates."""
    return _packaged("_samples", "incidents")


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
    if root:
        # Added even before the folder exists: an override dropped in later is still found.
        search.append(FileSystemLoader(str(Path(root) / "templates")))
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
        iso=_iso,
        mrkdwn=escape_mrkdwn,
        status_label=lambda value: STATUS_LABELS.get(str(value), str(value)),
        impact_label=lambda value: IMPACT_LABELS.get(str(value), str(value)),
    )
    env.globals.update(STATUS_LABELS=STATUS_LABELS, IMPACT_LABELS=IMPACT_LABELS, timezone=zone)
    return env


def _bytecode_cache(root: str) -> BytecodeCache | None:
    """Compiled templates kept in ``.git/incidentctl/jinja/`` (keyed by each template's source, so an
    edited template is recompiled; never tracked, safe to delete): compiling is most of the cost of
    rendering a handful of pages, e.g. the site rebuild after one update."""
    if not root or not (Path(root) / ".git").is_dir():
        return None
    from jinja2 import FileSystemBytecodeCache

    folder = Path(root) / ".git" / "incidentctl" / "jinja"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return FileSystemBytecodeCache(str(folder))


def render(env: SandboxedEnvironment, name: str, **context: Any) -> str:
    """Render template ``name``; any failure becomes a :class:`TemplateError` naming file and line."""
    import jinja2

    try:
        template = env.get_template(name)
    except jinja2.TemplateNotFound:
        raise TemplateError(
            f"template {name!r} not found (looked in the repo's templates/ and the packaged defaults)"
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{exc.filename or name}:{exc.lineno}: template syntax error: {exc.message}") from None
    try:
        return template.render(**context)
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{_where(exc, template.filename or name)}: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a user template may raise anything; name where
        raise TemplateError(f"{_where(exc, template.filename or name)}: {type(exc).__name__}: {exc}") from None


def _where(exc: BaseException, filename: str) -> str:
    """file:line of the innermost template frame in the traceback.

    Jinja rewrites tracebacks so template frames carry the template's file name and line; frames
    not yet rewritten carry ``__jinja_template__`` and map their line through it.
    """
    line = None
    tb = exc.__traceback__
    while tb is not None:
        code_file = tb.tb_frame.f_code.co_filename
        template = tb.tb_frame.f_globals.get("__jinja_template__")
        if template is not None:
            line = template.get_corresponding_lineno(tb.tb_lineno)
            filename = template.filename or filename
        elif code_file.endswith((".j2", ".jinja", ".html", ".txt", ".json", ".md", ".xml")) or code_file == filename:
            line = tb.tb_lineno
            filename = code_file
        tb = tb.tb_next
    return f"{filename}:{line}" if line else filename


# -- the context every message template sees -----------------------------------------------------


def incident_url(config: Config, incident_id: str) -> str | None:
    """The incident's page on the status site, when ``channels.statuspage.url`` is configured."""
    settings = config.channels.statuspage
    if settings is None or not settings.url:
        return None
    return f"{settings.url.rstrip('/')}/incidents/{incident_id}.html"


def message_context(incident: Incident, entry: Entry, config: Config) -> dict[str, Any]:
    """Variables for the message templates (``x.txt.j2``, ``slack.json.j2``, status-page pieces).

    ``incident`` must be the public view: templates can never see internal entries.
    """
    impacts: dict[str, str] = {}
    public_index = 0
    for index, candidate in enumerate(incident.timeline):
        impacts.update(candidate.components)
        if candidate is entry:
            public_index = index
            break
    components = [
        {
            "id": component_id,
            "name": config.component_name(component_id),
            "impact": impact,
            "label": IMPACT_LABELS.get(impact, impact),
        }
        for component_id, impact in impacts.items()
    ]
    severity = config.severities.get(incident.severity)
    return {
        "incident": incident,
        "entry": entry,
        "organization": config.organization,
        "severity": {"id": incident.severity, "name": severity.name if severity else incident.severity},
        "status": entry.status,
        "components": components,
        "affected": [component for component in components if component["impact"] != "operational"],
        "incident_url": incident_url(config, incident.id),
        "started_at": incident.started_at,
        "elapsed": entry.at - incident.started_at,
        "update_number": public_index + 1,
        "is_first": public_index == 0,
        "is_resolution": entry.status == "resolved",
        "next_update_by": entry.next_update_by,
    }


#: The message templates rendered once per public entry (``lint`` checks them against every record).
MESSAGE_TEMPLATES = ("x.txt.j2", "slack.json.j2", "statuspage/update.html.j2")


def sample_incidents() -> list[Incident]:
    """The packaged sample records (replayed public outages); the demo and ``lint`` render them."""
    from .model import Incident
    from .yamlio import fast_load

    folder = packaged_samples()
    samples = []
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        try:
            samples.append(Incident.model_validate(fast_load(path.read_text(encoding="utf-8"), path)))
        except Exception:  # noqa: BLE001, S112 - a broken sample is reported by the records' own lint
            continue
    return samples


def lint_templates(root: Path, config: Config, incidents: list[Incident]) -> list[str]:
    """Render every message template for every public entry of the records and the samples.

    Each problem is reported once, as ``templates/<name>:<line>: message``.
    """
    env = environment(root, config)
    problems: list[str] = []
    seen: set[str] = set()
    records = [*incidents, *sample_incidents()]
    for incident in records:
        view = incident.public_view()
        for entry in view.timeline:
            context = message_context(view, entry, config)
            for name in MESSAGE_TEMPLATES:
                try:
                    text = render(env, name, **context, kind="root" if context["is_first"] else "reply")
                    if name.endswith(".json.j2"):
                        _check_json(name, text)
                except TemplateError as exc:
                    message = str(exc).replace(f"{root}/", "").replace(f"{packaged_templates()}/", "templates/")
                    if ":" not in message.split(" ", 1)[0]:
                        message = f"templates/{name}:1: {message}"
                    if message not in seen:
                        seen.add(message)
                        problems.append(f"{message} (rendering {incident.id} at {_iso(entry.at)})")
    return problems


def _check_json(name: str, text: str) -> None:
    import json

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateError(f"templates/{name}:{exc.lineno}: rendered invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict) or not str(data.get("text") or "").strip():
        raise TemplateError(f'templates/{name}:1: must render a JSON object with a non-empty "text" fallback')

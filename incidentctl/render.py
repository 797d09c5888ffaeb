"""Rendering helpers: the filters, template error messages, and the variables message templates see.

The environment itself lives in :mod:`incidentctl.templating` (one ``Templates`` object per repo).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .durations import format_duration, isoformat_z
from .errors import TemplateError
from .vocabulary import FINISHED_STATUSES, IMPACT_LABELS

if TYPE_CHECKING:
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


def component_rows(impacts: dict[str, str], config: Config) -> list[dict[str, str]]:
    """``{id, name, impact, label}`` per component, as every message template sees them."""
    return [
        {
            "id": component_id,
            "name": config.component_name(component_id),
            "impact": impact,
            "label": IMPACT_LABELS.get(impact, impact),
        }
        for component_id, impact in impacts.items()
    ]


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
    """The environment of the repo's :class:`~incidentctl.templating.Templates` (one per repo)."""
    from .templating import templates_for

    return templates_for(root, config).env


class _ForgetTemplates:
    """Transitional for tests that cleared the old ``lru_cache``: ``_environment.cache_clear()``."""

    @staticmethod
    def cache_clear() -> None:
        from .templating import forget_templates

        forget_templates()


_environment = _ForgetTemplates()


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
    from .channels.statuspage import settings_for

    settings = settings_for(config)
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
    components = component_rows(impacts, config)
    severity = config.severities.get(incident.severity)
    severity_name = severity.name if severity else incident.severity
    if severity is None and incident.is_maintenance:
        severity_name = "Maintenance"
    context = {
        "incident": incident,
        "entry": entry,
        "organization": config.organization,
        "severity": {"id": incident.severity, "name": severity_name},
        "status": entry.status,
        "components": components,
        "affected": [component for component in components if component["impact"] != "operational"],
        "incident_url": incident_url(config, incident.id),
        "started_at": incident.started_at,
        "elapsed": entry.at - incident.started_at,
        "update_number": public_index + 1,
        "is_first": public_index == 0,
        "is_resolution": entry.status in FINISHED_STATUSES,
        "next_update_by": entry.next_update_by,
        "is_maintenance": incident.is_maintenance,
    }
    if incident.is_maintenance:
        context.update(maintenance_context(incident, entry, config))
    return context


# -- scheduled maintenance ------------------------------------------------------------------------

#: What a maintenance entry announces (``notice`` in the message templates).
NOTICES = ("scheduled", "reminder", "rescheduled", "started", "verifying", "update", "completed", "cancelled")


def local_day_time(value: datetime, zone: ZoneInfo) -> str:
    """``Sat Mar 7 2026, 22:00 EST``: the date is always shown (a notice may be read days later)."""
    local = value.astimezone(zone)
    return f"{local:%a %b} {local.day} {local.year}, {local:%H:%M %Z}"


def window_view(start: datetime, end: datetime, zone: ZoneInfo) -> dict[str, Any]:
    """A maintenance window as templates show it, in the configured zone (DST-correct: each end in its
    own offset; the duration is the real time between them)."""
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    start_text, end_text = local_day_time(start, zone), local_day_time(end, zone)
    duration = end - start
    if local_start.date() == local_end.date() and local_start.tzname() == local_end.tzname():
        text = f"{local_start:%a %b} {local_start.day} {local_start.year}, {local_start:%H:%M}–{local_end:%H:%M %Z}"
    else:
        text = f"{start_text} – {end_text}"
    return {
        "start": start,
        "end": end,
        "duration": duration,
        "start_text": start_text,
        "end_text": end_text,
        "duration_text": format_duration(duration),
        "text": text,
    }


def maintenance_notice(previous: Entry | None, entry: Entry, moved: bool) -> str:
    """Which notice ``entry`` is, from its own fields and the public entry before it."""
    if entry.status in ("completed", "cancelled"):
        return entry.status
    if entry.notice == "reminder":
        return "reminder"
    if entry.notice == "rescheduled" or moved:
        return "rescheduled"
    if previous is None:
        return "scheduled" if entry.status == "scheduled" else "started"
    if entry.status == "in_progress" and previous.status != "in_progress":
        return "started"
    if entry.status == "verifying" and previous.status != "verifying":
        return "verifying"
    return "update"


def maintenance_context(incident: Incident, entry: Entry, config: Config) -> dict[str, Any]:
    """The maintenance variables: ``notice``, ``window`` (the one in force at ``entry``), ``previous_window``
    (the one it replaced, on a ``rescheduled`` notice), ``planned_components`` (every component the
    maintenance names, with its impact at ``entry``) and ``reminder_before``."""
    zone = ZoneInfo(config.timezone)
    window: tuple[datetime, datetime] | None = None
    before: tuple[datetime, datetime] | None = None
    previous: Entry | None = None
    impacts: dict[str, str] = {}
    for candidate in incident.timeline:
        if candidate is entry:
            break
        impacts.update(candidate.components)
        if candidate.scheduled_for is not None and candidate.scheduled_until is not None:
            window = (candidate.scheduled_for, candidate.scheduled_until)
        previous = candidate
    impacts.update(entry.components)
    moved = False
    if entry.scheduled_for is not None and entry.scheduled_until is not None:
        announced = (entry.scheduled_for, entry.scheduled_until)
        if previous is not None and window is not None and announced != window:
            before, moved = window, True
        window = announced
    if window is None:
        assert incident.scheduled_for is not None and incident.scheduled_until is not None
        window = (incident.scheduled_for, incident.scheduled_until)
    notice = maintenance_notice(previous, entry, moved)
    planned = component_rows(impacts, config)
    return {
        "notice": notice,
        "window": window_view(*window, zone),
        "previous_window": window_view(*before, zone) if before is not None else None,
        "planned_components": planned,
        "reminder_before": entry.reminder_before,
        "is_active": entry.status in ("in_progress", "verifying"),
    }


def template_for_record(env: SandboxedEnvironment, name: str, kind: str) -> str:
    """The template a record of ``kind`` is rendered with: a maintenance uses ``maintenance_<name>`` (repo
    override first, then packaged) and falls back to ``name`` when there is none (a plugin's own template)."""
    if kind != "maintenance":
        return name
    import jinja2

    variant = maintenance_template(name)
    try:
        env.get_template(variant)
    except jinja2.TemplateNotFound:
        return name
    except jinja2.TemplateError:
        pass  # found but broken: rendering it names the problem
    return variant


def maintenance_template(name: str) -> str:
    """The maintenance variant of a message template: ``slack.json.j2`` → ``maintenance_slack.json.j2``
    (``statuspage/update.html.j2`` → ``statuspage/maintenance_update.html.j2``)."""
    folder, _, base = name.rpartition("/")
    return f"{folder}/maintenance_{base}" if folder else f"maintenance_{base}"


#: The message templates rendered once per public entry (``lint`` checks them against every record).
MESSAGE_TEMPLATES = ("x.txt.j2", "slack.json.j2", "statuspage/update.html.j2")


def sample_incidents() -> list[Incident]:
    """The packaged sample records (replayed public outages); the demo and ``lint`` render them.

    A broken sample raises :class:`~incidentctl.errors.RecordError` (see :func:`sample_records`)."""
    from .errors import RecordError

    samples, problems = sample_records()
    if problems:
        raise RecordError("\n".join(problems))
    return samples


def sample_records() -> tuple[list[Incident], list[str]]:
    """The valid packaged samples and the problems of the others (THE record check's wording)."""
    from .records.validate import check_file  # the record pipeline only when samples are read

    folder = packaged_samples()
    samples: list[Incident] = []
    problems: list[str] = []
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        incident, found = check_file(path, f"samples/{path.name}", None, path.stem)
        problems.extend(found)
        if incident is not None:
            samples.append(incident)
    return samples, problems


def sample_maintenance(config: Config) -> Incident:
    """An in-memory maintenance with every notice (scheduled, moved, reminder, started, verifying, completed)
    on the config's first components: ``lint`` renders the maintenance templates with it."""
    from datetime import UTC

    from .model import Entry, Incident

    names = [component.id for component in config.components[:2]]
    planned = dict.fromkeys(names, "operational")
    under = dict.fromkeys(names, "under_maintenance")
    start = datetime(2026, 3, 8, 4, tzinfo=UTC)
    moved = start + timedelta(days=7)
    hour = timedelta(hours=1)
    timeline = [
        Entry(at=start - 7 * 24 * hour, status="scheduled", message="Writes are paused for up to four hours.",
              components=planned, scheduled_for=start, scheduled_until=start + 4 * hour),
        Entry(at=start - 6 * 24 * hour, status="scheduled", message="Moved a week later.", notice="rescheduled",
              scheduled_for=moved, scheduled_until=moved + 4 * hour),
        Entry(at=moved - 24 * hour, status="scheduled", message="", notice="reminder", reminder_before="24h",
              automatic=True),
        Entry(at=moved, status="in_progress", message="Maintenance has started.", components=under, automatic=True),
        Entry(at=moved + 2 * hour, status="verifying", message="Checking replication."),
        Entry(at=moved + 3 * hour, status="completed", message="Complete.", components=planned),
    ]  # fmt: skip
    return Incident(
        id="sample-maintenance", kind="maintenance", title="Sample maintenance", severity="maintenance",
        scheduled_for=moved, scheduled_until=moved + 4 * hour, timeline=timeline,
    )  # fmt: skip


def lint_templates(root: Path, config: Config, incidents: list[Incident]) -> list[str]:
    """Render every message template for every public entry of the records and the samples.

    Each problem is reported once, as ``templates/<name>:<line>: message``.
    """
    env = environment(root, config)
    problems: list[str] = []
    seen: set[str] = set()
    samples, problems = sample_records()
    records = [*incidents, *samples]
    if not any(incident.is_maintenance for incident in records):
        records.append(sample_maintenance(config))  # the maintenance templates are checked in every repo
    for incident in records:
        view = incident.public_view()
        for entry in view.timeline:
            context = message_context(view, entry, config)
            for message_template in MESSAGE_TEMPLATES:
                name = template_for_record(env, message_template, incident.kind)
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
    problems.extend(_lint_holding(env, root, records, config))
    return problems


def _lint_holding(env: SandboxedEnvironment, root: Path, records: list[Incident], config: Config) -> list[str]:
    """``holding.txt.j2`` (``tick``'s holding updates) rendered for an incident's first public entry."""
    from .holding import TEMPLATE

    incident = next((record for record in records if not record.is_maintenance and record.public_entries), None)
    if incident is None:
        return []
    view = incident.public_view()
    entry = view.timeline[0]
    try:
        text = render(env, TEMPLATE, **message_context(view, entry, config), promised=entry.at)
    except TemplateError as exc:
        message = str(exc).replace(f"{root}/", "").replace(f"{packaged_templates()}/", "templates/")
        if ":" not in message.split(" ", 1)[0]:
            message = f"templates/{TEMPLATE}:1: {message}"
        return [f"{message} (rendering a holding update for {incident.id})"]
    if not text.strip():
        return [f"templates/{TEMPLATE}:1: renders an empty message (rendering a holding update for {incident.id})"]
    return []


def _check_json(name: str, text: str) -> None:
    import json

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateError(f"templates/{name}:{exc.lineno}: rendered invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict) or not str(data.get("text") or "").strip():
        raise TemplateError(f'templates/{name}:1: must render a JSON object with a non-empty "text" fallback')

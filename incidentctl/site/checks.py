"""``lint`` for the status page: render its templates against the records, report ``path:line: message``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import IncidentctlError

if TYPE_CHECKING:
    from ..config import Config
    from ..model import Incident

#: Incident pages rendered by lint: enough to exercise every branch without the cost of a full build.
LINT_INCIDENT_PAGES = 25


def missing_url_warning(root: Path, config: Config) -> list[str]:
    """A status page without ``url``: the API carries ``page.url: ""`` and relative shortlinks (one warning line)."""
    from ..config import CONFIG_FILE

    settings = config.channels.statuspage
    if settings is None or settings.url:
        return []
    try:
        lines = (root / CONFIG_FILE).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []
    line = next((number for number, text in enumerate(lines, start=1) if text.strip().startswith("statuspage:")), 1)
    return [
        f"{CONFIG_FILE}:{line}: warning: channels.statuspage has no url: the API's page.url is empty and its "
        "links are relative, so feed readers and API clients cannot follow them (add url: https://status.example.com)"
    ]


def lint_site_templates(root: Path, config: Config, incidents: list[Incident]) -> list[str]:
    """Render ``index``, ``history`` and a sample of incident pages (open, resolved, postmortem) in memory;
    warn when the page has no public ``url``."""
    from ..durations import utcnow
    from ..render import packaged_templates
    from ..store import Repo
    from .build import view_from_incidents
    from .incremental import plan_site

    view = view_from_incidents(config, incidents, utcnow())
    chosen = {item.id for item in view.active[:5]}
    chosen.update(item.id for item in view.incidents if view.records[item.id]["postmortem"] is not None)
    chosen.update(item.id for item in view.incidents[:LINT_INCIDENT_PAGES])
    problems: list[str] = missing_url_warning(root, config)
    for planned in plan_site(Repo(root=root, config=config), view):
        if planned.path.startswith("incidents/") and planned.path[len("incidents/") : -len(".html")] not in chosen:
            continue
        if planned.path.startswith("history-"):
            continue
        try:
            planned.render()
        except IncidentctlError as exc:
            message = str(exc).replace(f"{root}/", "").replace(f"{packaged_templates()}/", "templates/")
            if message not in problems:
                problems.append(message)
    return problems

"""``import statuspage``: incidents from a Statuspage page's public API into records, one commit.

Reads ``api/v2/incidents.json`` (and ``api/v2/scheduled-maintenances.json`` when there is one)
under a page's root URL, or under a folder holding a saved copy (the folder itself may be the
``api/v2`` folder). Every incident not imported yet becomes one record: its updates become public
entries in time order, Statuspage's statuses and component impacts mapped to ours (components by
NAME; an unknown name is reported once and dropped), the severity from the incident's impact.
Each record carries ``imported_from: {source: statuspage, page, id}``: running the import again
imports nothing twice. Scheduled maintenances (from ``scheduled-maintenances.json``, and those
Statuspage also lists among the incidents) become ``kind: maintenance`` records with their window;
one without a window (``scheduled_for``/``scheduled_until``) is skipped and counted.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import IncidentctlError, PushError, UsageError
from .model import IMPACTS, MAINTENANCE_SEVERITY, STATUSES, Entry, ImportedFrom, Incident
from .vocabulary import MAINTENANCE_ACTIVE, MAINTENANCE_STATUSES

if TYPE_CHECKING:
    from .store import Repo

SOURCE = "statuspage"
TIMEOUT_SECONDS = 10.0
INCIDENTS_PATH = "api/v2/incidents.json"
MAINTENANCES_PATH = "api/v2/scheduled-maintenances.json"

#: Statuspage incident impact → our severity (the first one the repo defines wins).
SEVERITY_BY_IMPACT: dict[str, tuple[str, ...]] = {
    "critical": ("sev1",),
    "major": ("sev2",),
    "minor": ("sev3",),
    "none": ("sev3",),
}
#: Statuspage update statuses that are not ours.
STATUS_ALIASES = {"postmortem": "resolved"}
#: Statuspage maintenance statuses: an "incident" with one of these is a scheduled maintenance.
STATUSPAGE_MAINTENANCE_STATUSES = frozenset({"scheduled", "in_progress", "verifying", "completed"})


@dataclass
class StatuspageExport:
    """What was read from the page (or its saved copy)."""

    location: str
    """The URL or folder it was read from."""
    page: dict[str, Any]
    incidents: list[dict[str, Any]]
    maintenances: list[dict[str, Any]]

    @property
    def page_ref(self) -> str:
        """The page's identity in ``imported_from.page``: its Statuspage id, else where it was read from."""
        page_id = self.page.get("id")
        return str(page_id) if isinstance(page_id, str | int) and str(page_id) else self.location


@dataclass
class ImportResult:
    page: str
    imported: list[Incident] = field(default_factory=list)
    already_imported: int = 0
    skipped_maintenances: int = 0
    """Maintenances without a window (nothing to schedule); the others are imported like incidents."""
    skipped_before_since: int = 0
    unknown_components: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Incidents that could not be turned into a record (one line each); the others are imported."""
    commit: str | None = None
    push_error: PushError | None = None
    notes: list[str] = field(default_factory=list)

    def counted(self) -> str:
        """``3 incidents``, ``3 incidents and 1 maintenance``: what was imported, by kind."""
        maintenances = sum(1 for record in self.imported if record.is_maintenance)
        incidents = len(self.imported) - maintenances
        text = f"{incidents} incident{'s' if incidents != 1 else ''}"
        if maintenances:
            text += f" and {maintenances} maintenance{'s' if maintenances != 1 else ''}"
        return text


# -- reading ----------------------------------------------------------------------------------------


def _decode(data: bytes, where: str) -> Any:
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IncidentctlError(f"{where}: not a Statuspage API document (invalid JSON: {exc})") from None


def _folder_file(folder: Path, relative: str) -> Path | None:
    """``relative`` under the folder, the page root, or its ``api/v2`` folder itself."""
    name = relative.rsplit("/", 1)[-1]
    for candidate in (folder / relative, folder / "v2" / name, folder / name):
        if candidate.is_file():
            return candidate
    return None


def _read_folder(folder: Path) -> tuple[Any, Any | None]:
    incidents = _folder_file(folder, INCIDENTS_PATH)
    if incidents is None:
        raise UsageError(f"{folder}: no {INCIDENTS_PATH} (or incidents.json) in this folder")
    maintenances = _folder_file(folder, MAINTENANCES_PATH)
    try:
        incidents_doc = _decode(incidents.read_bytes(), str(incidents))
        maintenances_doc = _decode(maintenances.read_bytes(), str(maintenances)) if maintenances else None
    except OSError as exc:
        raise IncidentctlError(f"{folder}: cannot read the saved page: {exc.strerror}") from None
    return incidents_doc, maintenances_doc


def _page_root(url: str) -> str:
    root = url.split("#", 1)[0].split("?", 1)[0].rstrip("/")
    for tail in (INCIDENTS_PATH, MAINTENANCES_PATH, "api/v2/summary.json", "api/v2", "index.html"):
        if root.endswith("/" + tail):
            return root[: -len(tail) - 1]
    return root


def _read_url(url: str, timeout: float) -> tuple[Any, Any | None]:
    import requests

    root = _page_root(url)

    def get(path: str, required: bool) -> Any | None:
        target = f"{root}/{path}"
        try:
            response = requests.get(
                target, timeout=timeout, headers={"Accept": "application/json", "User-Agent": "incidentctl-import"}
            )
        except requests.RequestException as exc:
            raise IncidentctlError(f"{target}: cannot read the page ({type(exc).__name__}): check the URL") from None
        if response.status_code != 200:
            if not required:
                return None
            raise IncidentctlError(f"{target}: HTTP {response.status_code}: is this a Statuspage page's root URL?")
        return _decode(response.content, target)

    return get(INCIDENTS_PATH, True), get(MAINTENANCES_PATH, False)


def read_statuspage(source: str, *, timeout: float = TIMEOUT_SECONDS) -> StatuspageExport:
    """Read a page's incidents (and scheduled maintenances) from its root URL or a saved folder."""
    if source.startswith(("http://", "https://")):
        incidents_doc, maintenances_doc = _read_url(source, timeout)
        location = _page_root(source)
    else:
        folder = Path(source).expanduser()
        if not folder.is_dir():
            raise UsageError(f"{source}: neither an http(s) URL nor a folder")
        incidents_doc, maintenances_doc = _read_folder(folder)
        location = str(folder.resolve())
    if not isinstance(incidents_doc, dict) or not isinstance(incidents_doc.get("incidents"), list):
        raise IncidentctlError(f'{location}: {INCIDENTS_PATH} has no "incidents" list: not a Statuspage API')
    page = incidents_doc.get("page") if isinstance(incidents_doc.get("page"), dict) else {}
    maintenances: list[dict[str, Any]] = []
    if isinstance(maintenances_doc, dict) and isinstance(maintenances_doc.get("scheduled_maintenances"), list):
        maintenances = [item for item in maintenances_doc["scheduled_maintenances"] if isinstance(item, dict)]
    incidents = [item for item in incidents_doc["incidents"] if isinstance(item, dict)]
    return StatuspageExport(location=location, page=page or {}, incidents=incidents, maintenances=maintenances)


# -- mapping ----------------------------------------------------------------------------------------


def timed_updates(item: Mapping[str, Any]) -> list[tuple[datetime, dict[str, Any]]]:
    """An item's ``incident_updates`` with their times, oldest first (Statuspage lists the newest first; the
    sort is stable for equal times); updates without a readable time are left out."""
    timed = []
    for update in item.get("incident_updates") or []:
        if isinstance(update, dict):
            at = parse_time(update.get("display_at")) or parse_time(update.get("created_at"))
            if at is not None:
                timed.append((at, update))
    timed.sort(key=lambda pair: pair[0])
    return timed


def parse_time(value: Any) -> datetime | None:
    """Statuspage's ``2019-02-20T13:40:58.572-06:00`` → UTC, whole seconds (as records store them)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).replace(microsecond=0)


def parse_since(text: str) -> datetime:
    """``--since 2024-01-01`` (midnight UTC) or a full ISO time."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        parsed = parse_time(text)
        if parsed is None:
            raise UsageError(f"--since {text!r}: use a date (2024-01-31) or a time (2024-01-31T12:00:00Z)") from None
        return parsed
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _text(value: Any) -> str:
    """Statuspage text: HTML entities (``&amp;``, ``&#39;``) decoded, line ends normalised."""
    if not isinstance(value, str):
        return ""
    return html.unescape(value).replace("\r\n", "\n").strip()


def _is_maintenance(item: Mapping[str, Any]) -> bool:
    return bool(
        item.get("impact") == "maintenance"
        or item.get("scheduled_for")
        or item.get("status") in STATUSPAGE_MAINTENANCE_STATUSES
    )


def severity_for(impact: Any, severities: Mapping[str, Any]) -> str:
    for candidate in SEVERITY_BY_IMPACT.get(str(impact), ("sev3",)):
        if candidate in severities:
            return candidate
    return list(severities)[-1]  # the mildest one the repo defines


@dataclass
class _Mapper:
    """Maps one page's incidents; collects the component names it does not know."""

    components_by_name: dict[str, str]
    severities: Mapping[str, Any]
    unknown: list[str] = field(default_factory=list)

    def component(self, name: Any) -> str | None:
        text = " ".join(_text(name).split())
        found = self.components_by_name.get(text.casefold())
        if found is None and text and text not in self.unknown:
            self.unknown.append(text)
        return found

    def entries(self, item: Mapping[str, Any]) -> list[Entry]:
        timed = timed_updates(item)
        with_components = item.get("impact") != "none"
        entries: list[Entry] = []
        status = "investigating"
        for at, update in timed:
            raw = str(update.get("status") or "")
            raw = STATUS_ALIASES.get(raw, raw)
            status = raw if raw in STATUSES else status
            components: dict[str, str] = {}
            for affected in update.get("affected_components") or []:
                if not isinstance(affected, dict):
                    continue
                our_id = self.component(affected.get("name"))
                impact = affected.get("new_status")
                if with_components and our_id is not None and impact in IMPACTS:
                    components[our_id] = str(impact)
            entries.append(
                Entry(at=at, status=status, message=_text(update.get("body")), components=components, imported=True)
            )
        return entries

    def incident(self, item: Mapping[str, Any], incident_id: str, page: str) -> Incident:
        entries = self.entries(item)
        if not entries:
            raise ValueError("it has no incident_updates with a time")
        title = " ".join(_text(item.get("name")).split())[:500] or "Imported incident"
        url = item.get("shortlink")
        return Incident(
            id=incident_id,
            title=title,
            severity=severity_for(item.get("impact"), self.severities),
            timeline=entries,
            imported_from=ImportedFrom(
                source=SOURCE, page=page, id=str(item["id"]), url=url if isinstance(url, str) and url else None
            ),
        )

    def maintenance_entries(self, item: Mapping[str, Any], start: datetime, end: datetime) -> list[Entry]:
        """A maintenance's updates as entries; its components ``operational`` when announced,
        ``under_maintenance`` from the start, ``operational`` again when completed (our convention)."""
        named: list[str] = []
        for component in item.get("components") or []:
            our_id = self.component(component.get("name")) if isinstance(component, dict) else None
            if our_id is not None and our_id not in named:
                named.append(our_id)
        timed = timed_updates(item)
        if not timed:
            created = parse_time(item.get("created_at")) or start
            timed = [(min(created, start), {"status": item.get("status"), "body": ""})]
        entries: list[Entry] = []
        status = "scheduled"
        under = False
        for index, (at, update) in enumerate(timed):
            raw = str(update.get("status") or "")
            status = raw if raw in MAINTENANCE_STATUSES else status
            active = status in MAINTENANCE_ACTIVE
            components: dict[str, str] = {}
            for affected in update.get("affected_components") or []:
                if not isinstance(affected, dict):
                    continue
                our_id = self.component(affected.get("name"))
                if our_id is None:
                    continue
                if our_id not in named:
                    named.append(our_id)
                new = affected.get("new_status")
                components[our_id] = (
                    "under_maintenance"
                    if new == "under_maintenance" or (active and new in IMPACTS and new != "operational")
                    else "operational"
                )
            if index == 0:
                components = {**dict.fromkeys(named, "operational"), **components}
            if active and not under and not components:
                components = dict.fromkeys(named, "under_maintenance")
            if status in ("completed", "cancelled") and under and not components:
                components = dict.fromkeys(named, "operational")
            if components:
                under = any(impact == "under_maintenance" for impact in components.values())
            entries.append(
                Entry(
                    at=at,
                    status=status,
                    message=_text(update.get("body")),
                    components=components,
                    scheduled_for=start if index == 0 else None,
                    scheduled_until=end if index == 0 else None,
                    imported=True,
                )
            )
        return entries

    def maintenance(self, item: Mapping[str, Any], incident_id: str, page: str) -> Incident:
        start, end = parse_time(item.get("scheduled_for")), parse_time(item.get("scheduled_until"))
        if start is None or end is None:
            raise ValueError("it has no scheduled_for/scheduled_until")
        title = " ".join(_text(item.get("name")).split())[:500] or "Imported maintenance"
        url = item.get("shortlink")
        return Incident(
            id=incident_id,
            kind="maintenance",
            title=title,
            severity=MAINTENANCE_SEVERITY,
            scheduled_for=start,
            scheduled_until=end,
            # Statuspage's own switches; absent, the imported maintenance is moved on by hand.
            auto_start=item.get("scheduled_auto_in_progress") is True,
            auto_complete=item.get("scheduled_auto_completed") is True,
            timeline=self.maintenance_entries(item, start, end),
            imported_from=ImportedFrom(
                source=SOURCE, page=page, id=str(item["id"]), url=url if isinstance(url, str) and url else None
            ),
        )


def _imported_keys(repo: Repo) -> set[tuple[str, str, str]]:
    keys = set()
    for incident in repo.scan(skip_invalid=True):
        ref = incident.imported_from
        if ref is not None:
            keys.add((ref.source, ref.page, ref.id))
    return keys


def import_statuspage(repo: Repo, source: str, *, since: datetime | None = None) -> ImportResult:
    """Import every incident of the page not imported yet: one record each, one commit for all."""
    from .lifecycle import new_id

    export = read_statuspage(source)
    page = export.page_ref
    result = ImportResult(page=page)
    mapper = _Mapper(
        components_by_name={component.name.casefold(): component.id for component in repo.config.components},
        severities=repo.config.severities,
    )
    # A maintenance may be listed twice (incidents.json lists them too): the maintenance file wins.
    from_file = {id(item) for item in export.maintenances}
    maintenances: dict[str, dict[str, Any]] = {}
    for item in [*export.incidents, *export.maintenances]:
        if (id(item) in from_file or _is_maintenance(item)) and isinstance(item.get("id"), str | int):
            maintenances[str(item["id"])] = item
    candidates: list[dict[str, Any]] = []
    listed = {id(item) for item in maintenances.values()}
    others = [item for item in export.incidents if not _is_maintenance(item)]
    # Maintenances without an id, and incidents.json's copies of those read from their own file:
    # only the first are skipped (the copies are imported from the file).
    result.skipped_maintenances += sum(
        1
        for item in [*export.incidents, *export.maintenances]
        if id(item) not in listed
        and not isinstance(item.get("id"), str | int)
        and (id(item) in from_file or _is_maintenance(item))
    )
    for item in [*others, *maintenances.values()]:
        maintenance = id(item) in listed
        if maintenance and not (parse_time(item.get("scheduled_for")) and parse_time(item.get("scheduled_until"))):
            result.skipped_maintenances += 1
            continue
        if not isinstance(item.get("id"), str | int) or str(item["id"]) == "":
            result.problems.append(f"{export.location}: an incident without an id was skipped")
            continue
        started = parse_time(item.get("created_at")) or parse_time(item.get("started_at"))
        if since is not None and (started is None or started < since):
            result.skipped_before_since += 1
            continue
        candidates.append(item)
    # Oldest first, so ids and commit order follow history.
    candidates.sort(key=lambda item: parse_time(item.get("created_at")) or datetime.max.replace(tzinfo=UTC))
    with repo.transaction() as tx:
        known = _imported_keys(repo)  # read under the lock, on the synced history
        for item in candidates:
            key = (SOURCE, page, str(item["id"]))
            if key in known:
                result.already_imported += 1
                continue
            try:
                is_maintenance = maintenances.get(str(item["id"])) is item
                probe = (mapper.maintenance if is_maintenance else mapper.incident)(item, "probe", page)
                created = parse_time(item.get("created_at")) or probe.started_at
                incident = probe.model_copy(update={"id": new_id(repo, probe.title, created)})
            except (ValueError, TypeError) as exc:
                detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                what = "maintenance" if maintenances.get(str(item["id"])) is item else "incident"
                result.problems.append(f"{what} {item['id']} ({_text(item.get('name'))}): not imported: {detail}")
                continue
            tx.save(incident)
            known.add(key)
            result.imported.append(incident)
        if result.imported:
            tx.message = f"import: {result.counted()} from statuspage {page}"
    result.commit = tx.commit_sha
    result.push_error = tx.push_error
    result.notes = list(tx.notes)
    result.unknown_components = list(mapper.unknown)
    return result

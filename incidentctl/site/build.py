"""``site build``: render the static status page into a temp folder, then swap it in atomically.

The shared view (overall status, component status, 90-day bars, history) is computed once
(:func:`incidentctl.site.model.compute_view`); each incident page is rendered from its own incident
only, so a full build grows linearly with the number of incidents.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import functools
import hashlib
import json
import os
import pickle
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..durations import isoformat_z
from ..errors import IncidentctlError
from ..records.cache import cache_dir
from ..records.codec import atomic_write_bytes
from . import api, feed, records
from .model import (
    INDICATOR_BANNERS,
    IncidentView,
    SiteView,
    compute_view,
    format_uptime,
    incident_path,
    newest_updates,
    with_record,
)

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from jinja2.sandbox import SandboxedEnvironment
    from markupsafe import Markup

    from ..config import Config
    from ..model import Incident
    from ..store import Repo

#: Written into every built site so a later build knows the folder is ours to replace.
MARKER = ".incidentctl-site"
BUILD_PREFIX = ".incidentctl-build-"
_OVERLAYS: dict[int, tuple[SandboxedEnvironment, SandboxedEnvironment]] = {}
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
IMPACT_CLASS = {
    "operational": "op",
    "under_maintenance": "um",
    "degraded_performance": "dg",
    "partial_outage": "pa",
    "major_outage": "ma",
}
#: How the page words a Statuspage impact (incident impact / page indicator).
IMPACT_WORDS = {
    "none": "No impact",
    "maintenance": "Maintenance",
    "minor": "Minor impact",
    "major": "Major impact",
    "critical": "Critical impact",
}


def default_output(repo: Repo) -> Path:
    settings = repo.config.channels.statuspage
    return repo.root / (settings.output if settings else "site")


def build_site(repo: Repo, output: Path | None = None, now: datetime | None = None) -> Path:
    """Build the status page for ``repo`` into ``output`` (default: ``channels.statuspage.output``).

    Same repo and same ``now`` give the same bytes, whether built from scratch or updated: a
    first build (or one that changes most pages) is made in a temp folder next to ``output`` and
    swapped in, so a web server never serves half a site; a later build rewrites only the pages
    whose inputs changed, each file replaced atomically, new pages before the pages that link to
    them and stale files last. Returns ``output``.
    """
    return _build(repo, output, now, reuse=True).output


@dataclass
class BuildReport:
    output: Path
    rendered: int = 0
    reused: int = 0
    in_place: bool = False


@dataclass
class PlannedFile:
    """One output file: its path, a key naming every input (None: always render), how to render it."""

    path: str
    key: str | None
    render: Callable[[], bytes]


def _build(repo: Repo, output: Path | None, now: datetime | None, *, reuse: bool) -> BuildReport:
    from ..durations import utcnow

    target = (output if output is not None else default_output(repo)).expanduser().absolute()
    _check_target(repo, target)
    moment = (now if now is not None else utcnow()).astimezone(UTC).replace(microsecond=0)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock(repo):
        _remove_stale_builds(target)
        folder = _cache_folder(repo)
        code = _code_fingerprint()
        cache = records.load_cache(folder, _digest([code, repo.config.model_dump_json()]))
        job = _Job(repo, moment, _fingerprint(repo, code), cache, records.record_stamps(repo))
        manifest_path = _manifest_path(repo, target)
        previous = _read_manifest(manifest_path, target) if reuse and (target / MARKER).is_file() else {}
        existing = _listing(target) if previous else set()
        job.plan(previous, existing)
        # Update in place when most pages stay; else build afresh in a temp folder and swap it in.
        in_place = bool(previous) and len(job.tasks) * 2 <= len(job.stamps)
        if in_place:
            manifest_path.unlink(missing_ok=True)  # killed mid-way: the next build starts afresh
            report = _build_in_place(job, target, existing)
        else:
            report = _build_staged(job, target, previous)
        # Written after the site: a stale manifest can only cause extra rendering, never a stale page.
        _write_manifest(manifest_path, target, job.keys)
        job.save_cache(folder)
    return report


def _build_staged(job: _Job, target: Path, previous: dict[str, str]) -> BuildReport:
    report = BuildReport(output=target)
    staging = Path(tempfile.mkdtemp(prefix=BUILD_PREFIX + target.name + "-", dir=target.parent))
    try:
        out = _Output(staging, target, in_place=False)
        for path in job.reusable:
            if out.link(path):
                report.reused += 1
            else:
                job.tasks.append(path_to_id(path))  # gone from the old site: render it again
        job.run(out, report)
        _write_shared(job, out, previous, report)
        os.chmod(staging, 0o755)  # noqa: S103 - a web root is world-readable (mkdtemp makes it 0700)
        _swap_in(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return report


def _build_in_place(job: _Job, target: Path, existing: set[str]) -> BuildReport:
    report = BuildReport(output=target, in_place=True)
    out = _Output(target, target, in_place=True)
    report.reused += len(job.reusable)
    job.run(out, report)  # incident pages first: nothing links to a new page before it exists
    _write_shared(job, out, job.previous, report)  # archive pages, history, index, feed, API
    for stale in sorted(existing - set(job.written)):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target / stale)
    return report


def _write_shared(job: _Job, out: _Output, previous: dict[str, str], report: BuildReport) -> None:
    """The shared files in order; archive pages (many on a long history) rendered by two processes."""
    planned = list(job.shared_files())
    archives: list[PlannedFile] = []
    for item in planned:
        job.written.append(item.path)
        if item.key is None:
            continue
        job.keys[item.path] = item.key
        if previous.get(item.path) == item.key and out.keep(item.path, job.existing):
            report.reused += 1
        else:
            archives.append(item)

    def render(items: Sequence[PlannedFile]) -> int:
        for item in items:
            out.write(item.path, item.render())
        return len(items)

    report.rendered += sum(records.parallel_map(render, archives, minimum=records.PARALLEL_MIN_PAGES))
    report.rendered += render([item for item in planned if item.key is None])


def path_to_id(path: str) -> str:
    return path[len("incidents/") : -len(".html")]


class _Output:
    """Where pages go: a fresh staging folder, or the live site (each file replaced atomically)."""

    def __init__(self, root: Path, target: Path, *, in_place: bool) -> None:
        self.root = root
        self.target = target
        self.in_place = in_place
        self.made: set[Path] = set()

    def keep(self, path: str, existing: set[str]) -> bool:
        """Reuse the previous build's file: it stays (in place) or is hard-linked (staging)."""
        return path in existing if self.in_place else self.link(path)

    def link(self, path: str) -> bool:
        destination = self.root / path
        self._folder(destination.parent)
        return _link(self.target / path, destination)

    def write(self, path: str, data: bytes) -> None:
        destination = self.root / path
        self._folder(destination.parent)
        if not self.in_place:
            destination.write_bytes(data)
            return
        try:
            if destination.read_bytes() == data:
                return  # unchanged: no churn for web caches watching mtimes
        except OSError:
            pass
        temporary = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
        try:
            temporary.write_bytes(data)
            os.replace(temporary, destination)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def _folder(self, folder: Path) -> None:
        if folder not in self.made:
            folder.mkdir(parents=True, exist_ok=True)
            self.made.add(folder)


@dataclass
class _Outcome:
    """What one share of the incident records gave: summaries, page keys, hot records, problems."""

    summaries: dict[str, tuple[str, tuple[Any, ...] | None]] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    records: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    rendered: int = 0
    reused: int = 0
    problems: list[str] = field(default_factory=list)


class _Job:
    """One build: which records to read, which incident pages to render, what the shared pages need."""

    def __init__(self, repo: Repo, now: datetime, shared: str, cache: records.SummaryCache, stamps: dict[str, str]):
        self.repo = repo
        self.now = now
        self.now_tag = isoformat_z(now)
        self.shared = shared
        self.cache = cache
        self.stamps = stamps
        self.env = site_environment(repo)
        self.common = _common_context(repo.config)
        self.views: dict[str, IncidentView] = {}
        self.keys: dict[str, str] = {}
        self.summaries: dict[str, tuple[str, tuple[Any, ...] | None]] = {}
        self.previous: dict[str, str] = {}
        self.existing: set[str] = set()
        self.reusable: list[str] = []
        self.tasks: list[str] = []
        self.written: list[str] = []
        self.hot: dict[str, tuple[str, bytes]] = {}
        self.cache_changed = False

    def page_key(self, view: IncidentView) -> str:
        # No hash needed: the shared fingerprint is one already, the stamp names the record.
        return f"{self.shared[:32]}:{view.stamp}:{self.now_tag if view.is_open else ''}"

    def plan(self, previous: dict[str, str], existing: set[str]) -> None:
        """Sort the records: cached and page unchanged (reusable), or to read and/or render (tasks)."""
        self.previous, self.existing = previous, existing
        cached = self.cache.summaries
        for incident_id, stamp in self.stamps.items():
            hit = cached.get(incident_id)
            if hit is None or hit[0] != stamp:
                self.tasks.append(incident_id)
                continue
            self.summaries[incident_id] = hit
            if hit[1] is None:
                continue  # nothing public yet
            view = IncidentView.from_tuple(hit[1], stamp)
            self.views[incident_id] = view
            key = self.page_key(view)
            self.keys[view.path] = key
            self.written.append(view.path)
            if previous.get(view.path) == key and (view.path in existing):
                self.reusable.append(view.path)
            else:
                self.tasks.append(incident_id)
        self.cache_changed = len(self.tasks) > 0 or len(cached) != len(self.stamps)
        self.hot = {i: kept for i, kept in self.cache.records.items() if self.stamps.get(i) == kept[0]}

    def run(self, out: _Output, report: BuildReport) -> None:
        """Read and render the task records, in this process and a forked helper; merge what they found."""
        tasks = sorted(set(self.tasks), reverse=True)  # newest first: the hot records are kept early
        outcomes = records.parallel_map(functools.partial(self._work, out), tasks)
        problems: list[str] = []
        for outcome in outcomes:
            problems.extend(outcome.problems)
            report.rendered += outcome.rendered
            report.reused += outcome.reused
            self.keys.update(outcome.keys)
            self.written.extend(outcome.keys)
            self.hot.update(outcome.records)
            for incident_id, summary in outcome.summaries.items():
                self.summaries[incident_id] = summary
                if summary[1] is not None:
                    self.views[incident_id] = IncidentView.from_tuple(summary[1], summary[0])
        records.raise_problems(sorted(problems))

    def _work(self, out: _Output, ids: Sequence[str]) -> _Outcome:
        outcome = _Outcome()
        hot = records.HotRecords()
        config = self.repo.config
        for incident_id in ids:
            stamp = self.stamps[incident_id]
            view = self.views.get(incident_id)
            record: dict[str, Any] | None = None
            if view is None or (incident_id not in self.hot):
                incident = records.read_incident(self.repo, incident_id, outcome.problems)
                if incident is None:
                    continue
                made = records.summarize(config, incident, stamp)
                if made is None:
                    outcome.summaries[incident_id] = (stamp, None)
                    continue
                view, record = made
                outcome.summaries[incident_id] = (stamp, view.to_tuple())
            key = self.page_key(view)
            outcome.keys[view.path] = key
            if self.previous.get(view.path) == key and out.keep(view.path, self.existing):
                outcome.reused += 1
            else:
                if record is None:
                    record = pickle.loads(self.hot[incident_id][1])  # noqa: S301 - our own cache
                out.write(view.path, render_incident_page(self.env, self.common, view, record, self.now))
                outcome.rendered += 1
            if record is not None:
                hot.offer(view, record)
        outcome.records = hot.result()
        return outcome

    def shared_files(self) -> Iterator[PlannedFile]:
        """index, history, feed and API files, computed from every summary and a few full records."""
        views = list(self.views.values())
        needed = _needed_records(views)
        full: dict[str, dict[str, Any]] = {}
        problems: list[str] = []
        for incident_id in sorted(needed):
            kept = self.hot.get(incident_id)
            if kept is not None:
                full[incident_id] = pickle.loads(kept[1])  # noqa: S301 - our own cache
                continue
            incident = records.read_incident(self.repo, incident_id, problems)  # rare: not kept hot
            made = records.summarize(self.repo.config, incident, self.stamps[incident_id]) if incident else None
            if made is not None:
                full[incident_id] = made[1]
                self.hot[incident_id] = (self.stamps[incident_id], pickle.dumps(made[1], pickle.HIGHEST_PROTOCOL))
                self.cache_changed = True
        records.raise_problems(problems)
        view = compute_view(self.repo.config, views, self.now, full)
        yield from plan_shared(self.env, self.common, view, self.shared)

    def save_cache(self, folder: Path) -> None:
        wanted = _hot_ids(list(self.views.values()))
        kept = {incident_id: self.hot[incident_id] for incident_id in sorted(wanted) if incident_id in self.hot}
        if not self.cache_changed and kept.keys() == self.cache.records.keys():
            return
        self.cache.summaries = self.summaries
        self.cache.records = kept
        records.save_cache(folder, self.cache)


def _hot_ids(views: list[IncidentView]) -> set[str]:
    """The incidents whose full record the next build will probably need (see records.HotRecords)."""
    by_last = _newest(views, lambda view: view.last)[: records.HOT_BY_LAST]
    by_start = _newest(views, lambda view: view.started)[: records.HOT_BY_START]
    return {view.id for view in (*by_last, *by_start)} | {view.id for view in views if view.is_open}


def _needed_records(views: list[IncidentView]) -> set[str]:
    """The incidents the shared pages render in full: open ones, the API's newest, the feed's."""
    needed = {view.id for view in _newest(views, lambda view: view.started)[: api.INCIDENTS_LIMIT]}
    needed.update(view.id for view in views if view.is_open)
    needed.update(incident_id for _, incident_id, _ in newest_updates(views, feed.FEED_LIMIT))
    return needed


def _newest(views: list[IncidentView], when: Callable[[IncidentView], int]) -> list[IncidentView]:
    # A full sort beats heapq.nlargest here: records come oldest first, so every one would enter the heap.
    return sorted(views, key=lambda view: (when(view), view.id), reverse=True)


def view_from_incidents(config: Config, incidents: Sequence[Incident], now: datetime) -> SiteView:
    """The site's view of in-memory incidents (``lint``): every record full, nothing cached."""
    views: list[IncidentView] = []
    full: dict[str, dict[str, Any]] = {}
    for incident in incidents:
        made = records.summarize(config, incident, "")
        if made is not None:
            views.append(made[0])
            full[made[0].id] = made[1]
    return compute_view(config, views, now, full)


def render_site(repo: Repo, view: SiteView) -> Iterator[tuple[str, bytes]]:
    """Every file of the site as ``(relative path, bytes)``, in a fixed order (no reuse)."""
    for planned in plan_site(repo, view):
        yield planned.path, planned.render()


def plan_site(repo: Repo, view: SiteView) -> Iterator[PlannedFile]:
    """Every file of an in-memory view (:func:`view_from_incidents`): incident pages, then the shared ones."""
    env = site_environment(repo)
    common = _common_context(repo.config)
    for item in view.incidents:
        record = view.records[item.id]
        yield PlannedFile(item.path, None, functools.partial(render_incident_page, env, common, item, record, view.now))
    yield from plan_shared(env, common, view, "")


def plan_shared(
    env: SandboxedEnvironment, common: dict[str, Any], view: SiteView, shared: str
) -> Iterator[PlannedFile]:
    """The files every build renders from the shared view, in the order they are written (archive
    pages first, the pages linking to them after), with the key of their inputs where reusable."""
    for page in sorted(view.history, key=lambda page: -page.number if page.number else 0):
        archive = view.history[1:] if page.number == 0 else []
        key = None
        if page.number:
            parts = [
                shared,
                page.path,
                page.older or "",
                page.newer or "",
                *(item.stamp for item in page.incidents),
            ]
            key = _digest(parts)
        yield PlannedFile(
            page.path,
            key,
            functools.partial(
                _page, env, "site/history.html.j2", common, root="", site=view, page=page, archive=archive
            ),
        )
    yield PlannedFile("index.html", None, lambda: _page(env, "site/index.html.j2", common, root="", site=view))
    yield PlannedFile("feed.atom", None, lambda: feed.build_feed(view))
    for path, data in api.documents(view).items():
        yield PlannedFile(path, None, functools.partial(bytes, data))
    yield PlannedFile("style.css", None, lambda: _static(env, "site/style.css"))
    yield PlannedFile(
        MARKER, None, lambda: b"Built by incidentctl (site build). Every build replaces what this folder holds.\n"
    )


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def _code_fingerprint() -> str:
    """The code that shapes a page or a summary: a changed renderer (an upgrade) invalidates them all."""
    from .. import __version__

    here = Path(__file__).resolve().parent
    parts = [__version__]
    for source in (*sorted(here.glob("*.py")), here.parent / "render.py", here.parent / "model.py"):
        parts.append(hashlib.sha256(source.read_bytes()).hexdigest())
    return _digest(parts)


def _fingerprint(repo: Repo, code: str) -> str:
    """Everything every page depends on besides its own incidents: code, config, templates."""
    from ..render import packaged_templates

    parts = [code, repo.config.model_dump_json()]
    for folder in (repo.root / "templates" / "site", packaged_templates() / "site"):
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.is_file():
                    parts.append(f"{path}:{hashlib.sha256(path.read_bytes()).hexdigest()}")
    return _digest(parts)


def _listing(target: Path) -> set[str]:
    """Every file of the built site, relative to it."""
    found: set[str] = set()
    for folder, _, files in os.walk(target):
        relative = os.path.relpath(folder, target)
        prefix = "" if relative == "." else relative + "/"
        found.update(prefix + name for name in files)
    return found


def _manifest_path(repo: Repo, target: Path) -> Path:
    name = hashlib.sha256(str(target).encode("utf-8")).hexdigest()[:16]
    return _cache_folder(repo) / f"site-manifest-{name}.json"


def _read_manifest(path: Path, target: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("output") != str(target) or not isinstance(data.get("files"), dict):
        return {}
    return {str(k): str(v) for k, v in data["files"].items()}


def _write_manifest(path: Path, target: Path, keys: dict[str, str]) -> None:
    try:
        atomic_write_bytes(path, json.dumps({"output": str(target), "files": keys}, sort_keys=True).encode("utf-8"))
    except OSError:
        pass  # no manifest: the next build renders everything


def _link(source: Path, destination: Path) -> bool:
    """Reuse an unchanged file of the previous build (a hard link; a copy where links are refused)."""
    try:
        os.link(source, destination)
    except FileNotFoundError:
        return False
    except OSError:
        try:
            shutil.copyfile(source, destination)
        except OSError:
            return False
    return True


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

    def time_tag(value: Any) -> Markup:
        """``<time datetime="2024-12-12T00:00:00Z">2024-12-11 19:00 EST</time>``; a filter, not a macro: pages have many."""
        if value is None:
            return Markup("")
        # Both parts are escaped: the ISO stamp is digits and punctuation, the local time goes through escape().
        return Markup(f'<time datetime="{escape(isoformat_z(value))}">{escape(local_time(value, zone))}</time>')  # noqa: S704

    return time_tag


def render_incident_page(
    env: SandboxedEnvironment, common: dict[str, Any], item: IncidentView, record: dict[str, Any], now: datetime
) -> bytes:
    """One incident's page: depends on that incident, the config and (while open) ``now`` only."""
    item = with_record(item, record)
    moment = now if item.is_open else None
    return _page(env, "site/incident.html.j2", common, root="../", item=item, incident=record, now=moment)


def _common_context(config: Config) -> dict[str, Any]:
    settings = config.channels.statuspage
    return {
        "site_title": (settings.title if settings and settings.title else None) or f"{config.organization} Status",
        "organization": config.organization,
        # From the config alone, so a page never depends on other incidents (names of unknown ids: the id).
        "component_names": {component.id: component.name for component in config.components},
        "impact_class": IMPACT_CLASS,
        "impact_words": IMPACT_WORDS,
        "banners": INDICATOR_BANNERS,
        "uptime": format_uptime,
        "incident_path": incident_path,
    }


def _page(env: SandboxedEnvironment, name: str, common: dict[str, Any], **context: Any) -> bytes:
    from ..render import render

    # Control characters are HTML parse errors; untrusted text may carry them.
    return _CONTROL.sub("", render(env, name, **common, **context)).encode("utf-8")


def _static(env: SandboxedEnvironment, name: str) -> bytes:
    """A static file from the templates (a repo's own ``templates/site/style.css`` wins)."""
    import jinja2

    assert env.loader is not None
    try:
        source, _, _ = env.loader.get_source(env, name)
    except jinja2.TemplateNotFound:
        raise IncidentctlError(f"{name} not found in the repo's templates/ or the packaged templates") from None
    return source.encode("utf-8")


# -- the atomic swap ------------------------------------------------------------------------------


def _check_target(repo: Repo, target: Path) -> None:
    """Refuse to replace a folder that is not a site we built (``--output ~`` must not wipe a home)."""
    root = repo.root.resolve()
    resolved = target.resolve()
    if resolved == root or resolved in root.parents:
        raise IncidentctlError(
            f"--output {target}: that would replace the incident repo itself; pick a subfolder such as site/"
        )
    for reserved in ("incidents", "templates", ".git", "postmortems"):
        if resolved == root / reserved:
            raise IncidentctlError(f"--output {target}: {reserved}/ belongs to the incident repo; pick another folder")
    if target.exists() and not target.is_dir():
        raise IncidentctlError(f"--output {target}: exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not (target / MARKER).is_file():
        raise IncidentctlError(
            f"--output {target}: the folder is not empty and was not built by incidentctl; "
            "choose an empty or new folder (a build replaces the whole folder)"
        )


def _cache_folder(repo: Repo) -> Path:
    return cache_dir(repo.root)


@contextlib.contextmanager
def _build_lock(repo: Repo) -> Iterator[None]:
    """One build at a time per repo (its own lock file: callers may hold the repo's write lock)."""
    folder = _cache_folder(repo)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "site-build.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_stale_builds(target: Path) -> None:
    """Temp folders a killed build left behind (safe: we hold the build lock)."""
    prefix = BUILD_PREFIX + target.name + "-"
    for stale in target.parent.glob(prefix + "*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(first: Path, second: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False when unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    result = renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    return bool(result == 0)


def _swap_in(staging: Path, target: Path) -> None:
    """Put ``staging`` at ``target``; the old site (if any) ends up in ``staging`` to be deleted."""
    if not target.exists():
        os.rename(staging, target)
        return
    if _exchange(staging, target):
        return
    # No atomic exchange here (macOS, some file systems): two renames, a gap of microseconds.
    old = staging.with_name(staging.name + "-old")
    os.rename(target, old)
    os.rename(staging, target)
    os.rename(old, staging)

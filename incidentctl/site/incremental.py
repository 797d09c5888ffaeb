"""What to rebuild: every output file's key (a digest of its inputs), the previous build's
manifest, and the build job that reads and renders only the incidents whose key changed.

A page's key names the code, config and templates (the shared fingerprint), its incident's record
stamp and, while the incident is open, ``now``; an unchanged key means the previous file is reused.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import pickle
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..durations import isoformat_z
from . import api, badges, calendar, feed, records, summarystore
from .output import MARKER, MARKER_TEXT, Output, cache_folder
from .pages import (
    common_context,
    render_history_page,
    render_incident_page,
    render_index,
    site_environment,
    static_file,
)
from .state import Ordered, SharedState, ViewTable, decode, timely
from .summary import IncidentView, micros
from .view import Scan, SiteView, compute_view, window_start_us

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

    from ..store import Repo


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


def path_to_id(path: str) -> str:
    return path[len("incidents/") : -len(".html")]


@dataclass
class _Outcome:
    """What one share of the incident records gave: summaries, page keys, hot records, problems."""

    summaries: dict[str, tuple[str, tuple[Any, ...] | None]] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    records: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    rendered: int = 0
    reused: int = 0
    problems: list[str] = field(default_factory=list)


class Job:
    """One build: which records to read, which incident pages to render, what the shared pages need."""

    def __init__(
        self,
        repo: Repo,
        now: datetime,
        shared: str,
        cache: summarystore.SiteCache,
        stamps: dict[str, str],
        racy: records.Racy | None = None,
    ):
        self.repo = repo
        self.now = now
        self.now_tag = isoformat_z(now)
        self.now_us = micros(now)
        self.shared = shared
        self.cache = cache
        self.stamps = stamps
        self.racy = racy or {}
        self.env = site_environment(repo)
        self.common = common_context(repo.config)
        self.views = ViewTable()
        """Every published record's summary (decoded when first needed)."""
        self.unpublished: dict[str, str] = {}
        """Records with nothing public yet: id → stamp."""
        self.changed: set[str] = set()
        """Records whose cached summary is missing or stale (read again), or gone: the cache's new rows."""
        self.old: dict[str, IncidentView] = {}
        """The previous summaries of the changed records that had one (the shared state drops them)."""
        self.state = SharedState.from_data(cache.state)
        """The shared state of the cached rows (None: made afresh from every summary)."""
        self.state_ready = False
        """The state holds this build's summaries (:meth:`shared_state` ran)."""
        self.start_us = window_start_us(now, repo.config)
        self.keys: dict[str, str] = {}
        self.previous: dict[str, str] = {}
        self.existing: set[str] = set()
        self.reusable: list[str] = []
        self.tasks: list[str] = []
        self.written: list[str] = []
        self.hot: dict[str, tuple[str, bytes]] = {}
        self.cache_changed = False
        self.hot_ids: set[str] | None = None
        """The records worth keeping in full for the next build (known once the shared files are planned)."""
        self.memo: dict[str, tuple[str, Any]] = {}
        """Made this build for the next one: shared files by path, (digest of their inputs, bytes); an
        incident's API updates by ``api-updates:<id>``, (its stamp, the updates)."""

    def page_key(self, view: IncidentView) -> str:
        # No hash needed: the shared fingerprint is one already, the stamp names the record.
        if view.is_maintenance:
            # A maintenance page shows where now stands against its window (upcoming, due, over) and,
            # while it runs, for how long: crossing its start or end changes the page, nothing else does.
            moment = self.now_tag if view.is_active else ""
            return f"{self.shared[:32]}:{view.stamp}:{view.phase(self.now_us)}:{moment}"
        return f"{self.shared[:32]}:{view.stamp}:{self.now_tag if view.is_open else ''}"

    def plan(self, previous: dict[str, str], existing: set[str]) -> None:
        """Sort the records: cached and page unchanged (reusable), or to read and/or render (tasks)."""
        self.previous, self.existing = previous, existing
        cached = self.cache.rows
        self.cache.rows = {}
        blobs = self.views.blobs
        head = self.shared[:32] + ":"
        keys, written, reusable, tasks = self.keys, self.written, self.reusable, self.tasks
        cached_row, previous_key = cached.get, previous.get  # one loop over every record: kept lean
        add_written, add_reusable, add_task = written.append, reusable.append, tasks.append
        for incident_id, stamp in self.stamps.items():
            hit = cached_row(incident_id)
            if hit is None or hit[0] != stamp:
                add_task(incident_id)
                self.changed.add(incident_id)
                if hit is not None and hit[1] is not None:
                    self.old[incident_id] = decode(hit[1], hit[0])
                continue
            blob = hit[1]
            if blob is None:
                self.unpublished[incident_id] = stamp
                continue  # nothing public yet
            blobs[incident_id] = hit  # type: ignore[assignment] # (stamp, bytes): the blob is not None
            path = "incidents/" + incident_id + ".html"  # view.path
            # Only an open incident's or a maintenance's page key names now (its summary's first
            # byte says so); every other record's is its stamp alone: its summary is not even decoded.
            key = self.page_key(self.views[incident_id]) if timely(blob) else head + stamp + ":"
            keys[path] = key
            add_written(path)
            if previous_key(path) == key and path in existing:
                add_reusable(path)
            else:
                add_task(incident_id)
        for incident_id in cached.keys() - self.stamps.keys():  # deleted records
            self.changed.add(incident_id)
            blob = cached[incident_id][1]
            if blob is not None:
                self.old[incident_id] = decode(blob, "")
        self.cache_changed = bool(self.changed)
        self.hot = {i: kept for i, kept in self.cache.records.items() if self.stamps.get(i) == kept[0]}

    def run(self, out: Output, report: BuildReport) -> None:
        """Read and render the task records, in this process and a forked helper; merge what they found."""
        tasks = sorted(set(self.tasks), reverse=True)  # newest first: the hot records are kept early
        if len(tasks) >= records.PARALLEL_MIN:
            # Many pages: the templates are loaded once for this build (a fresh cache, so a template
            # edited since an earlier build in this process is seen) and not checked again for each
            # page (auto_reload stats every template file a page uses, each time).
            self.env = self.env.overlay(auto_reload=False, cache_size=400)
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
                if summary[1] is not None:
                    self.views[incident_id] = IncidentView.from_tuple(summary[1], summary[0])
                    self.unpublished.pop(incident_id, None)
                else:
                    self.unpublished[incident_id] = summary[0]
                    self.views.pop(incident_id)
        records.raise_problems(sorted(problems))

    def _work(self, out: Output, ids: Sequence[str]) -> _Outcome:
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

    def shared_state(self) -> SharedState:
        """The shared state of this build's summaries: the cached one with the changed records
        replaced, else made afresh from every summary (no state kept, the clock moved back)."""
        state = self.state
        if self.state_ready and state is not None:
            return state
        self.state_ready = True
        if state is not None:
            new = [view for incident_id in sorted(self.changed) if (view := self.views.get(incident_id)) is not None]
            try:
                kept = (
                    state.apply(self.views, self.old, new)
                    and state.holds(self.views)
                    and state.move_cutoff(self.views, self.start_us)
                )
            except (KeyError, TypeError, ValueError, IndexError):  # a state not of these rows
                kept = False
            if kept:
                return state
        state = SharedState.made_from(self.views.values(), self.start_us)
        self.state = state
        self.cache_changed = True  # the next build starts from this one
        return state

    def shared_files(self) -> Iterator[PlannedFile]:
        """index, history, feed and API files, computed from every summary and a few full records."""
        state = self.shared_state()
        table = self.views
        by_start = Ordered(state.by_start[::-1], table)
        by_last = Ordered(state.by_last[::-1], table)
        live = sorted((table[incident_id] for incident_id in state.live), key=_start_key, reverse=True)
        picked = feed.newest_updates(by_last, feed.FEED_LIMIT, by_last=True)
        needed = _needed_records(live, by_start, picked)
        component_feeds = _component_feeds(state, table)
        self.hot_ids = _hot_ids(live, by_start, by_last, component_feeds)
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
        latest = by_last[0].last if len(by_last) else None
        scan = Scan(state.named.keys(), dict(state.updated), live, latest)
        view = compute_view(self.repo.config, by_start, self.now, full, scan)
        planned = plan_shared(
            self.env, self.common, view, self.shared, self.full_record, picked, component_feeds, self._api_updates
        )
        for item in planned:
            key = self._memo_key(item.path, view, picked)
            yield (
                item if key is None else PlannedFile(item.path, item.key, functools.partial(self._memoized, item, key))
            )

    def _memo_key(self, path: str, view: SiteView, picked: list[tuple[int, str, int]]) -> str | None:
        """The digest of every input of the shared files that rarely change although always rendered
        (the feed: its updates and their records; the calendar: its maintenances' records)."""
        if path == "feed.atom":
            views = self.views
            parts = [f"{at}:{incident_id}:{index}:{views[incident_id].stamp}" for at, incident_id, index in picked]
            return digest([self.shared, path, isoformat_z(view.updated_at), *parts])
        if path == calendar.CALENDAR:
            return digest([self.shared, path, *(f"{item.id}:{item.stamp}" for item in view.maintenances)])
        return None

    def _api_updates(self, view: SiteView, item: IncidentView) -> list[dict[str, Any]]:
        """:func:`.api.updates`, or what the previous build made of the same record (its stamp;
        the config and code are the cache's fingerprint)."""
        name = f"api-updates:{item.id}"
        kept = self.cache.memo.get(name)
        made: Any = kept[1] if kept is not None and kept[0] == item.stamp else api.updates(view, item)
        self.memo[name] = (item.stamp, made)
        return made  # type: ignore[no-any-return]

    def _memoized(self, item: PlannedFile, key: str) -> bytes:
        """``item.render()``, or the bytes the previous build rendered from the same inputs."""
        kept = self.cache.memo.get(item.path)
        data = kept[1] if kept is not None and kept[0] == key else item.render()
        self.memo[item.path] = (key, data)
        return data

    def full_record(self, incident_id: str) -> dict[str, Any]:
        """One incident's full public record, from the hot cache or its file (a component feed to render)."""
        kept = self.hot.get(incident_id)
        if kept is not None:
            return pickle.loads(kept[1])  # type: ignore[no-any-return] # noqa: S301 - our own cache
        problems: list[str] = []
        incident = records.read_incident(self.repo, incident_id, problems)
        records.raise_problems(problems)
        made = records.summarize(self.repo.config, incident, self.stamps[incident_id]) if incident else None
        if made is None:
            raise KeyError(incident_id)
        self.hot[incident_id] = (self.stamps[incident_id], pickle.dumps(made[1], pickle.HIGHEST_PROTOCOL))
        self.cache_changed = True
        return made[1]

    def save_cache(self, folder: Path) -> None:
        if self.hot_ids is None:
            state = self.shared_state()
            table = self.views
            by_last = Ordered(state.by_last[::-1], table)
            live = [table[incident_id] for incident_id in state.live]
            by_start = Ordered(state.by_start[::-1], table)
            self.hot_ids = _hot_ids(live, by_start, by_last, _component_feeds(state, table))
        wanted = self.hot_ids
        kept = {incident_id: self.hot[incident_id] for incident_id in sorted(wanted) if incident_id in self.hot}
        same = (
            kept.keys() == self.cache.records.keys() and self.memo == self.cache.memo and self.racy == self.cache.racy
        )
        if not self.cache_changed and same and self.cache.state is not None:
            return
        self.cache.records = kept
        self.cache.memo = self.memo
        self.cache.racy = self.racy
        data = self.state.to_data() if self.state is not None else None
        summarystore.save(folder, self.cache, len(self.stamps), self.row, self.rows, self.changed, data)

    def row(self, incident_id: str) -> tuple[str, bytes | None] | None:
        """What the cache keeps for one record (None: no valid record by that id)."""
        if incident_id in self.views:
            return (self.views.stamp(incident_id), self.views.blob(incident_id))
        stamp = self.unpublished.get(incident_id)
        return (stamp, None) if stamp is not None else None

    def rows(self) -> Iterator[summarystore.Row]:
        """Every record's cache row, made one at a time (the base file is streamed)."""
        table = self.views
        for incident_id in table.ids():
            yield (incident_id, table.stamp(incident_id), table.blob(incident_id))
        for incident_id, stamp in self.unpublished.items():
            yield (incident_id, stamp, None)


def _start_key(view: IncidentView) -> tuple[int, str]:
    return (view.started, view.id)


def _component_feeds(state: SharedState, table: ViewTable) -> dict[str, feed.ComponentFeed]:
    """:func:`.feed.component_feeds` from the shared state: each component's incidents newest first,
    read only as far as its feed's updates go."""
    from ..model import ID_PATTERN

    found: dict[str, feed.ComponentFeed] = {}
    for cid, ids in state.touching.items():
        if ID_PATTERN.match(cid):
            listed = Ordered(ids[::-1], table)
            found[cid] = (listed, feed.newest_updates(listed, feed.COMPONENT_FEED_LIMIT, by_last=True))
    return found


def _hot_ids(
    live: Sequence[IncidentView],
    by_start: Sequence[IncidentView],
    by_last: Sequence[IncidentView],
    component_feeds: dict[str, feed.ComponentFeed],
) -> set[str]:
    """The incidents whose full record the next build will probably need (see records.HotRecords).
    ``by_start``, ``by_last``: every summary newest first by each; ``live``: at least every open
    incident and maintenance (:func:`.view.is_live`)."""
    kept = {view.id for view in (*by_last[: records.HOT_BY_LAST], *by_start[: records.HOT_BY_START])} | {
        view.id for view in live if view.is_open or view.is_maintenance
    }
    # A component feed re-rendered must not re-read them.
    return kept | {incident_id for _, updates in component_feeds.values() for _, incident_id, _ in updates}


def _needed_records(
    live: Sequence[IncidentView], by_start: Sequence[IncidentView], picked: list[tuple[int, str, int]]
) -> set[str]:
    """The records the shared pages render in full: open ones, the API's newest incidents, the feed's
    (``picked``), and every maintenance (the calendar lists them all; there are few)."""
    newest = itertools.islice((view for view in by_start if view.is_incident), api.INCIDENTS_LIMIT)
    needed = {view.id for view in newest}
    needed.update(view.id for view in live if view.is_open or view.is_maintenance)
    needed.update(incident_id for _, incident_id, _ in picked)
    return needed


def plan_site(repo: Repo, view: SiteView) -> Iterator[PlannedFile]:
    """Every file of an in-memory view (:func:`view_from_incidents`): incident pages, then the shared ones."""
    env = site_environment(repo)
    common = common_context(repo.config)
    for item in view.incidents:
        record = view.records[item.id]
        yield PlannedFile(item.path, None, functools.partial(render_incident_page, env, common, item, record, view.now))
    yield from plan_shared(env, common, view, "")


def plan_shared(
    env: SandboxedEnvironment,
    common: dict[str, Any],
    view: SiteView,
    shared: str,
    load: Callable[[str], dict[str, Any]] | None = None,
    picked: list[tuple[int, str, int]] | None = None,
    component_feeds: dict[str, feed.ComponentFeed] | None = None,
    api_updates: api.Updates = api.updates,
) -> Iterator[PlannedFile]:
    """The files every build renders from the shared view, in the order they are written (archive
    pages first, the pages linking to them after), with the key of their inputs where reusable.
    ``load`` reads a full record the view does not hold (default: all are in ``view.records``)."""
    for page in sorted(view.history, key=lambda page: -page.number if page.number else 0):
        archive = view.history[1:] if page.number == 0 else []
        key = None
        if page.number:
            parts = [
                shared,
                page.path,
                page.older or "",
                page.newer or "",
                *page.stamps(),
            ]
            key = digest(parts)
        yield PlannedFile(
            page.path,
            key,
            functools.partial(render_history_page, env, common, view, page, archive),
        )
    for path, inputs, render in badges.files(
        view, load, component_feeds
    ):  # feeds, badges, widget: before the pages linking them
        yield PlannedFile(path, digest([shared, path, *inputs]) if inputs is not None and shared else None, render)
    yield PlannedFile("index.html", None, functools.partial(render_index, env, common, view))
    yield PlannedFile("feed.atom", None, functools.partial(feed.build_feed, view, picked=picked))
    yield PlannedFile(calendar.CALENDAR, None, functools.partial(calendar.build_calendar, view))
    for path, data in api.documents(view, api_updates).items():
        yield PlannedFile(path, None, functools.partial(bytes, data))
    yield PlannedFile("style.css", None, lambda: static_file(env, "site/style.css"))
    yield PlannedFile(MARKER, None, lambda: MARKER_TEXT)


def digest(parts: list[str]) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def code_fingerprint() -> str:
    """The code that shapes a page or a summary: a changed renderer (an upgrade) invalidates them all."""
    from .. import __version__

    here = Path(__file__).resolve().parent
    parts = [__version__]
    for source in (
        *sorted(here.glob("*.py")),
        here.parent / "render.py",
        here.parent / "model.py",
        here.parent / "vocabulary.py",
    ):
        parts.append(hashlib.sha256(source.read_bytes()).hexdigest())
    return digest(parts)


def fingerprint(repo: Repo, code: str) -> str:
    """Everything every page depends on besides its own incidents: code, config, templates."""
    from ..render import packaged_templates

    parts = [code, repo.config.model_dump_json()]
    for folder in (repo.root / "templates" / "site", packaged_templates() / "site"):
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.is_file():
                    parts.append(f"{path}:{hashlib.sha256(path.read_bytes()).hexdigest()}")
    return digest(parts)


def manifest_path(repo: Repo, target: Path) -> Path:
    name = hashlib.sha256(str(target).encode("utf-8")).hexdigest()[:16]
    return cache_folder(repo) / f"site-manifest-{name}.bin"


def read_manifest(path: Path, target: Path) -> dict[str, str]:
    try:
        return summarystore.read_manifest(path, str(target))
    except (OSError, summarystore.BadCache):
        return {}


def write_manifest(path: Path, target: Path, keys: dict[str, str]) -> None:
    try:
        summarystore.write_manifest(path, str(target), keys)
    except OSError:
        pass  # no manifest: the next build renders everything

"""``site build``: the orchestration. Plan what changed, render it, write it, swap it in.

The shared view (overall status, component status, 90-day bars, history) is computed once
(:func:`.view.compute_view`); each incident page is rendered from its own incident only
(:mod:`.pages`), so a full build grows linearly with the number of incidents. What to rebuild is
decided in :mod:`.incremental`; how files reach the output folder in :mod:`.output`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import records, summarystore
from .incremental import (
    BuildReport,
    Job,
    PlannedFile,
    code_fingerprint,
    digest,
    fingerprint,
    manifest_path,
    path_to_id,
    read_manifest,
    write_manifest,
)
from .output import (
    BUILD_PREFIX,
    MARKER,
    Output,
    build_lock,
    cache_folder,
    check_target,
    listing,
    remove_stale_builds,
    swap_in,
)
from .summary import IncidentView
from .view import SiteView, compute_view

if TYPE_CHECKING:
    from ..config import Config
    from ..model import Incident
    from ..store import Repo


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


def _build(repo: Repo, output: Path | None, now: datetime | None, *, reuse: bool) -> BuildReport:
    from ..durations import utcnow

    target = (output if output is not None else default_output(repo)).expanduser().absolute()
    check_target(repo, target)
    moment = (now if now is not None else utcnow()).astimezone(UTC).replace(microsecond=0)
    target.parent.mkdir(parents=True, exist_ok=True)
    with build_lock(repo):
        remove_stale_builds(target)
        folder = cache_folder(repo)
        code = code_fingerprint()
        cache = summarystore.load(folder, digest([code, repo.config.model_dump_json()]))
        stamps, racy = records.record_stamps(repo, cache.racy)
        job = Job(repo, moment, fingerprint(repo, code), cache, stamps, racy)
        manifest = manifest_path(repo, target)
        # Without the cache, a record the last build saw racy is unknown: reuse no page then.
        usable = reuse and bool(cache.token) and (target / MARKER).is_file()
        previous = read_manifest(manifest, target) if usable else {}
        existing = listing(target) if previous else set()
        job.plan(previous, existing)
        # Update in place when most pages stay; else build afresh in a temp folder and swap it in.
        in_place = bool(previous) and len(job.tasks) * 2 <= len(job.stamps)
        if in_place:
            manifest.unlink(missing_ok=True)  # killed mid-way: the next build starts afresh
            report = _build_in_place(job, target, existing)
        else:
            report = _build_staged(job, target, previous)
        # Written after the site: a stale manifest can only cause extra rendering, never a stale page.
        write_manifest(manifest, target, job.keys)
        job.save_cache(folder)
    return report


def _build_staged(job: Job, target: Path, previous: dict[str, str]) -> BuildReport:
    report = BuildReport(output=target)
    staging = Path(tempfile.mkdtemp(prefix=BUILD_PREFIX + target.name + "-", dir=target.parent))
    try:
        out = Output(staging, target, in_place=False)
        for path in job.reusable:
            if out.link(path):
                report.reused += 1
            else:
                job.tasks.append(path_to_id(path))  # gone from the old site: render it again
        job.run(out, report)
        _write_shared(job, out, previous, report)
        os.chmod(staging, 0o755)  # noqa: S103 - a web root is world-readable (mkdtemp makes it 0700)
        swap_in(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return report


def _build_in_place(job: Job, target: Path, existing: set[str]) -> BuildReport:
    report = BuildReport(output=target, in_place=True)
    out = Output(target, target, in_place=True)
    report.reused += len(job.reusable)
    job.run(out, report)  # incident pages first: nothing links to a new page before it exists
    _write_shared(job, out, job.previous, report)  # archive pages, history, index, feed, API
    for stale in sorted(existing - set(job.written)):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target / stale)
    return report


def _write_shared(job: Job, out: Output, previous: dict[str, str], report: BuildReport) -> None:
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

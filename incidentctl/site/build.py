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
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..durations import isoformat_z
from ..errors import IncidentctlError
from ..yamlio import atomic_write_bytes
from . import api, feed
from .model import INDICATOR_BANNERS, SiteView, compute_view, format_uptime, incident_path

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from jinja2.sandbox import SandboxedEnvironment
    from markupsafe import Markup

    from ..store import Repo
    from .model import IncidentView

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

    Same repo and same ``now`` give the same bytes. The site is built in a temp folder next to
    ``output`` and swapped in, so a web server never serves half a site. Incident pages and
    archive pages whose inputs did not change since the last build are hard-linked from it
    instead of rendered again (the result is byte-identical to a full build). Returns ``output``.
    """
    return _build(repo, output, now, reuse=True).output


@dataclass
class BuildReport:
    output: Path
    rendered: int = 0
    reused: int = 0


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
    moment = now if now is not None else utcnow()
    incidents = repo.scan()
    view = compute_view(repo.config, incidents, moment)
    target.parent.mkdir(parents=True, exist_ok=True)
    report = BuildReport(output=target)
    with _build_lock(repo):
        _remove_stale_builds(target)
        manifest_path = _manifest_path(repo, target)
        previous = _read_manifest(manifest_path, target) if reuse and (target / MARKER).is_file() else {}
        staging = Path(tempfile.mkdtemp(prefix=BUILD_PREFIX + target.name + "-", dir=target.parent))
        try:
            keys: dict[str, str] = {}
            made: set[Path] = set()
            for planned in plan_site(repo, view):
                destination = staging / planned.path
                if destination.parent not in made:
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    made.add(destination.parent)
                if planned.key is not None:
                    keys[planned.path] = planned.key
                    if previous.get(planned.path) == planned.key and _link(target / planned.path, destination):
                        report.reused += 1
                        continue
                destination.write_bytes(planned.render())
                report.rendered += 1
            os.chmod(staging, 0o755)  # noqa: S103 - a web root is world-readable (mkdtemp makes it 0700)
            _swap_in(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        # Written after the swap: a stale manifest can only cause extra rendering, never a stale page.
        _write_manifest(manifest_path, target, keys)
    return report


def render_site(repo: Repo, view: SiteView) -> Iterator[tuple[str, bytes]]:
    """Every file of the site as ``(relative path, bytes)``, in a fixed order (no reuse)."""
    for planned in plan_site(repo, view):
        yield planned.path, planned.render()


def plan_site(repo: Repo, view: SiteView) -> Iterator[PlannedFile]:
    """Every file of the site, in a fixed order, with the key of its inputs where pages can be reused."""
    env = site_environment(repo)
    common = _common_context(view)
    shared = _fingerprint(repo, view)
    stamps = _record_stamps(repo, view)
    yield PlannedFile(
        MARKER, None, lambda: b"Built by incidentctl (site build). This folder is replaced on every build.\n"
    )
    yield PlannedFile("style.css", None, lambda: _static(env, "site/style.css"))
    yield PlannedFile("index.html", None, lambda: _page(env, "site/index.html.j2", common, root="", site=view))
    for page in view.history:
        archive = view.history[1:] if page.number == 0 else []
        key = None
        if page.number:
            parts = [
                shared,
                page.path,
                page.older or "",
                page.newer or "",
                *(stamps[item.id] for item in page.incidents),
            ]
            key = _digest(parts)
        yield PlannedFile(
            page.path,
            key,
            functools.partial(
                _page, env, "site/history.html.j2", common, root="", site=view, page=page, archive=archive
            ),
        )
    for item in view.incidents:
        now_part = isoformat_z(view.now) if item.incident.is_open else ""
        yield PlannedFile(
            item.path,
            _digest([shared, item.path, stamps[item.id], now_part]),
            functools.partial(render_incident_page, env, view, item, common),
        )
    yield PlannedFile("feed.atom", None, lambda: feed.build_feed(view))
    for path, data in api.documents(view).items():
        yield PlannedFile(path, None, functools.partial(bytes, data))


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def _fingerprint(repo: Repo, view: SiteView) -> str:
    """Everything every page depends on besides its own incidents: code, config, templates, components."""
    from .. import __version__
    from ..render import packaged_templates

    parts = [__version__, repo.config.model_dump_json(), ",".join(f"{c.id}={c.name}" for c in view.components)]
    for folder in (repo.root / "templates" / "site", packaged_templates() / "site"):
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.is_file():
                    parts.append(f"{path}:{hashlib.sha256(path.read_bytes()).hexdigest()}")
    # The code that shapes a page: a changed renderer (e.g. after an upgrade) invalidates every page.
    here = Path(__file__).resolve().parent
    for source in (*sorted(here.glob("*.py")), here.parent / "render.py", here.parent / "model.py"):
        parts.append(hashlib.sha256(source.read_bytes()).hexdigest())
    return _digest(parts)


def _record_stamps(repo: Repo, view: SiteView) -> dict[str, str]:
    """Per incident, its record's size and mtime (the same key the scan cache trusts)."""
    stamps = {}
    for item in view.incidents:
        try:
            st = repo.record_path(item.id).stat()
            stamps[item.id] = f"{item.id}:{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamps[item.id] = f"{item.id}:missing"
    return stamps


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
    env: SandboxedEnvironment, view: SiteView, item: IncidentView, common: dict[str, Any]
) -> bytes:
    """One incident's page: depends on that incident, the config and (while open) ``now`` only."""
    now = view.now if item.incident.is_open else None
    return _page(env, "site/incident.html.j2", common, root="../", item=item, incident=item.incident, now=now)


def _common_context(view: SiteView) -> dict[str, Any]:
    return {
        "site_title": view.title,
        "organization": view.config.organization,
        "component_names": {component.id: component.name for component in view.components},
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
    git_dir = repo.root / ".git"
    return git_dir / "incidentctl" if git_dir.is_dir() else repo.root / ".incidentctl-cache"


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

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
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import IncidentctlError
from . import api, feed
from .model import INDICATOR_BANNERS, SiteView, compute_view, format_uptime, incident_path

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

    from ..store import Repo
    from .model import IncidentView

#: Written into every built site so a later build knows the folder is ours to replace.
MARKER = ".incidentctl-site"
BUILD_PREFIX = ".incidentctl-build-"
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
    ``output`` and swapped in, so a web server never serves half a site. Returns ``output``.
    """
    from ..durations import utcnow

    target = (output if output is not None else default_output(repo)).expanduser().absolute()
    _check_target(repo, target)
    moment = now if now is not None else utcnow()
    incidents = repo.scan()
    view = compute_view(repo.config, incidents, moment)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock(repo):
        _remove_stale_builds(target)
        staging = Path(tempfile.mkdtemp(prefix=BUILD_PREFIX + target.name + "-", dir=target.parent))
        try:
            write_files(staging, render_site(repo, view))
            os.chmod(staging, 0o755)  # noqa: S103 - a web root is world-readable (mkdtemp makes it 0700)
            _swap_in(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return target


def render_site(repo: Repo, view: SiteView) -> Iterator[tuple[str, bytes]]:
    """Every file of the site as ``(relative path, bytes)``, in a fixed order."""
    from ..render import environment

    env = environment(repo.root, repo.config)
    yield MARKER, b"Built by incidentctl (site build). This folder is replaced on every build.\n"
    yield "style.css", _static(env, "site/style.css")
    common = _common_context(view)
    yield "index.html", _page(env, "site/index.html.j2", common, root="", site=view)
    for page in view.history:
        yield page.path, _page(env, "site/history.html.j2", common, root="", site=view, page=page, pages=view.history)
    for item in view.incidents:
        yield item.path, render_incident_page(env, view, item, common)
    yield "feed.atom", feed.build_feed(view)
    yield from api.documents(view).items()


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


def write_files(folder: Path, files: Iterator[tuple[str, bytes]]) -> int:
    """Write every file under ``folder`` (a private temp folder: no per-file fsync needed)."""
    made: set[Path] = set()
    count = 0
    for rel, data in files:
        path = folder / rel
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        with open(path, "wb") as handle:
            handle.write(data)
        count += 1
    return count


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


@contextlib.contextmanager
def _build_lock(repo: Repo) -> Iterator[None]:
    """One build at a time per repo (its own lock file: callers may hold the repo's write lock)."""
    git_dir = repo.root / ".git"
    folder = git_dir / "incidentctl" if git_dir.is_dir() else repo.root / ".incidentctl-cache"
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

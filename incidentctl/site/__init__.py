"""The static status page: ``build_site`` renders it from the incident repo.

Files: ``index.html``, ``incidents/<id>.html`` (incidents and maintenances), ``history.html``
(``history-N.html`` when long), ``feed.atom``, ``calendar.ics`` (the maintenances), ``style.css``, the
Statuspage-compatible JSON API under ``api/v2/`` (with ``scheduled-maintenances*.json``) and the
at-a-glance files (badges, per-component feeds, ``api/widget.json``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["build_site", "default_output"]

if TYPE_CHECKING:
    from .build import build_site, default_output


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import build

        return getattr(build, name)
    raise AttributeError(f"module 'incidentctl.site' has no attribute {name!r}")

"""incidentctl: git-native incident communication and postmortems.

The library is the product; the CLI is a thin layer over it::

    from incidentctl import Repo, open_incident, add_update, resolve_incident

    repo = Repo.open("status-repo")
    change = open_incident(repo, "API unavailable", severity="sev1", components={"api": "major_outage"},
                           message="We are investigating elevated error rates.")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Change",
    "Config",
    "Delivery",
    "Entry",
    "Incident",
    "IncidentctlError",
    "Repo",
    "add_update",
    "open_incident",
    "resolve_incident",
]

# Imports are lazy so `incidentctl --help` stays fast (pydantic, ruamel and friends load on use).
_LAZY = {
    "Change": "lifecycle",
    "add_update": "lifecycle",
    "open_incident": "lifecycle",
    "resolve_incident": "lifecycle",
    "Config": "config",
    "Delivery": "model",
    "Entry": "model",
    "Incident": "model",
    "IncidentctlError": "errors",
    "Repo": "store",
}

if TYPE_CHECKING:
    from .config import Config
    from .errors import IncidentctlError
    from .lifecycle import Change, add_update, open_incident, resolve_incident
    from .model import Delivery, Entry, Incident
    from .store import Repo


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'incidentctl' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)

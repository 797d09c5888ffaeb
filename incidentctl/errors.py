"""One exception tree for everything a user can cause or meet.

The CLI maps these to the documented exit codes in a single handler; library callers catch
:class:`IncidentctlError` and read ``exit_code`` if they care.
"""

from __future__ import annotations


class IncidentctlError(Exception):
    """Base of every error meant for the user: its message is what they read."""

    exit_code = 1


class UsageError(IncidentctlError):
    """The command line itself is wrong (bad flag value, conflicting options)."""

    exit_code = 2


class ConfigError(IncidentctlError):
    """``incidentctl.yaml`` is missing, unreadable or invalid."""


class RepoNotFoundError(ConfigError):
    """No incident repo was found from ``--repo``, ``INCIDENTCTL_REPO`` or the current folder."""


class RecordError(IncidentctlError):
    """An incident record is invalid or cannot be found."""


class IncidentNotFoundError(RecordError):
    """No incident matches an id or prefix."""


class AmbiguousIdError(RecordError):
    """An id prefix matches more than one incident."""


class TemplateError(IncidentctlError):
    """A Jinja template failed to load or render; the message names the file and line."""


class GitError(IncidentctlError):
    """A git operation failed (not a repo, a stale lock, a failed commit)."""


class PushError(GitError):
    """The change is committed locally but the push kept being rejected."""

    exit_code = 4


class DeliveryError(IncidentctlError):
    """Some deliveries failed; the rest went out and the failures are recorded for retry."""

    exit_code = 3


class DueError(IncidentctlError):
    """``remind --fail-if-due`` found something due."""

    exit_code = 5

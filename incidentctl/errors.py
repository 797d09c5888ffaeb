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


class InputError(IncidentctlError):
    """A value the user gave can only be a mistake (a time in the future, a year typo, a second
    resolution): refused with exit 1, nothing changed."""


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


class EnvironmentProblem(IncidentctlError):
    """The machine refused: disk full, read-only file system, permission denied."""


def from_os_error(exc: OSError) -> IncidentctlError | None:
    """The one-line error a user reads for an operating-system failure they can fix, or None
    (an unexpected one, still reported as a bug)."""
    import errno

    where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
    reasons = {
        errno.ENOSPC: "no space left on the device",
        errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
    }
    reason = reasons.get(exc.errno or 0)
    if reason is None:
        return None
    return EnvironmentProblem(
        f"cannot write{where}: {reason} (nothing was committed; fix it and run the command again)"
    )


def from_exception(exc: BaseException) -> IncidentctlError | None:
    """Map the exceptions a user's input or machine can cause to one-line errors; None for a bug."""
    if isinstance(exc, IncidentctlError):
        return exc
    if isinstance(exc, OSError):
        return from_os_error(exc)
    if isinstance(exc, OverflowError):
        return IncidentctlError("a date or duration is out of range (years 1970–9999, durations up to 100 years)")
    try:
        from pydantic import ValidationError
    except ImportError:  # pragma: no cover
        return None
    if isinstance(exc, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}".lstrip(": ")
            for error in exc.errors(include_url=False)
        ]
        return IncidentctlError("invalid value: " + "; ".join(parts))
    return None


def debug_enabled() -> bool:
    """``INCIDENTCTL_DEBUG``: only 1, true or yes turn tracebacks on (``0``, ``false``, empty: off)."""
    import os

    return os.environ.get("INCIDENTCTL_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")

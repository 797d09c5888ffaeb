"""Moved to :mod:`incidentctl.records.codec`; this alias stays only until in-flight branches are merged."""

from .records.codec import *  # noqa: F403

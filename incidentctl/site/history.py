"""The incident history: ``history.html`` and its archive pages, grouped by month."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from .summary import IncidentView


@dataclass(frozen=True)
class HistoryMonth:
    label: str
    key: str
    incidents: tuple[IncidentView, ...]


class HistoryPage:
    """``history.html`` (the newest incidents) or one archive page (a fixed chunk, oldest first).

    Archive chunks are counted from the oldest incident, so a new incident never moves an old one
    to another page: only the newest chunk and ``history.html`` change when something happens.
    Its incidents are read when the page is rendered (an unchanged archive page is known by the
    stamps of its incidents alone: :meth:`stamps`).
    """

    __slots__ = ("_months", "_views", "label", "newer", "number", "older", "path")

    def __init__(
        self,
        number: int,
        path: str,
        views: Sequence[IncidentView],
        older: str | None,
        newer: str | None,
        label: str,
    ) -> None:
        self.number = number
        """0 for ``history.html``, else the archive chunk (1 = oldest)."""
        self.path = path
        self._views = views
        self.older = older
        self.newer = newer
        self.label = label
        """The date range of an archive page, e.g. ``Mar 2023 – May 2023``."""
        self._months: tuple[HistoryMonth, ...] | None = None

    @property
    def incidents(self) -> tuple[IncidentView, ...]:
        """The page's incidents, newest first."""
        return tuple(self._views)

    @property
    def months(self) -> tuple[HistoryMonth, ...]:
        if self._months is None:
            self._months = _months(self.incidents)
        return self._months

    def stamps(self) -> list[str]:
        """The stamps of the page's incidents, newest first (without reading their summaries)."""
        from .state import stamps_of

        return stamps_of(self._views)


def history_path(number: int) -> str:
    return "history.html" if number == 0 else f"history-{number}.html"


def _month_label(key: str, fmt: str) -> str:
    return date(int(key[:4]), int(key[5:7]), 1).strftime(fmt)


def _months(views: Sequence[IncidentView]) -> tuple[HistoryMonth, ...]:
    months: list[HistoryMonth] = []
    bucket: list[IncidentView] = []
    key = ""
    for view in views:
        if view.month != key:
            if bucket:
                months.append(HistoryMonth(label=_month_label(key, "%B %Y"), key=key, incidents=tuple(bucket)))
            key, bucket = view.month, []
        bucket.append(view)
    if bucket:
        months.append(HistoryMonth(label=_month_label(key, "%B %Y"), key=key, incidents=tuple(bucket)))
    return tuple(months)


def paginate_history(views: Sequence[IncidentView], page_size: int) -> list[HistoryPage]:
    """``history.html`` with the newest ``page_size`` incidents, then archive pages when there are more.

    ``views`` is newest first; every page lists newest first, grouped by month (local time).
    """
    newest = views[:page_size]
    if len(views) <= page_size:
        return [HistoryPage(0, history_path(0), newest, None, None, "")]
    oldest_first = views[::-1]
    chunks = [oldest_first[start : start + page_size] for start in range(0, len(oldest_first), page_size)]
    count = len(chunks)
    # The first incident history.html leaves out, and the archive chunk that holds it.
    first_hidden = len(views) - 1 - page_size
    main = HistoryPage(0, history_path(0), newest, history_path(first_hidden // page_size + 1), None, "")
    pages = [main]
    for number, chunk in enumerate(chunks, start=1):
        shown = chunk[::-1]
        first, last = chunk[0].month, chunk[-1].month
        label = (
            _month_label(first, "%b %Y")
            if first == last
            else f"{_month_label(first, '%b %Y')} – {_month_label(last, '%b %Y')}"
        )
        pages.append(
            HistoryPage(
                number=number,
                path=history_path(number),
                views=shown,
                older=history_path(number - 1) if number > 1 else None,
                newer=history_path(number + 1) if number < count else history_path(0),
                label=label,
            )
        )
    return pages

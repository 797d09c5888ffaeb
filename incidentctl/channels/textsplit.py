"""Splitting text that is too long for one message into numbered parts, for any length rule.

X has its own weighted splitter (``channels/x.py``); Mastodon and Discord measure differently
(Mastodon: characters with every URL counted as a fixed number; Discord: characters), so this one
takes the measure as a function. Splits at whitespace, keeps line breaks inside a part, never cuts
a URL; one word longer than a whole part is cut by character. Nothing is ever dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Measure = Callable[[str], int]

URL_PATTERN = re.compile(r"https?://\S+", re.IGNORECASE)


def url_weighted_length(text: str, url_weight: int) -> int:
    """Characters of ``text`` with every URL counted as ``url_weight`` (Mastodon's rule).

    Counts code points, which is never fewer than Mastodon's grapheme clusters: a part that fits
    here fits there.
    """
    total = 0
    last = 0
    for match in URL_PATTERN.finditer(text):
        total += len(text[last : match.start()]) + url_weight
        last = match.end()
    return total + len(text) - last


def longest_prefix(count: int, fits: Callable[[int], bool]) -> int:
    """The largest ``k`` in 1..count with ``fits(k)`` (``fits(1)`` assumed), by binary search.

    Weighted length only grows as text is appended, so this needs O(log n) measurements.
    """
    if fits(count):
        return count
    low, high = 1, count
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low


def _chunks(token: str, limit: int, measure: Measure) -> list[str]:
    pieces: list[str] = []
    while token:
        rest = token
        size = longest_prefix(len(rest), lambda k, rest=rest: measure(rest[:k]) <= limit)  # type: ignore[misc]
        pieces.append(token[:size])
        token = token[size:]
    return pieces


def split_text(text: str, limit: int, measure: Measure = len, *, numbered: bool = True) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` (by ``measure``), numbered ``(1/3)`` when ``numbered``."""
    if limit < 16:
        raise ValueError(f"limit {limit} is too small to split into parts")
    text = text.strip()
    if measure(text) <= limit:
        return [text]
    if not numbered:
        return _split(text, limit, measure)
    total = 2
    while True:
        parts = _split(text, limit - len(f" ({total}/{total})"), measure)
        if len(parts) <= total:
            return [f"{part} ({number}/{len(parts)})" for number, part in enumerate(parts, 1)]
        total = len(parts)


def _split(text: str, room: int, measure: Measure) -> list[str]:
    # (separator before, word): separators keep at most two line breaks, else one space.
    items: list[tuple[str, str]] = []
    separator = ""
    for token in re.split(r"(\s+)", text):
        if not token:
            continue
        if token.isspace():
            separator = "\n" * min(token.count("\n"), 2) if "\n" in token else " "
            continue
        items.append((separator, token))
        separator = ""

    def joined(start: int, stop: int) -> str:
        return items[start][1] + "".join(sep + word for sep, word in items[start + 1 : stop])

    parts: list[str] = []
    index = 0
    while index < len(items):
        word = items[index][1]
        if measure(word) > room:
            pieces = _chunks(word, room, measure)
            parts.extend(pieces[:-1])
            items[index] = ("", pieces[-1])
        at = index
        count = longest_prefix(len(items) - at, lambda k, at=at: measure(joined(at, at + k)) <= room)  # type: ignore[misc]
        if at + count < len(items):
            count = _nicer_break(items, at, count, room, joined, measure)
        parts.append(joined(at, at + count))
        index = at + count
    return parts


def _nicer_break(
    items: list[tuple[str, str]],
    index: int,
    count: int,
    room: int,
    joined: Callable[[int, int], str],
    measure: Measure,
) -> int:
    """End a part at a line break, else after a sentence, as long as it stays at least half full."""
    for ends_well in (
        lambda k: "\n" in items[index + k][0],
        lambda k: items[index + k - 1][1].endswith((".", "!", "?", ":", ";")),
    ):
        for k in range(count, 0, -1):
            if ends_well(k):
                if measure(joined(index, index + k)) >= room // 2:
                    return k
                break
    return count

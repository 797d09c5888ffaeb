"""Splitting long text into a numbered X thread, measured with X's weighted counting."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from incidentctl.channels.x import split_post, weighted_length

NUMBER = re.compile(r" \((\d+)/(\d+)\)$")


def _strip_numbers(parts: list[str]) -> list[str]:
    return [NUMBER.sub("", part) for part in parts]


def test_short_text_is_one_post_without_number() -> None:
    assert split_post("  All systems operational.  ") == ["All systems operational."]


def test_exactly_280_is_one_post() -> None:
    text = "a" * 280
    assert split_post(text) == [text]


def test_long_text_splits_at_words_and_is_numbered() -> None:
    text = " ".join(f"word{n}" for n in range(100))
    parts = split_post(text)
    assert len(parts) == 3
    assert [NUMBER.search(part).groups() for part in parts] == [("1", "3"), ("2", "3"), ("3", "3")]  # type: ignore[union-attr]
    assert all(weighted_length(part) <= 280 for part in parts)
    assert " ".join(_strip_numbers(parts)).split() == text.split()


def test_urls_count_23_and_are_never_cut() -> None:
    url = "https://status.example.com/incidents/" + "x" * 300
    text = ("Details: " + url + " ") * 12
    parts = split_post(text.strip())
    assert all(weighted_length(part) <= 280 for part in parts)
    assert sum(part.count(url) for part in parts) == 12


def test_cjk_without_spaces_is_cut_by_character() -> None:
    text = "障害が発生しています" * 40  # 400 characters, weight 2 each
    parts = split_post(text)
    assert len(parts) >= 3
    assert all(weighted_length(part) <= 280 for part in parts)
    assert "".join(_strip_numbers(parts)) == text


def test_emoji_weigh_two() -> None:
    assert weighted_length("🔥") == 2
    parts = split_post("🔥 " * 150)
    assert all(weighted_length(part) <= 280 for part in parts)
    assert len(parts) == 2


def test_ten_or_more_parts_are_numbered_consistently() -> None:
    text = " ".join(["incident"] * 400)
    parts = split_post(text)
    assert len(parts) >= 10
    totals = {NUMBER.search(part).group(2) for part in parts}  # type: ignore[union-attr]
    assert totals == {str(len(parts))}
    assert all(weighted_length(part) <= 280 for part in parts)


words = st.one_of(
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from(["https://example.com/a", "東京", "🔥", "outage", "API", "a" * 40]),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(words, min_size=1, max_size=120))
def test_every_part_fits_and_no_word_is_lost(tokens: list[str]) -> None:
    text = " ".join(tokens).strip()
    if not text:
        return
    parts = split_post(text)
    assert all(weighted_length(part) <= 280 for part in parts)
    if len(parts) > 1:
        assert all(NUMBER.search(part) for part in parts)
        joined = "".join(_strip_numbers(parts))
        assert joined.replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")


def test_split_prefers_line_breaks_then_sentence_ends() -> None:
    from incidentctl.channels.x import split_post, weighted_length

    lines = ["Investigating: API unavailable (19:00 EST)", "word " * 40, "Next update by 19:30 EST."]
    text = "\n".join(line.strip() for line in lines) + " " + "tail " * 30
    parts = split_post(text)
    assert all(weighted_length(part) <= 280 for part in parts)
    assert parts[0].endswith(f"word (1/{len(parts)})")  # the first post ends at the end of a line
    assert parts[1].startswith("Next update by 19:30 EST.")  # never "... 19:30" / "EST."
    prose = ("This sentence is fairly long and has many words in it. " * 8).strip()
    for part in split_post(prose)[:-1]:
        assert part.rsplit(" (", 1)[0].endswith(".")  # ends after a sentence

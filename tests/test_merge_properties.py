"""Properties of the record merge (hypothesis): commutative on timelines, idempotent, nothing lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml.comments import CommentedMap

from incidentctl.merge import merge_records
from incidentctl.model import Delivery, Entry, Incident
from incidentctl.records.codec import merge_into, rt_dump
from incidentctl.store import FLOW_KEYS

START = datetime(2024, 12, 12, tzinfo=UTC)
CHANNELS = ("slack", "x", "statuspage")

messages = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff\u2028\u2029\x85"),
    max_size=40,
).map(str.strip)
offsets = st.integers(min_value=1, max_value=6 * 3600)
deliveries = st.dictionaries(
    st.sampled_from(CHANNELS),
    st.one_of(
        st.just(Delivery()),
        st.builds(lambda n: Delivery(state="failed", attempts=n, error="503"), st.integers(1, 5)),
        st.builds(lambda ref: Delivery(state="delivered", ref=ref, attempts=1), st.sampled_from(["1.1", "2.2", "3.3"])),
    ),
    max_size=3,
)


@st.composite
def entries(draw: st.DrawFn) -> Entry:
    return Entry(
        at=START + timedelta(seconds=draw(offsets)),
        status=draw(st.sampled_from(["investigating", "identified", "monitoring"])),
        message=draw(messages),
        visibility=draw(st.sampled_from(["public", "public", "internal"])),
        deliveries=draw(deliveries),
    )


def tag(entry: Entry, suffix: str) -> Entry:
    return entry.model_copy(update={"message": f"{entry.message} [{suffix}]".strip()})


def record_text(incident: Incident) -> str:
    return rt_dump(merge_into(CommentedMap(), incident.to_record(), FLOW_KEYS))


def incident(timeline: list[Entry]) -> Incident:
    ordered = sorted(timeline, key=lambda item: item.at)
    return Incident(id="2024-12-12-api-down", title="API down", severity="sev1", timeline=ordered)


def advance(entry: Entry, draw: st.DrawFn) -> Entry:
    """What a clone may do to an existing entry: deliver it, fail it, retry it."""
    changed = dict(entry.deliveries)
    for channel in draw(st.lists(st.sampled_from(CHANNELS), max_size=2, unique=True)):
        changed[channel] = draw(
            st.sampled_from(
                [
                    Delivery(state="delivered", ref=f"{channel}-ref", attempts=1),
                    Delivery(state="failed", attempts=2, error="429"),
                ]
            )
        )
    return entry.model_copy(update={"deliveries": changed})


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[str, str, str]:
    first = Entry(at=START, status="investigating", message="We are investigating.", deliveries={"slack": Delivery()})
    # An entry is its time and text: two different entries never share both (a suffix keeps them apart).
    base = [first, *(tag(item, f"b{n}") for n, item in enumerate(draw(st.lists(entries(), max_size=3))))]
    sides = []
    for side in ("o", "t"):
        kept = [advance(item, draw) if draw(st.booleans()) else item for item in base]
        sides.append(kept + [tag(item, f"{side}{n}") for n, item in enumerate(draw(st.lists(entries(), max_size=4)))])
    return record_text(incident(base)), record_text(incident(sides[0])), record_text(incident(sides[1]))


def timeline(text: str) -> list[Any]:
    return yaml.safe_load(text)["timeline"]  # type: ignore[no-any-return]


def identity(item: dict[str, Any]) -> tuple[Any, ...]:
    return (item["at"], item.get("message", ""), item["status"], item.get("visibility", "public"))


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(scenarios())
def test_merge_is_commutative_on_timelines(scenario: tuple[str, str, str]) -> None:
    base, ours, theirs = scenario
    one, other = merge_records(base, ours, theirs), merge_records(base, theirs, ours)
    assert one.clean and other.clean, (one.conflicts, other.conflicts)
    assert timeline(one.text) == timeline(other.text)


@PROPERTY
@given(scenarios())
def test_merge_is_idempotent(scenario: tuple[str, str, str]) -> None:
    base, ours, theirs = scenario
    assert merge_records(ours, ours, ours).text == ours
    assert merge_records(base, ours, ours).text == ours
    merged = merge_records(base, ours, theirs).text
    # Merging the result again with either side changes nothing.
    assert timeline(merge_records(base, merged, theirs).text) == timeline(merged)
    assert timeline(merge_records(ours, merged, ours).text) == timeline(merged)


@PROPERTY
@given(scenarios())
def test_merge_loses_nothing_and_never_doubles_a_delivery(scenario: tuple[str, str, str]) -> None:
    base, ours, theirs = scenario
    result = merge_records(base, ours, theirs)
    merged = timeline(result.text)
    assert [item["at"] for item in merged] == sorted(item["at"] for item in merged)
    merged_ids = [identity(item) for item in merged]
    for side in (ours, theirs):
        for item in timeline(side):
            assert identity(item) in merged_ids
    # Nothing invented.
    assert set(merged_ids) == {identity(item) for side in (ours, theirs) for item in timeline(side)}
    for item in merged:
        seen = [
            e.get("deliveries", {}) for side in (ours, theirs) for e in timeline(side) if identity(e) == identity(item)
        ]
        for channel, delivery in item.get("deliveries", {}).items():
            refs = {side[channel].get("ref") for side in seen if side.get(channel, {}).get("state") == "delivered"}
            if refs:  # delivered somewhere: delivered here, with exactly one of those refs
                assert delivery["state"] == "delivered" and delivery["ref"] in refs
    Incident.model_validate(yaml.safe_load(result.text))

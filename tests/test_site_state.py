"""The shared state a rebuild keeps (site/state.py): changed row by row, it must equal the state made
afresh from every summary, whatever changes (adds, deletes, edits moving a record in either order,
a component's latest update taken away, ``now`` moving on), and the summaries it keeps encoded must
read back as they were."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from incidentctl.config import Config
from incidentctl.model import Entry, Incident
from incidentctl.site.state import Ordered, SharedState, ViewTable, decode, encode, finder, stamps_of, timely
from incidentctl.site.summary import IncidentView, describe_incident, micros

BASE = datetime(2024, 1, 1, tzinfo=UTC)
CONFIG = Config.model_validate(
    {"organization": "Example", "components": [{"id": cid, "name": cid.upper()} for cid in ("api", "web", "db")]}
)


def summary(rng: random.Random, number: int, version: int) -> IncidentView:
    start = BASE + timedelta(hours=rng.randint(0, 24 * 200))
    entries = []
    at = start
    for step in range(rng.randint(1, 4)):
        cid = rng.choice(("api", "web", "db", "cdn"))  # cdn: a component the config does not know
        entries.append(Entry(at=at, status="investigating", message=f"{step}", components={cid: "major_outage"}))
        at += timedelta(minutes=rng.randint(1, 600))
    if rng.random() < 0.8:
        entries.append(Entry(at=at, status="resolved", message="Fixed."))
    incident = Incident(id=f"2024-01-01-i{number}", title=f"I{number}", severity="sev2", timeline=entries)
    return describe_incident(CONFIG, incident, f"stamp-{number}-{version}")


def same_state(kept: SharedState, fresh: SharedState) -> None:
    assert kept.by_start == fresh.by_start
    assert kept.by_last == fresh.by_last
    assert {cid: ids for cid, ids in kept.touching.items() if ids} == fresh.touching
    assert kept.named == fresh.named
    assert kept.updated == fresh.updated
    assert kept.live == fresh.live
    assert kept.cutoff == fresh.cutoff


def test_state_changed_row_by_row_equals_the_state_made_afresh() -> None:
    rng = random.Random(7)
    views = {view.id: view for view in (summary(rng, number, 0) for number in range(120))}
    cutoff = micros(BASE + timedelta(days=60))
    table = ViewTable({view.id: (view.stamp, encode(view)) for view in views.values()})
    state = SharedState.made_from(table.values(), cutoff)
    same_state(state, SharedState.made_from(views.values(), cutoff))
    for round_number in range(1, 40):
        table = ViewTable({view.id: (view.stamp, encode(view)) for view in views.values()})
        old: dict[str, IncidentView] = {}
        new: list[IncidentView] = []
        for _ in range(rng.randint(1, 6)):
            incident_id = rng.choice(sorted(views))
            action = rng.random()
            if incident_id in old:
                continue
            old[incident_id] = views[incident_id]
            table.pop(incident_id)
            if action < 0.25:
                del views[incident_id]  # deleted (or nothing public any more)
                continue
            number = int(incident_id.rsplit("i", 1)[1])
            made = summary(rng, number, round_number)  # another start, last update, components
            views[incident_id] = table[incident_id] = made
            new.append(made)
        for number in range(rng.randint(0, 2)):  # added
            made = summary(rng, 1000 + round_number * 10 + number, 0)
            views[made.id] = table[made.id] = made
            new.append(made)
        # the state round trips through its cached form, as between two builds
        state = SharedState.from_data(state.to_data()) or SharedState.made_from([], 0)
        assert state.apply(table, old, new)
        assert state.holds(table)
        cutoff += rng.randint(0, 3) * 86_400_000_000  # now moves on (never back: the caller makes it afresh)
        assert state.move_cutoff(table, cutoff)
        same_state(state, SharedState.made_from(views.values(), cutoff))
    assert not state.move_cutoff(table, cutoff - 1), "an earlier window: made afresh by the caller"


def test_a_state_not_matching_the_rows_is_refused() -> None:
    rng = random.Random(3)
    views = [summary(rng, number, 0) for number in range(10)]
    table = ViewTable({view.id: (view.stamp, encode(view)) for view in views})
    state = SharedState.made_from(views, 0)
    stranger = summary(rng, 99, 0)
    assert not state.apply(table, {stranger.id: stranger}, [])
    assert SharedState.from_data(("another", 1)) is None
    assert SharedState.from_data(None) is None


def test_encoded_summaries_read_back_and_are_decoded_only_when_read() -> None:
    rng = random.Random(5)
    views = [summary(rng, number, 0) for number in range(20)]
    table = ViewTable({view.id: (view.stamp, encode(view)) for view in views})
    ordered = Ordered(sorted(table.ids()), table)
    assert not table.made
    assert stamps_of(ordered) == [table.stamp(incident_id) for incident_id in sorted(table.ids())]
    assert not table.made, "stamps come without decoding"
    assert ordered[3] == {view.id: view for view in views}[ordered.ids[3]]
    assert list(ordered[2:5]) == [finder(views)(incident_id) for incident_id in ordered.ids[2:5]]
    assert list(reversed(ordered)) == list(ordered)[::-1]
    assert len(table.made) == len(views)
    assert [table.blob(view.id) for view in views] == [encode(view) for view in views]
    for view in views:  # the first byte: does the page key name now (open or maintenance), read undecoded
        assert decode(encode(view), view.stamp) == view
        assert timely(encode(view)) == (view.is_open or view.is_maintenance)
    assert any(view.is_open for view in views) and not all(view.is_open for view in views)

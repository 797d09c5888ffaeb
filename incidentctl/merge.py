"""Semantic three-way merge of incident records: the library behind ``incidentctl merge-driver``.

Several responders update the same incident from their own clones; git asks this module to merge
two versions of a record that grew apart from a common ancestor. Rules:

- timelines are merged as a union ordered by time (an entry is identified by its ``at`` and text;
  an entry whose text changed is still the same entry when its ``at`` did not change);
- deliveries are merged per channel: ``delivered`` wins over everything, then a claim (of two
  claims the earlier ``at`` wins, then the claimant's name: deterministic), then ``failed`` over
  ``pending``; an entry never ends up with two remote refs (if two clones both posted it, the
  earlier post is kept);
- ``title``, ``severity``, ``commander`` and ``sample`` are last-writer-wins by entry time;
- a genuine conflict (both sides edited the same entry's text, or anything else both sides changed
  differently) is reported, never guessed.

The result keeps "ours" as the document (its comments and formatting survive); entries that only
"theirs" has come with their own comments.
"""

from __future__ import annotations

import heapq
import itertools
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from .errors import RecordError
from .records.codec import atomic_write, merge_into, rt_dump, rt_load
from .records.validate import check_bytes_parsed, record_problems
from .store import FLOW_KEYS

#: Top-level scalar fields settled by "last writer wins": the side with the later entry.
LAST_WRITER_WINS = ("title", "severity", "commander", "sample")
_DELIVERY_RANK = {"pending": 0, "failed": 1, "delivered": 2}
_DELIVERED = "delivered"


class _Missing:
    """A key absent from one version (distinct from an explicit ``null``)."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


@dataclass
class MergeResult:
    """The merged record text, plus genuine conflicts (empty when clean) and remarks for the user."""

    text: str
    conflicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.conflicts


# -- helpers ----------------------------------------------------------------------------------------


def _normalize(value: Any) -> Any:
    """Plain data with every aware timestamp in UTC, so equal instants compare equal."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo is not None else value
    if isinstance(value, dict):
        return {key: _normalize(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalize(item) for item in value]
    return value


def canonical(value: Any) -> str:
    """A stable text form of plain YAML data, for equality and deterministic tie-breaks."""
    if value is MISSING:
        return "\x00missing"
    if isinstance(value, dict):
        items = sorted((str(key), canonical(item)) for key, item in value.items())
        return "{" + ",".join(f"{key!r}:{item}" for key, item in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(canonical(item) for item in value) + "]"
    if isinstance(value, datetime | date):
        return f"t:{value.isoformat()}"
    return f"{type(value).__name__}:{value!r}"


def _same(a: Any, b: Any) -> bool:
    return canonical(a) == canonical(b)


def _three_way(base: Any, ours: Any, theirs: Any) -> tuple[Any, bool]:
    """The usual rule: whoever changed it wins; both changed it the same way is fine."""
    if _same(ours, theirs):
        return ours, True
    if _same(ours, base):
        return theirs, True
    if _same(theirs, base):
        return ours, True
    return ours, False


def _short(value: Any, limit: int = 60) -> str:
    if value is MISSING:
        return "(removed)"
    text = " ".join(str(value).split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _ordered_union(*keysets: Any) -> list[Any]:
    seen: dict[Any, None] = {}
    for keys in keysets:
        for key in keys:
            seen.setdefault(key, None)
    return list(seen)


def _load(text: str, label: str) -> dict[str, Any] | None:
    """Plain, validated data of one version; ``None`` for an empty version (no common ancestor)."""
    if not text.strip():
        return None
    _incident, data, problems = check_bytes_parsed(text.encode("utf-8", "surrogatepass"), label, None)
    if data is not None and not isinstance(data, dict):
        raise RecordError(f"{label}: not an incident record (expected a mapping)")
    if problems:
        raise RecordError(problems[0])
    return dict(_normalize(data))


# -- entries and deliveries -------------------------------------------------------------------------


def _entry_key(entry: dict[str, Any]) -> tuple[str, str]:
    return canonical(entry.get("at")), str(entry.get("message", ""))


def _pair(base: list[dict[str, Any]], side: list[dict[str, Any]]) -> dict[int, int]:
    """Match base entries to one side's entries: same time and text first, then same time (an edit)."""
    pairs: dict[int, int] = {}
    by_key: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, entry in enumerate(side):
        by_key[_entry_key(entry)].append(index)
    for index, entry in enumerate(base):
        candidates = by_key.get(_entry_key(entry))
        if candidates:
            pairs[index] = candidates.pop(0)
    used = set(pairs.values())
    by_time: dict[str, list[int]] = defaultdict(list)
    for index, entry in enumerate(side):
        if index not in used:
            by_time[canonical(entry.get("at"))].append(index)
    for index, entry in enumerate(base):
        if index not in pairs:
            candidates = by_time.get(canonical(entry.get("at")))
            if candidates:
                pairs[index] = candidates.pop(0)
    return pairs


def merge_delivery(a: dict[str, Any], b: dict[str, Any], notes: list[str], where: str) -> dict[str, Any]:
    """One channel's delivery from two versions: delivered wins, never two refs (commutative)."""
    rank_a, rank_b = (_DELIVERY_RANK.get(str(d.get("state", "pending")), 0) for d in (a, b))
    if rank_a == rank_b == _DELIVERY_RANK["delivered"] and a.get("ref") != b.get("ref"):
        # Both clones posted it: keep the earlier post so later entries thread under one message.
        winner = min((a, b), key=lambda d: (canonical(d.get("at") or datetime.max.replace(tzinfo=UTC)), canonical(d)))
        notes.append(f"{where}: delivered twice (refs {a.get('ref')} and {b.get('ref')}); kept {winner.get('ref')}")
    elif _DELIVERY_RANK["delivered"] in (rank_a, rank_b):
        winner = a if rank_a > rank_b else b  # delivered beats any claim
    elif isinstance(a.get("claim"), dict) or isinstance(b.get("claim"), dict):
        # Two clones' claims (or a claim and a released one): the earlier claim holds, whoever
        # merges; a delivery without a claim (released after a failure) yields to a live one.
        winner = min((a, b), key=_claim_order)
    elif rank_a != rank_b:
        winner = a if rank_a > rank_b else b
    else:
        winner = max((a, b), key=lambda d: (canonical(d.get("at")) if d.get("at") else "", canonical(d)))
    merged = dict(winner)
    attempts = [int(d["attempts"]) for d in (a, b) if isinstance(d.get("attempts"), int)]
    if attempts and max(attempts) > 0:
        merged["attempts"] = max(attempts)
    return merged


def _claim_order(delivery: dict[str, Any]) -> tuple[int, str, str, str]:
    claim = delivery.get("claim")
    if not isinstance(claim, dict):
        return (1, "", "", canonical(delivery))
    return (0, canonical(claim.get("at")), str(claim.get("by", "")), canonical(delivery))


def _merge_deliveries(base: Any, ours: Any, theirs: Any, notes: list[str], where: str) -> Any:
    if ours is MISSING and theirs is MISSING:
        return MISSING
    base_map = base if isinstance(base, dict) else {}
    ours_map = ours if isinstance(ours, dict) else {}
    theirs_map = theirs if isinstance(theirs, dict) else {}
    merged: dict[str, Any] = {}
    for channel in _ordered_union(ours_map, theirs_map):
        mine, other = ours_map.get(channel), theirs_map.get(channel)
        if mine is None or other is None:
            present = mine if mine is not None else other
            if channel in base_map and _same(present, base_map[channel]):
                continue  # removed on one side, untouched on the other
            merged[channel] = present
        elif (
            _DELIVERED not in (mine.get("state"), other.get("state"))
            and channel in base_map
            and _same(mine, base_map[channel])
        ):
            merged[channel] = other  # only their side changed it (e.g. a claim released after a failure)
        elif (
            _DELIVERED not in (mine.get("state"), other.get("state"))
            and channel in base_map
            and _same(other, base_map[channel])
        ):
            merged[channel] = mine
        else:
            merged[channel] = merge_delivery(mine, other, notes, f"{where}, {channel}")
    return merged


def _merge_entry(
    base: dict[str, Any] | None, ours: dict[str, Any], theirs: dict[str, Any], conflicts: list[str], notes: list[str]
) -> dict[str, Any]:
    where = f"timeline entry at {_when(ours)}"
    base = base or {}
    merged: dict[str, Any] = {}
    for key in _ordered_union(ours, theirs):
        b, o, t = base.get(key, MISSING), ours.get(key, MISSING), theirs.get(key, MISSING)
        if key == "deliveries":
            value = _merge_deliveries(b, o, t, notes, where)
        else:
            value, clean = _three_way(b, o, t)
            if not clean:
                what = "text" if key == "message" else repr(key)
                conflicts.append(f"{where}: both sides edited the entry's {what} ({_short(o)} vs {_short(t)})")
        if value is not MISSING:
            merged[key] = value
    return merged


def _when(entry: dict[str, Any]) -> str:
    at = entry.get("at")
    return at.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(at, datetime) else str(at)


@dataclass
class _Placed:
    entry: dict[str, Any]
    side: str  # where the YAML node comes from: "ours" or "theirs"
    index: int


def merge_timelines(
    base: list[dict[str, Any]],
    ours: list[dict[str, Any]],
    theirs: list[dict[str, Any]],
    conflicts: list[str],
    notes: list[str],
) -> list[_Placed]:
    """Union of both timelines in time order.

    Entries at the same second keep each side's order; between the sides, ties go by content, so
    the result never depends on which side is "ours" and merging it again changes nothing.
    """
    nodes: dict[int, _Placed] = {}
    ours_node: dict[int, int] = {}  # index in ours -> node id
    theirs_node: dict[int, int] = {}
    to_ours, to_theirs = _pair(base, ours), _pair(base, theirs)
    for index, entry in enumerate(base):
        mine = ours[to_ours[index]] if index in to_ours else None
        other = theirs[to_theirs[index]] if index in to_theirs else None
        if mine is None or other is None:
            present = mine if mine is not None else other
            if present is not None and not _same(present, entry):
                conflicts.append(f"timeline entry at {_when(entry)}: deleted on one side and changed on the other")
            continue
        node = len(nodes)
        nodes[node] = _Placed(_merge_entry(entry, mine, other, conflicts, notes), "ours", to_ours[index])
        ours_node[to_ours[index]], theirs_node[to_theirs[index]] = node, node

    matched_ours, matched_theirs = set(to_ours.values()), set(to_theirs.values())
    theirs_new: dict[tuple[str, str], list[int]] = defaultdict(list)
    for j in range(len(theirs)):
        if j not in matched_theirs:
            theirs_new[_entry_key(theirs[j])].append(j)
    for i in range(len(ours)):
        if i in matched_ours:
            continue
        node = len(nodes)
        candidates = theirs_new.get(_entry_key(ours[i]))
        if candidates:  # the same new entry on both sides (e.g. one clone already has the other's commit)
            j = candidates.pop(0)
            nodes[node] = _Placed(_merge_entry(None, ours[i], theirs[j], conflicts, notes), "ours", i)
            theirs_node[j] = node
        else:
            nodes[node] = _Placed(dict(ours[i]), "ours", i)
        ours_node[i] = node
    for j in range(len(theirs)):
        if j not in theirs_node and j not in matched_theirs:
            node = len(nodes)
            nodes[node] = _Placed(dict(theirs[j]), "theirs", j)
            theirs_node[j] = node
    return [nodes[node] for node in _merge_orders(nodes, ours_node, theirs_node)]


def _merge_orders(nodes: dict[int, _Placed], *orders: dict[int, int]) -> list[int]:
    """A topological order of both sides' orders; among entries that are free to go next, the
    earliest time first, then content (symmetric, so the merge is commutative)."""

    successors: dict[int, set[int]] = defaultdict(set)
    waiting: dict[int, int] = dict.fromkeys(nodes, 0)
    for order in orders:
        sequence = [order[index] for index in sorted(order)]
        for before, after in itertools.pairwise(sequence):
            if after not in successors[before] and before != after:
                successors[before].add(after)
                waiting[after] += 1

    def rank(node: int) -> tuple[Any, str, int]:
        entry = nodes[node].entry
        return entry["at"], canonical({k: v for k, v in entry.items() if k != "deliveries"}), node

    ready = [rank(node) for node, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    result: list[int] = []
    done: set[int] = set()
    while len(result) < len(nodes):
        if not ready:  # the sides disagree on an order (a cycle): fall back to time and content
            heapq.heappush(ready, min(rank(node) for node in nodes if node not in done))
        node = heapq.heappop(ready)[2]
        if node in done:
            continue
        done.add(node)
        result.append(node)
        for after in successors[node]:
            waiting[after] -= 1
            if waiting[after] == 0 and after not in done:
                heapq.heappush(ready, rank(after))
    return result


# -- the rest of the record --------------------------------------------------------------------------


def _merge_value(base: Any, ours: Any, theirs: Any, path: str, conflicts: list[str], later_wins: bool = False) -> Any:
    """Generic three-way merge: mappings key by key, lists as a union, scalars must not clash."""
    value, clean = _three_way(base, ours, theirs)
    if clean:
        return value
    if isinstance(ours, dict) and isinstance(theirs, dict):
        base_map = base if isinstance(base, dict) else {}
        merged = {}
        for key in _ordered_union(ours, theirs):
            item = _merge_value(
                base_map.get(key, MISSING),
                ours.get(key, MISSING),
                theirs.get(key, MISSING),
                f"{path}.{key}",
                conflicts,
                later_wins,
            )
            if item is not MISSING:
                merged[key] = item
        return merged
    if isinstance(ours, list) and isinstance(theirs, list):
        base_items = {canonical(item) for item in base} if isinstance(base, list) else set()
        theirs_items = {canonical(item) for item in theirs}
        dropped_by_theirs = base_items - theirs_items
        result = [item for item in ours if canonical(item) not in dropped_by_theirs]
        present = {canonical(item) for item in result}
        for item in theirs:
            key = canonical(item)
            if key not in present and key not in base_items:
                result.append(item)
                present.add(key)
        return result
    if later_wins and isinstance(ours, datetime) and isinstance(theirs, datetime):
        return max(ours, theirs)
    conflicts.append(f"{path}: both sides changed it ({_short(ours)} vs {_short(theirs)})")
    return ours


def _latest(data: dict[str, Any]) -> Any:
    times = [entry["at"] for entry in data.get("timeline", []) if isinstance(entry, dict) and "at" in entry]
    return max(times) if times else datetime.min.replace(tzinfo=UTC)


def merge_data(
    base: dict[str, Any] | None, ours: dict[str, Any], theirs: dict[str, Any]
) -> tuple[dict[str, Any], list[_Placed], list[str], list[str]]:
    """Merge plain record data; returns (merged data, placed timeline, conflicts, notes)."""
    conflicts: list[str] = []
    notes: list[str] = []
    base = base or {}
    merged: dict[str, Any] = {}
    placed: list[_Placed] = []
    for key in _ordered_union(ours, theirs, base):
        b, o, t = base.get(key, MISSING), ours.get(key, MISSING), theirs.get(key, MISSING)
        if key == "timeline":
            placed = merge_timelines(b if isinstance(b, list) else [], o, t, conflicts, notes)
            value: Any = [item.entry for item in placed]
        elif key in LAST_WRITER_WINS:
            value, clean = _three_way(b, o, t)
            if not clean:
                later_ours, later_theirs = _latest(ours), _latest(theirs)
                if later_ours != later_theirs:
                    value = o if later_ours > later_theirs else t
                else:
                    value = max((o, t), key=canonical)
                notes.append(f"{key}: both sides changed it; kept {_short(value)} (the later update)")
        else:
            value = _merge_value(b, o, t, key, conflicts, later_wins=key == "reminders")
        if value is not MISSING:
            merged[key] = value
    return merged, placed, conflicts, notes


# -- documents -----------------------------------------------------------------------------------------


def merge_records(base_text: str, ours_text: str, theirs_text: str) -> MergeResult:
    """Merge two versions of one record against their common ancestor (``base_text`` may be empty).

    The returned text keeps the comments and formatting of ``ours_text``. When the versions cannot
    be merged semantically (invalid YAML, or a genuine conflict) ``conflicts`` says why and
    ``text`` is ``ours_text`` unchanged.
    """

    try:
        base = _load(base_text, "base version")
        ours = _load(ours_text, "our version")
        theirs = _load(theirs_text, "their version")
    except RecordError as exc:
        return MergeResult(ours_text, [f"cannot merge semantically: {exc}"])
    if ours is None or theirs is None:
        return MergeResult(ours_text, ["cannot merge semantically: one version is empty"])
    merged, placed, conflicts, notes = merge_data(base, ours, theirs)
    if conflicts:
        return MergeResult(ours_text, conflicts, notes)

    document = rt_load(ours_text)
    theirs_document = rt_load(theirs_text)
    for key in [key for key in document if key not in merged]:
        del document[key]
    for position, (key, value) in enumerate(merged.items()):
        if key == "timeline":
            node: Any = _timeline_node(document.get("timeline"), theirs_document["timeline"], placed, FLOW_KEYS)
        elif key in ours and _same(value, ours[key]):
            node = document[key]
        elif key in theirs and _same(value, theirs[key]):
            node = theirs_document[key]
        else:
            node = merge_into(document.get(key), value, FLOW_KEYS)
        if key in document:
            document[key] = node
        else:
            document.insert(min(position, len(document)), key, node)
    text = rt_dump(document)
    _incident, problems = record_problems(text, "merged version", None)
    if problems:
        return MergeResult(ours_text, [f"the merged record would be invalid: {problems[0]}"], notes)
    return MergeResult(text, [], notes)


def _timeline_node(ours_seq: Any, theirs_seq: Any, placed: list[_Placed], flow_keys: frozenset[str]) -> Any:
    from ruamel.yaml.comments import CommentedSeq

    nodes = []
    for item in placed:
        node = (ours_seq if item.side == "ours" else theirs_seq)[item.index]
        if item.side == "ours" and not _has_comments(node):
            # A comment added on their side to a shared entry survives when ours has none there.
            twin = _twin(theirs_seq, node)
            if twin is not None and _has_comments(twin):
                node = twin
        nodes.append(merge_into(node, item.entry, flow_keys))
    if isinstance(ours_seq, CommentedSeq):
        # Keep the sequence object itself (and the comments attached to it).
        del ours_seq[:]
        ours_seq.extend(nodes)
        return ours_seq
    return CommentedSeq(nodes)


def _has_comments(node: Any) -> bool:
    comments = getattr(node, "ca", None)
    if comments is not None and (comments.comment or any(comments.items.values())):
        return True
    if isinstance(node, dict):
        return any(_has_comments(value) for value in node.values())
    if isinstance(node, list):
        return any(_has_comments(value) for value in node)
    return False


def _twin(seq: Any, node: Any) -> Any:
    """The entry in ``seq`` with the same time as ``node`` (the same entry on the other side)."""
    matches = [
        other
        for other in seq
        if isinstance(other, dict) and _same(_normalize(other.get("at")), _normalize(node.get("at")))
    ]
    return matches[0] if len(matches) == 1 else None


# -- files (what git hands the merge driver) ------------------------------------------------------


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except UnicodeDecodeError:
        return "\x00not utf-8"
    except OSError as exc:
        raise RecordError(f"{path}: cannot read: {exc.strerror}") from None


def merge_files(base: Path, ours: Path, theirs: Path, label: str) -> MergeResult:
    """Run the merge the way git's merge driver protocol wants it: the result replaces ``ours``.

    On a genuine conflict ``ours`` gets git's usual conflict markers (``git merge-file``) so the
    user resolves it like any other conflict.
    """
    result = merge_records(_read(base), _read(ours), _read(theirs))
    if result.clean:
        atomic_write(ours, result.text)
        return result
    subprocess.run(
        [
            "git",
            "merge-file",
            "-L",
            f"{label} (ours)",
            "-L",
            f"{label} (base)",
            "-L",
            f"{label} (theirs)",
            str(ours),
            str(base),
            str(theirs),
        ],
        check=False,
        capture_output=True,
    )
    return result

"""The incident record: ``Incident`` → ``Entry`` → ``Delivery``, validated with pydantic.

A record is the single source of truth. Everything the tool shows (current status, affected
components, when it started and ended) is derived from the timeline, so nothing can drift.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)

from .durations import isoformat_z
from .vocabulary import FINISHED_STATUSES, IMPACT_RANK, MAINTENANCE_ACTIVE, Impact, Kind, Status, statuses_of
from .vocabulary import IMPACTS as IMPACTS  # re-exported: the record's allowed values
from .vocabulary import STATUSES as STATUSES

SCHEMA_VERSION = 1
#: The longest title (characters).
TITLE_MAX = 500
#: The longest message of one entry (characters), and the largest record a write may produce (bytes):
#: far below what a reader refuses (``records.codec.MAX_RECORD_BYTES``), so every record written stays readable.
MESSAGE_MAX = 64 * 1024
RECORD_MAX_BYTES = 1024 * 1024

Visibility = Literal["public", "internal"]
DeliveryState = Literal["pending", "built", "delivered", "failed"]
ActionStatus = Literal["open", "in_progress", "done", "wontfix"]
#: How a public statement was approved (SPEC "Review through git"): ``reviewed`` when it reached the default
#: branch through a merged ``propose/...`` branch, ``bypassed`` when ``--no-review`` skipped a required review.
Review = Literal["reviewed", "bypassed"]
#: What kind of notice an entry is, when it is not an ordinary update: ``reminder`` (a maintenance starts soon),
#: ``rescheduled`` (a maintenance window moved), ``holding`` (no news, written by ``tick`` for an overdue promise).
Notice = Literal["reminder", "rescheduled", "holding"]
#: A maintenance record's ``severity`` (maintenances have none; the field keeps one type for every record).
MAINTENANCE_SEVERITY = "maintenance"
#: Impacts a maintenance may set on its components.
MAINTENANCE_IMPACTS = frozenset({"operational", "under_maintenance"})

#: An incident id. ``\Z``, not ``$``: ``$`` also matches before a trailing newline.
ID_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,118}[a-z0-9])?\Z")

#: The years a record's timestamps may have (SPEC: outside 1970–9999 is refused).
MIN_YEAR, MAX_YEAR = 1970, 9999


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp has no time zone (write it in UTC, e.g. 2024-12-12T00:00:00Z)")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"timestamp year must be between {MIN_YEAR} and {MAX_YEAR}") from None
    if not MIN_YEAR <= utc.year <= MAX_YEAR:
        raise ValueError(f"timestamp year {utc.year} is outside {MIN_YEAR}–{MAX_YEAR} (a typo in the year?)")
    return utc


#: What text entered by users may not hold (SPEC "text hygiene"): C0/C1 controls other than tab and
#: newline, the byte-order mark, and Unicode non-characters.
_UNCLEAN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\ufdd0-\ufdef\ufffe\uffff"
    "\U0001fffe\U0001ffff\U0002fffe\U0002ffff\U0003fffe\U0003ffff\U0004fffe\U0004ffff"
    "\U0005fffe\U0005ffff\U0006fffe\U0006ffff\U0007fffe\U0007ffff\U0008fffe\U0008ffff"
    "\U0009fffe\U0009ffff\U000afffe\U000affff\U000bfffe\U000bffff\U000cfffe\U000cffff"
    "\U000dfffe\U000dffff\U000efffe\U000effff\U000ffffe\U000fffff\U0010fffe\U0010ffff]"
)


def clean_text(value: str) -> str:
    """NFC, without BOM, control characters (tab and newline kept; CRLF becomes LF) or non-characters."""
    if value.isascii():
        if value.isprintable() or not _UNCLEAN.search(value.replace("\r\n", "\n")):
            return value if "\r" not in value else value.replace("\r\n", "\n")
        return _UNCLEAN.sub("", value.replace("\r\n", "\n"))
    text = _UNCLEAN.sub("", value.replace("\r\n", "\n"))
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def is_clean_text(value: str) -> bool:
    return clean_text(value) == value


def _clean(value: Any) -> Any:
    return clean_text(value) if isinstance(value, str) else value


#: User-entered text: cleaned where it enters the model, so hand edits are cleaned on the next write.
Text = Annotated[str, BeforeValidator(_clean)]


def _not_a_number(value: Any) -> Any:
    # pydantic would read `at: 12` as 12 seconds after 1970: a typo, never a time anyone meant.
    if isinstance(value, int | float):
        raise ValueError("expected a timestamp like 2024-12-12T00:00:00Z, not a number")
    return value


def _timestamp(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """``_not_a_number``, pydantic's datetime validation, then ``_aware_utc``: one Python call per field.

    A record's timestamps are read as UTC datetimes already (in range: nothing to do); anything else
    takes the full path, with the same errors as before.
    """
    if type(value) is datetime and value.tzinfo is UTC and MIN_YEAR <= value.year <= MAX_YEAR:
        return value  # what the full path gives: astimezone(UTC) of a UTC datetime is the datetime itself
    return _aware_utc(handler(_not_a_number(value)))


AwareDatetime = Annotated[datetime, WrapValidator(_timestamp)]


def check_id(value: str) -> str:
    """Validate an incident id: ``[a-z0-9-]``, never a path, never empty."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise ValueError(f"invalid incident id {value!r}: use lowercase letters, digits and '-' only")
    return value


class _Model(BaseModel):
    # defer_build: the schemas are built on first use, so commands that never validate a record
    # (`--help`, `list` from its cache) do not pay for them at start-up.
    model_config = ConfigDict(extra="forbid", validate_assignment=False, populate_by_name=True, defer_build=True)


class Claim(_Model):
    """Who is sending one entry on one channel (``git.push`` on): pushed before the send, so the
    remote decides which clone sends (see ``incidentctl.delivery.claims``)."""

    by: str = Field(min_length=1)
    """``<clone id> <user>@<host>``: the clone id (kept under ``.git/incidentctl/``) comes first."""
    at: AwareDatetime

    @property
    def clone(self) -> str:
        return self.by.split(" ", 1)[0]


class Delivery(_Model):
    """What happened to one entry on one channel."""

    state: DeliveryState = "pending"
    ref: str | None = None
    """Remote id of the message that represents this entry (Slack ``ts``, the X post id of the last part)."""
    refs: list[str] = Field(default_factory=list)
    """Every remote id when one entry became several posts (an X thread)."""
    parts: list[str] = Field(default_factory=list)
    """The text as first sent (X: each post of the thread), kept so a retry resends exactly that."""
    attempts: int = Field(default=0, ge=0)
    error: str | None = None
    at: AwareDatetime | None = None
    """When the last attempt finished (or started, while ``pending``)."""
    claim: Claim | None = None
    """The clone that claimed this send (pushed before sending); cleared when a send fails."""
    interrupted: bool = False
    """A send was cut off (the process died mid-send) on a channel that cannot be asked whether it landed:
    never resent on its own; ``publish --resend-interrupted`` / ``--mark-interrupted-sent`` settle it."""

    @field_validator("ref", mode="before")
    @classmethod
    def _ref_as_text(cls, value: Any) -> Any:
        # Slack ts values look like floats; a hand-edited file may drop the quotes.
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class Entry(_Model):
    """One item of the timeline."""

    at: AwareDatetime
    status: Status
    message: Text = ""
    visibility: Visibility = "public"
    components: dict[str, Impact] = Field(default_factory=dict)
    next_update_by: AwareDatetime | None = None
    no_next_update: bool = False
    """``--no-next-update``: this public entry deliberately promises nothing (no default promise)."""
    author: Text | None = None
    automatic: bool = False
    """Written by ``tick`` (an automatic start/completion, a maintenance reminder, a holding update), not a person."""
    imported: bool = False
    """Brought in by ``import`` (an update already published by the old tool): history, not sent again (see
    :func:`incidentctl.delivery.plan.channel_view`)."""
    notice: Notice | None = None
    reminder_before: str | None = None
    """On a maintenance ``reminder`` notice: which ``remind_before`` lead (e.g. ``24h``) it answers, so it is sent once."""
    scheduled_for: AwareDatetime | None = None
    """On a maintenance's first entry and on every entry that moved its window: the window it announced."""
    scheduled_until: AwareDatetime | None = None
    review: Review | None = None
    review_by: Text | None = None
    """Who bypassed the review (``--no-review``), or who proposed the reviewed statement."""
    deliveries: dict[str, Delivery] = Field(default_factory=dict)

    @property
    def public(self) -> bool:
        return self.visibility == "public"


class ActionItem(_Model):
    title: Text
    owner: Text | None = None
    due: date | None = None
    url: str | None = None
    status: ActionStatus = "open"


class Lessons(_Model):
    went_well: list[Text] = Field(default_factory=list)
    went_wrong: list[Text] = Field(default_factory=list)
    lucky: list[Text] = Field(default_factory=list)


class Postmortem(_Model):
    """The postmortem's own fields, written by hand or started with ``postmortem ID --init``."""

    public: bool = False
    public_summary: Text | None = None
    summary: Text | None = None
    impact: Text | None = None
    root_causes: list[Text] = Field(default_factory=list)
    trigger: Text | None = None
    detection: Text | None = None
    resolution: Text | None = None
    lessons: Lessons = Field(default_factory=Lessons)
    action_items: list[ActionItem] = Field(default_factory=list)
    authors: list[Text] = Field(default_factory=list)
    published_at: AwareDatetime | None = None


#: Postmortem fields that must be filled in before the postmortem counts as written.
REQUIRED_POSTMORTEM_FIELDS: tuple[str, ...] = (
    "summary",
    "impact",
    "root_causes",
    "trigger",
    "detection",
    "resolution",
    "action_items",
)


def missing_postmortem_fields(postmortem: Postmortem | None) -> list[str]:
    """The required postmortem fields still empty (every one when there is no postmortem)."""
    if postmortem is None:
        return list(REQUIRED_POSTMORTEM_FIELDS)
    missing = []
    for name in REQUIRED_POSTMORTEM_FIELDS:
        value = getattr(postmortem, name)
        if isinstance(value, str):
            value = value.strip()
        if not value:
            missing.append(name)
    return missing


class Reminders(_Model):
    """Noise control for ``remind --notify``."""

    snoozed_until: AwareDatetime | None = None
    notified: dict[str, AwareDatetime] = Field(default_factory=dict)
    """Reminder key (e.g. ``update_due``) → when it was last posted."""


class ImportedFrom(_Model):
    """Where an imported incident came from (``import statuspage``): running the import again skips it."""

    source: str
    """The kind of source, e.g. ``statuspage``."""
    page: str
    """The source page (its Statuspage page id, else its URL)."""
    id: str
    """The incident's id there."""
    url: str | None = None
    """Its link there (Statuspage ``shortlink``), when known."""


class Incident(_Model):
    """One incident: identity, severity and a time-ordered timeline."""

    schema_version: int = Field(default=SCHEMA_VERSION, alias="schema")
    id: Annotated[str, AfterValidator(check_id)]
    kind: Kind = "incident"
    title: Text = Field(min_length=1, max_length=TITLE_MAX)
    severity: str
    """A severity id of ``incidentctl.yaml``; ``maintenance`` (and left out of the file) on a maintenance."""
    scheduled_for: AwareDatetime | None = None
    """Maintenance only: the planned window (its current one; entries that moved it keep the old ones)."""
    scheduled_until: AwareDatetime | None = None
    auto_start: bool = True
    """Maintenance only: ``tick`` starts it at ``scheduled_for``."""
    auto_complete: bool = True
    """Maintenance only: ``tick`` completes it at ``scheduled_until``."""
    counts_as_downtime: bool = False
    """Maintenance only: whether its time under maintenance lowers the uptime figures."""
    commander: Text | None = None
    sample: bool = False
    """Marks a replayed public outage shipped as an example."""
    sources: list[str] = Field(default_factory=list)
    timeline: list[Entry] = Field(min_length=1)
    postmortem: Postmortem | None = None
    reminders: Reminders | None = None
    imported_from: ImportedFrom | None = None

    @model_validator(mode="before")
    @classmethod
    def _maintenance_severity(cls, value: Any) -> Any:
        if isinstance(value, dict) and value.get("kind") == "maintenance" and "severity" not in value:
            return {**value, "severity": MAINTENANCE_SEVERITY}
        return value

    @field_validator("schema_version")
    @classmethod
    def _known_schema(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise ValueError(f"unsupported schema {value} (this incidentctl reads schema {SCHEMA_VERSION})")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Incident:
        for index in range(1, len(self.timeline)):
            if self.timeline[index].at < self.timeline[index - 1].at:
                raise ValueError(
                    f"timeline.{index}.at: entries must be in time order "
                    f"({isoformat_z(self.timeline[index].at)} is before the entry above it)"
                )
        allowed = statuses_of(self.kind)
        for index, entry in enumerate(self.timeline):
            if entry.status not in allowed:
                raise ValueError(
                    f"timeline.{index}.status: {entry.status!r} is not a status of a{'' if self.kind == 'maintenance' else 'n'} "
                    f"{self.kind} (use one of {', '.join(allowed)})"
                )
        if self.kind == "maintenance":
            if self.scheduled_for is None or self.scheduled_until is None:
                raise ValueError("scheduled_for: a maintenance needs scheduled_for and scheduled_until")
            if self.scheduled_until <= self.scheduled_for:
                raise ValueError(
                    f"scheduled_until: {isoformat_z(self.scheduled_until)} is not after scheduled_for "
                    f"({isoformat_z(self.scheduled_for)})"
                )
            for index, entry in enumerate(self.timeline):
                wrong = sorted(c for c, impact in entry.components.items() if impact not in MAINTENANCE_IMPACTS)
                if wrong:
                    raise ValueError(
                        f"timeline.{index}.components: a maintenance sets components to under_maintenance or "
                        f"operational only ({', '.join(wrong)}); open an incident for an outage"
                    )
        elif self.scheduled_for is not None or self.scheduled_until is not None:
            raise ValueError("scheduled_for: only a maintenance (kind: maintenance) has a scheduled window")
        return self

    # -- derived state -------------------------------------------------------------------------

    @property
    def status(self) -> str:
        return self.timeline[-1].status

    @property
    def is_maintenance(self) -> bool:
        return self.kind == "maintenance"

    @property
    def is_open(self) -> bool:
        """Not finished: an incident not resolved; a maintenance scheduled, in progress or verifying."""
        return self.status not in FINISHED_STATUSES

    @property
    def is_active(self) -> bool:
        """A maintenance in progress or verifying (its components are under maintenance)."""
        return self.kind == "maintenance" and self.status in MAINTENANCE_ACTIVE

    @property
    def is_upcoming(self) -> bool:
        """A maintenance still scheduled (not started, not cancelled)."""
        return self.kind == "maintenance" and self.status == "scheduled"

    @property
    def started_at(self) -> datetime:
        return self.timeline[0].at

    @property
    def resolved_at(self) -> datetime | None:
        """When the incident was last resolved (a maintenance completed or cancelled), if it is so now."""
        if self.is_open:
            return None
        for entry in reversed(self.timeline):
            if entry.status not in FINISHED_STATUSES:
                break
            resolved = entry.at
        return resolved

    @property
    def components(self) -> dict[str, str]:
        """Current impact per affected component (every component ever named in the timeline)."""
        current: dict[str, str] = {}
        for entry in self.timeline:
            current.update(entry.components)
        return current

    @property
    def worst_impact(self) -> str:
        """The worst impact any component had during the incident."""
        worst = "operational"
        for entry in self.timeline:
            for impact in entry.components.values():
                if IMPACT_RANK[impact] > IMPACT_RANK[worst]:
                    worst = impact
        return worst

    @property
    def public_entries(self) -> list[Entry]:
        return [entry for entry in self.timeline if entry.public]

    def public_view(self) -> Incident:
        """The incident as the world may see it: internal entries removed, no delivery details.

        Every renderer meant for the public (status page, feeds, X, Slack) works on this view,
        so an internal entry cannot leak by accident.
        """
        entries = [entry.model_copy(update={"deliveries": {}}) for entry in self.timeline if entry.public]
        if not entries:
            # Keep the model valid: an incident with no public entry yet shows as investigating.
            first = "scheduled" if self.kind == "maintenance" else "investigating"
            entries = [Entry(at=self.started_at, status=first, message="")]
        postmortem = self.postmortem if self.postmortem and self.postmortem.public else None
        return self.model_copy(update={"timeline": entries, "postmortem": postmortem, "reminders": None})

    def summary_dict(self) -> dict[str, Any]:
        """The ``list --json`` shape (a maintenance adds its window and automation switches)."""
        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "severity": self.severity,
            "status": self.status,
            "started_at": isoformat_z(self.started_at),
            "resolved_at": isoformat_z(self.resolved_at) if self.resolved_at else None,
            "components": self.components,
            "commander": self.commander,
        }
        if self.kind == "maintenance":
            assert self.scheduled_for is not None and self.scheduled_until is not None
            data.update(
                scheduled_for=isoformat_z(self.scheduled_for),
                scheduled_until=isoformat_z(self.scheduled_until),
                auto_start=self.auto_start,
                auto_complete=self.auto_complete,
                counts_as_downtime=self.counts_as_downtime,
            )
        return data

    def to_json(self) -> dict[str, Any]:
        """The ``show --json`` shape: the summary plus the timeline with deliveries."""
        data = self.summary_dict()
        data["timeline"] = [
            {
                "at": isoformat_z(entry.at),
                "status": entry.status,
                "message": entry.message,
                "visibility": entry.visibility,
                "components": dict(entry.components),
                "next_update_by": isoformat_z(entry.next_update_by) if entry.next_update_by else None,
                "author": entry.author,
                "automatic": entry.automatic,
                "notice": entry.notice,
                "review": entry.review,
                "review_by": entry.review_by,
                **(
                    {
                        "scheduled_for": isoformat_z(entry.scheduled_for),
                        "scheduled_until": isoformat_z(entry.scheduled_until),
                    }
                    if entry.scheduled_for is not None and entry.scheduled_until is not None
                    else {}
                ),
                "deliveries": {
                    channel: {
                        "state": delivery.state,
                        "ref": delivery.ref,
                        "refs": list(delivery.refs),
                        "attempts": delivery.attempts,
                        "error": delivery.error,
                        "at": isoformat_z(delivery.at) if delivery.at else None,
                    }
                    for channel, delivery in entry.deliveries.items()
                },
            }
            for entry in self.timeline
        ]
        if self.postmortem is not None:
            data["postmortem"] = self.postmortem.model_dump(mode="json")
        return data

    def to_record(self) -> dict[str, Any]:
        """The plain data written to YAML: compact (defaults left out), ``schema`` first."""
        data = self.model_dump(mode="python", by_alias=True, exclude_defaults=True)
        data = {"schema": SCHEMA_VERSION, **data}
        if self.kind == "maintenance":
            data["kind"] = "maintenance"
            if data.get("severity") == MAINTENANCE_SEVERITY:
                del data["severity"]
        for raw, entry in zip(data["timeline"], self.timeline, strict=True):
            raw["status"] = entry.status
            raw.setdefault("message", entry.message)
            if entry.components:
                raw["components"] = dict(entry.components)
            for channel, delivery in entry.deliveries.items():
                # Always spell the state out: `{}` would be unreadable for a reviewer.
                raw["deliveries"][channel] = {"state": delivery.state, **raw["deliveries"].get(channel, {})}
        if self.postmortem is not None:
            # Keep every postmortem key the author wrote, even empty ones (the `postmortem --init`
            # placeholders): exclude_defaults would drop them, and their comments, on the next save.
            reminders = data.pop("reminders", None)
            data["postmortem"] = self.postmortem.model_dump(mode="python", exclude_unset=True)
            if reminders is not None:
                data["reminders"] = reminders
        return data


# -- the fast tier of record validation -------------------------------------------------------------
#
# Most of a record's validation time was Python callbacks (per record: ~100 `_timestamp`, ~57
# `_ref_as_text`, ~26 `_clean`), each one a no-op on what the parsers give for a record ruamel wrote:
# UTC datetimes in range, quoted refs, clean text. The fast tier is the same schema with each of those
# callbacks replaced by a pydantic-core check that accepts only inputs the callback leaves unchanged;
# whatever it refuses goes through the full validator, so every error (type, text, location) is the
# full validator's own. `tests/test_model_fast.py` runs valid and invalid inputs through both.

#: Text ``clean_text`` returns unchanged: tab, newline, printable ASCII and some blocks of characters
#: that are never controls or non-characters, all of canonical combining class 0 and NFC quick check
#: "yes" (so any string of them is NFC): Latin-1 to Latin Extended-B, basic Cyrillic, dashes, quotes
#: and other punctuation, currency, arrows and technical symbols, CJK ideographs, zero-width joiner and
#: emoji presentation selector, emoji. Anything else takes the full path (``_clean``).
CLEAN_TEXT_RANGES: tuple[tuple[int, int], ...] = (
    (0x09, 0x0A),
    (0x20, 0x7E),
    (0xA0, 0x24F),
    (0x400, 0x482),
    (0x200D, 0x200D),
    (0x2010, 0x2027),
    (0x2030, 0x205E),
    (0x20A0, 0x20C0),
    (0x2190, 0x2328),
    (0x4E00, 0x9FFF),
    (0xFE0F, 0xFE0F),
    (0x1F300, 0x1FAFF),
)
_CLEAN_TEXT_PATTERN = r"\A[" + "".join(rf"\x{{{a:x}}}-\x{{{b:x}}}" for a, b in CLEAN_TEXT_RANGES) + r"]*\z"

#: A UTC timestamp in range, as the record parsers give it (``tzinfo`` is ``datetime.UTC`` for every
#: zero offset): ``_timestamp`` returns such a value unchanged.
_FAST_TIMESTAMP: dict[str, Any] = {
    "type": "datetime",
    "strict": True,
    "tz_constraint": 0,
    "ge": datetime(MIN_YEAR, 1, 1, tzinfo=UTC),
}


def _callback(schema: dict[str, Any]) -> Any:
    function = schema.get("function")
    if not isinstance(function, dict):
        return None
    return getattr(function.get("function"), "__func__", function.get("function"))


def _fast_schema(node: Any) -> Any:
    """A copy of a core schema with the no-op-on-clean-input callbacks replaced (see above)."""
    if isinstance(node, list):
        return [_fast_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("type") in ("function-wrap", "function-before"):
        callback = _callback(node)
        if callback is _timestamp:
            return dict(_FAST_TIMESTAMP)
        if callback is _clean:
            inner = _fast_schema(node["schema"])
            assert inner.get("type") == "str" and "pattern" not in inner, inner  # Text is a str
            return {**inner, "strict": True, "pattern": _CLEAN_TEXT_PATTERN}
        if callback is Delivery._ref_as_text.__func__:  # type: ignore[attr-defined]
            return _fast_schema(node["schema"])  # a number (the callback's work) is refused: full path
    return {key: _fast_schema(value) for key, value in node.items()}


_FAST_VALIDATOR: Any = None
_FAST_LOCK = threading.Lock()


def schema_nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every mapping in a core schema, ``node`` included."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from schema_nodes(value)
    elif isinstance(node, list):
        for item in node:
            yield from schema_nodes(item)


def _build_fresh(schema: dict[str, Any]) -> Any:
    """A ``SchemaValidator`` of ``schema`` built from ``schema`` alone. pydantic-core reuses the validator
    a nested model class already carries when the class is complete (``__pydantic_complete__`` in its
    ``__dict__``): once ``Delivery`` or ``Entry`` had been validated on its own, the fast tier got their
    full validators, callbacks and all. The classes are marked incomplete for the moment of the build."""
    from pydantic_core import SchemaValidator

    models = {node["cls"] for node in schema_nodes(schema) if node.get("type") == "model"}
    complete = [cls for cls in models if cls.__dict__.get("__pydantic_complete__")]
    for cls in complete:
        type.__setattr__(cls, "__pydantic_complete__", False)
    try:
        return SchemaValidator(schema)
    finally:
        for cls in complete:
            type.__setattr__(cls, "__pydantic_complete__", True)


def _fast_probes() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A record the fast tier takes, and one variant per replaced callback that it must refuse."""
    at = datetime(2024, 1, 1, 12, tzinfo=UTC)

    def record(*, when: Any = at, message: Any = "m", ref: Any = "1") -> dict[str, Any]:
        entry = {"at": when, "status": "investigating", "message": message, "deliveries": {"x": {"ref": ref}}}
        return {"schema": 1, "id": "2024-01-01-a", "title": "t", "severity": "sev3", "timeline": [entry]}

    offset = datetime(2024, 1, 1, 13, tzinfo=timezone(timedelta(hours=1)))  # the same instant, not in UTC
    return record(), [record(when=offset), record(message="a\r\nb"), record(ref=12)]


def fast_tier_works(validator: Any) -> bool:
    """Whether ``validator`` takes a plain record and refuses each input a replaced callback would change."""
    plain, changed = _fast_probes()
    try:
        validator.validate_python(plain)
    except ValidationError:
        return False
    for probe in changed:
        try:
            validator.validate_python(probe)
        except ValidationError:
            continue
        return False
    return True


def fast_record_validator() -> Any:
    """The fast tier's ``SchemaValidator`` (built on first use). Should pydantic ever build it so that it
    fails :func:`fast_tier_works`, the full validator is used instead: slower, never different."""
    global _FAST_VALIDATOR  # a lazily built module constant
    if _FAST_VALIDATOR is not None:
        return _FAST_VALIDATOR
    with _FAST_LOCK:
        if _FAST_VALIDATOR is None:
            Incident.model_rebuild()
            validator = _build_fresh(_fast_schema(Incident.__pydantic_core_schema__))
            _FAST_VALIDATOR = validator if fast_tier_works(validator) else Incident.__pydantic_validator__
    return _FAST_VALIDATOR


def validate_record_data(data: Any) -> Incident:
    """``Incident.model_validate(data)`` for data the record parsers gave (YAML loaded by yaml-rs or
    PyYAML): the same incident, or the same ``ValidationError``; faster for records as ruamel writes them."""
    try:
        incident: Incident = fast_record_validator().validate_python(data)
    except ValidationError:
        return Incident.model_validate(data)  # the full validator, its own errors
    return incident

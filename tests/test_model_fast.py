"""The fast tier of record validation (``model.validate_record_data``) against the full validator
(``Incident.model_validate``): the same incident for every input the fast tier accepts, the full
validator's own errors (type, text, location, input) for everything else, and the fast tier really
taking the records ruamel writes."""

from __future__ import annotations

import copy
import random
import subprocess
import sys
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from incidentctl import model
from incidentctl.model import CLEAN_TEXT_RANGES, Incident, clean_text, fast_record_validator, validate_record_data
from incidentctl.records.fastparse import parse, parse_fallback

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)

RECORD = """\
schema: 1
id: 2024-01-01-db
title: Database errors
severity: sev2
commander: Ana
sources: [https://example.com/a]
timeline:
  - at: 2024-01-01T12:00:00Z
    status: investigating
    message: "Errors on the API \\u2014 we\\u2019re looking. Caf\\u00e9 \\u65e5\\u672c \\U0001F525\\u200d\\ufe0f"
    components: {api: major_outage}
    next_update_by: 2024-01-01T12:30:00Z
    author: Ana
    deliveries:
      slack: {state: delivered, ref: '1641048830.000004', attempts: 1, at: 2024-01-01T12:00:02Z}
      x: {state: failed, error: boom, attempts: 2, at: 2024-01-01T12:00:03Z, refs: ['1', '2'], parts: [a, b]}
      webhook:
        state: pending
        claim: {by: clone-1 ana@host, at: 2024-01-01T12:00:01Z}
  - at: 2024-01-01T12:40:00Z
    status: resolved
    message: "Fixed.\\n\\tDetails\\tbelow."
    visibility: internal
    review: bypassed
    review_by: Ana
postmortem:
  public: true
  summary: A bad deploy.
  root_causes: [config]
  lessons: {went_well: [alerts], went_wrong: [rollback], lucky: []}
  action_items:
    - {title: Add a check, owner: Bo, due: 2024-02-01, status: open}
  authors: [Ana]
  published_at: 2024-01-03T00:00:00Z
reminders:
  snoozed_until: 2024-01-01T13:00:00Z
  notified: {update_due: 2024-01-01T12:31:00Z}
imported_from: {source: statuspage, page: p, id: i}
"""

MAINTENANCE = """\
schema: 1
id: 2024-01-02-upgrade
kind: maintenance
title: Upgrade
scheduled_for: 2024-01-02T10:00:00Z
scheduled_until: 2024-01-02T11:00:00Z
timeline:
  - at: 2024-01-01T10:00:00Z
    status: scheduled
    message: We will upgrade.
    components: {api: under_maintenance}
    scheduled_for: 2024-01-02T10:00:00Z
    scheduled_until: 2024-01-02T11:00:00Z
"""


def _shape(value: Any) -> Any:
    """Everything observable of a validated value: types, values, tzinfo objects, fields set."""
    if isinstance(value, BaseModel):
        return (
            type(value),
            sorted(value.model_fields_set),
            {name: _shape(getattr(value, name)) for name in type(value).model_fields},
        )
    if isinstance(value, dict):
        return (dict, [(_shape(k), _shape(v)) for k, v in value.items()])
    if isinstance(value, list):
        return (list, [_shape(item) for item in value])
    if isinstance(value, datetime):
        return (type(value), value.isoformat(), id(value.tzinfo) if value.tzinfo is UTC else repr(value.tzinfo))
    return (type(value), value)


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [{k: v for k, v in error.items() if k != "url"} for error in exc.errors(include_context=False)]


def _compare(data: Any) -> bool:
    """Both validators on ``data``: the same incident or the same errors; True when the fast tier took it."""
    try:
        fast: Any = fast_record_validator().validate_python(copy.deepcopy(data))
    except ValidationError:
        fast = None
    try:
        full: Any = Incident.model_validate(copy.deepcopy(data))
    except ValidationError as exc:
        assert fast is None, "the fast tier accepted what the full validator refuses"
        with pytest.raises(ValidationError) as caught:
            validate_record_data(copy.deepcopy(data))
        assert _errors(caught.value) == _errors(exc)
        assert str(caught.value) == str(exc)
        return False
    if fast is not None:
        assert _shape(fast) == _shape(full)
    assert _shape(validate_record_data(copy.deepcopy(data))) == _shape(full)
    return fast is not None


def _base() -> dict[str, Any]:
    data = parse(RECORD, "r.yaml")
    assert isinstance(data, dict)
    return data


def test_records_as_written_take_the_fast_tier() -> None:
    assert _compare(_base())
    assert _compare(parse_fallback(RECORD, "r.yaml"))
    assert _compare(parse(MAINTENANCE, "m.yaml"))
    assert _compare(parse_fallback(MAINTENANCE, "m.yaml"))


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


_DELETE = object()
AT = ("timeline", 0, "at")
NEXT = ("timeline", 0, "next_update_by")
DELIVERY_AT = ("timeline", 0, "deliveries", "slack", "at")
CLAIM_AT = ("timeline", 0, "deliveries", "webhook", "claim", "at")
REF = ("timeline", 0, "deliveries", "slack", "ref")
MESSAGE = ("timeline", 0, "message")
TITLE = ("title",)
AUTHOR = ("timeline", 0, "author")
CAUSE = ("postmortem", "root_causes", 0)
ACTION = ("postmortem", "action_items", 0, "title")

TIMES: list[Any] = [
    T0,
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-1))),
    datetime(1970, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
    datetime(2024, 1, 1, 12, 0),
    datetime(2024, 1, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))),
    datetime(2024, 1, 1, 12, 0, tzinfo=timezone(timedelta(0))),
    date(2024, 1, 1),
    "2024-01-01T12:00:00Z",
    "2024-01-01T12:00:00",
    "yesterday",
    12,
    12.5,
    True,
    None,
    [],
    {},
]
REFS: list[Any] = ["x", "", 1641048830, 1641048830.000004, 1e16, -0.0, float("nan"), True, False, None, [1], b"ab", {}]
TEXTS: list[Any] = [
    "plain",
    "",
    " ",
    "a\r\nb",
    "a\rb",
    "tab\there\nnewline",
    "nul\x00",
    "bell\x07",
    "del\x7f",
    "nel\x85",
    "\ufeffbom",
    "non\ufffechar",
    "non\U0010ffffchar",
    "e\u0301",  # not NFC
    "\u00e9",
    "\u212b",  # Angstrom sign: NFC makes it U+00C5
    "\u1100\u1161",  # Hangul jamo that compose
    "line\u2028sep",
    "\u2014\u2019\u20ac\u2192\u4e00\U0001f525\u200d\ufe0f",
    "x" * 500,
    "x" * 501,
    "\u00e9" * 501,
    b"bytes",
    5,
    None,
    ["a"],
]


def _variants() -> list[tuple[tuple[Any, ...], Any]]:
    out: list[tuple[tuple[Any, ...], Any]] = []
    for path in (AT, NEXT, DELIVERY_AT, CLAIM_AT, ("postmortem", "published_at"), ("reminders", "notified", "x")):
        out += [(path, value) for value in TIMES]
    out += [(REF, value) for value in REFS]
    for path in (MESSAGE, TITLE, AUTHOR, CAUSE, ACTION, ("commander",), ("timeline", 1, "review_by")):
        out += [(path, value) for value in TEXTS]
    out += [
        (("id",), "Bad Id"),
        (("schema",), 2),
        (("schema",), "1"),
        (("severity",), 3),
        (("timeline",), []),
        (("timeline", 1, "at"), datetime(2023, 1, 1, tzinfo=UTC)),
        (("timeline", 0, "status"), "scheduled"),
        (("timeline", 0, "visibility"), "secret"),
        (("timeline", 0, "components", "api"), "on_fire"),
        (("timeline", 0, "deliveries", "slack", "attempts"), -1),
        (("timeline", 0, "deliveries", "slack", "attempts"), "2"),
        (("timeline", 0, "deliveries", "slack", "state"), "lost"),
        (("timeline", 0, "deliveries", "slack", "extra"), 1),
        (("timeline", 0, "deliveries", "webhook", "claim", "by"), ""),
        (("timeline", 0, "automatic"), "yes"),
        (("postmortem", "action_items", 0, "due"), "2024-02-30"),
        (("unknown",), 1),
        (("kind",), "maintenance"),
        (("sources",), [1]),
        (("imported_from", "id"), 7),
    ]
    return out


@pytest.mark.parametrize(("path", "value"), _variants(), ids=lambda v: repr(v)[:40])
def test_fast_tier_agrees_with_the_full_validator(path: tuple[Any, ...], value: Any) -> None:
    _compare(_set(_base(), path, value))


@pytest.mark.parametrize("path", [MESSAGE, TITLE, ("timeline", 0, "next_update_by"), ("commander",)])
def test_fast_tier_agrees_when_a_field_is_missing(path: tuple[Any, ...]) -> None:
    _compare(_set(_base(), path, _DELETE))


def test_several_problems_at_once_keep_the_full_validators_errors() -> None:
    data = _base()
    for path, value in ((AT, 12), (REF, 5), (MESSAGE, "a\x00"), (TITLE, ""), (DELIVERY_AT, "x"), (NEXT, None)):
        _set(data, path, value)
    assert not _compare(data)


def test_clean_values_the_callbacks_would_change_never_take_the_fast_tier() -> None:
    assert not _compare(_set(_base(), REF, 12))  # the callback's work: "12"
    assert not _compare(_set(_base(), MESSAGE, "a\r\nb"))
    assert not _compare(_set(_base(), AT, datetime(2024, 1, 1, 13, tzinfo=timezone(timedelta(hours=1)))))


ALPHABET = "aZ09 .,:-'\"\t\n\r\x00\x1f\x7f\x85\xa0\xe9\u0301\u212b\u2014\u2028\ufeff\ufffe\u4e00\u1161\U0001f525"


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=ALPHABET, max_size=12), ref=st.one_of(st.text(max_size=3), st.integers(), st.floats()))
def test_random_text_and_refs(text: str, ref: Any) -> None:
    _compare(_set(_set(_base(), MESSAGE, text), REF, ref))


def test_the_clean_text_class_is_clean_and_nfc_in_any_order() -> None:
    """Every character of ``CLEAN_TEXT_RANGES`` is kept by ``clean_text``, has combining class 0 and
    NFC quick check "yes" (never the second half of a composition), so any string of them is NFC."""
    second_halves = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))  # Hangul V and T jamo
    for code in range(0x110000):
        decomposition = unicodedata.decomposition(chr(code))
        if decomposition and not decomposition.startswith("<"):
            parts = decomposition.split()
            if len(parts) == 2 and unicodedata.is_normalized("NFC", chr(code)):
                second_halves.add(int(parts[1], 16))
    chars = [chr(code) for first, last in CLEAN_TEXT_RANGES for code in range(first, last + 1)]
    for char in chars:
        assert clean_text(char) == char, hex(ord(char))
        assert unicodedata.combining(char) == 0, hex(ord(char))
        assert unicodedata.is_normalized("NFC", char), hex(ord(char))
        assert ord(char) not in second_halves, hex(ord(char))
    rng = random.Random(16)
    for _ in range(2000):
        text = "".join(rng.choice(chars) for _ in range(rng.randint(0, 8)))
        assert clean_text(text) == text and unicodedata.is_normalized("NFC", text)


def test_the_fast_tier_replaced_every_callback() -> None:
    """No ``_timestamp``, ``_clean`` or ``_ref_as_text`` is left in the fast schema: a new field type
    that needs one gets its own fast check (``model._fast_schema``)."""
    fast_record_validator()
    callbacks = {model._timestamp, model._clean, model.Delivery._ref_as_text.__func__}  # type: ignore[attr-defined]
    found = [
        node
        for node in model.schema_nodes(model._fast_schema(Incident.__pydantic_core_schema__))
        if node.get("type", "").startswith("function-") and model._callback(node) in callbacks
    ]
    assert found == []


def test_the_fast_tier_is_built_from_its_own_schema_even_after_nested_models_were_used() -> None:
    """pydantic-core reuses a complete nested model's own validator: once ``Delivery`` and ``Entry`` had
    been validated on their own, the fast tier used to get their full validators (and this file's
    ``int`` ref test failed depending on test order). A fresh interpreter uses them first."""
    code = (
        "from pydantic import ValidationError\n"
        "from incidentctl import model\n"
        "for cls in (model.Delivery, model.Entry):\n"
        "    try:\n"
        "        cls.model_validate({})\n"
        "    except ValidationError:\n"
        "        pass\n"
        "assert model.Delivery.__pydantic_complete__ and model.Entry.__pydantic_complete__\n"
        "validator = model.fast_record_validator()\n"
        "assert validator is not model.Incident.__pydantic_validator__, 'fell back to the full validator'\n"
        "assert model.fast_tier_works(validator)\n"
        "assert model.Delivery.__pydantic_complete__ and model.Entry.__pydantic_complete__\n"
        "assert model.Delivery.model_validate({'ref': 12}).ref == '12'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_the_probes_tell_the_fast_tier_from_the_full_validator() -> None:
    assert model.fast_tier_works(fast_record_validator())
    assert not model.fast_tier_works(Incident.__pydantic_validator__)  # it changes what the fast tier refuses

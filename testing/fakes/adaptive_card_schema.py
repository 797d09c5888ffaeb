"""The part of the Adaptive Card 1.5 JSON schema that our Teams cards use, as a JSON Schema.

No package on PyPI or npm ships the official schema file (npm ``adaptivecards`` ships only the
TypeScript object model), so this subset is written from the official 1.5 schema
(adaptivecards.io/schemas/1.5.0/adaptive-card.json): the same property names, enums and required
properties, and ``additionalProperties: false`` wherever the official schema has it (so, like the
official one, it refuses Teams' non-standard ``msteams`` key on the card). Elements we never send
are not allowed here at all, which is stricter than the official schema.
"""

from __future__ import annotations

from typing import Any

_ELEMENT_COMMON: dict[str, Any] = {
    "id": {"type": "string"},
    "isVisible": {"type": "boolean"},
    "separator": {"type": "boolean"},
    "spacing": {"enum": ["default", "none", "small", "medium", "large", "extraLarge", "padding"]},
    "height": {"enum": ["auto", "stretch"]},
    "requires": {"type": "object"},
    "fallback": {},
}
_COLORS = {"enum": ["default", "dark", "light", "accent", "good", "warning", "attention"]}
_SIZES = {"enum": ["default", "small", "medium", "large", "extraLarge"]}
_WEIGHTS = {"enum": ["default", "lighter", "bolder"]}


def _element(name: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"type": {"enum": [name]}, **properties, **_ELEMENT_COMMON},
        "required": ["type", *required],
        "additionalProperties": False,
    }


TEXT_BLOCK = _element(
    "TextBlock",
    {
        "text": {"type": "string"},
        "color": _COLORS,
        "fontType": {"enum": ["default", "monospace"]},
        "horizontalAlignment": {"enum": ["left", "center", "right"]},
        "isSubtle": {"type": "boolean"},
        "maxLines": {"type": "number"},
        "size": _SIZES,
        "weight": _WEIGHTS,
        "wrap": {"type": "boolean"},
        "style": {"enum": ["default", "heading"]},
    },
    ["text"],
)
TEXT_RUN = {
    "type": "object",
    "properties": {
        "type": {"enum": ["TextRun"]},
        "text": {"type": "string"},
        "color": _COLORS,
        "fontType": {"enum": ["default", "monospace"]},
        "highlight": {"type": "boolean"},
        "isSubtle": {"type": "boolean"},
        "italic": {"type": "boolean"},
        "size": _SIZES,
        "strikethrough": {"type": "boolean"},
        "underline": {"type": "boolean"},
        "weight": _WEIGHTS,
    },
    "required": ["text"],
    "additionalProperties": False,
}
RICH_TEXT_BLOCK = _element(
    "RichTextBlock",
    {"inlines": {"type": "array", "items": TEXT_RUN}, "horizontalAlignment": {"enum": ["left", "center", "right"]}},
    ["inlines"],
)
FACT_SET = _element(
    "FactSet",
    {
        "facts": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"title": {"type": "string"}, "value": {"type": "string"}},
                "required": ["title", "value"],
                "additionalProperties": False,
            },
        }
    },
    ["facts"],
)
OPEN_URL = {
    "type": "object",
    "properties": {
        "type": {"enum": ["Action.OpenUrl"]},
        "url": {"type": "string", "format": "uri-reference"},
        "title": {"type": "string"},
        "iconUrl": {"type": "string"},
        "id": {"type": "string"},
        "style": {"enum": ["default", "positive", "destructive"]},
        "tooltip": {"type": "string"},
        "isEnabled": {"type": "boolean"},
        "mode": {"enum": ["primary", "secondary"]},
    },
    "required": ["type", "url"],
    "additionalProperties": False,
}
ADAPTIVE_CARD_1_5: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-06/schema#",
    "type": "object",
    "properties": {
        "type": {"enum": ["AdaptiveCard"]},
        "version": {"type": "string"},
        "body": {"type": "array", "items": {"anyOf": [TEXT_BLOCK, RICH_TEXT_BLOCK, FACT_SET]}},
        "actions": {"type": "array", "items": OPEN_URL},
        "fallbackText": {"type": "string"},
        "speak": {"type": "string"},
        "lang": {"type": "string"},
        "rtl": {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
        "minHeight": {"type": "string"},
        "$schema": {"type": "string", "format": "uri"},
    },
    "required": ["type", "version"],  # version is required on a top-level card
    "additionalProperties": False,
}


def card_problems(card: Any) -> list[str]:
    """Every way ``card`` breaks the schema above (empty when it is a valid 1.5 card we send)."""
    import jsonschema

    validator = jsonschema.Draft6Validator(ADAPTIVE_CARD_1_5)
    problems = [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(card)]
    if isinstance(card, dict) and card.get("version") not in ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5"):
        problems.append(f"version {card.get('version')!r} is newer than 1.5 (or missing)")
    return problems

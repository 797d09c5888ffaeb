"""What the subscriber channels (webhook, email) share: subscriber files, stable ids, component filters.

Subscriber files hold URLs, secrets and addresses, so they live outside the repo (their path is in
an environment variable) and nothing read from them is ever printed: errors name the item number,
the field and (for webhooks) the subscriber id, never a value. Delivery state is recorded in the
entry's ``refs``: subscriber ids for webhooks, :func:`recipient_hash` for email addresses.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..durations import isoformat_z
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..config import Config
    from ..model import Entry, Incident

M = TypeVar("M", bound=BaseModel)


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc if not (isinstance(part, str) and part.startswith("function-")))


def one_line_problem(exc: ValidationError, where: str, label: Any = None) -> str:
    """The first problem of a validation error as one line with no input value in it."""
    error = exc.errors(include_url=False, include_input=False)[0]
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if error["type"] == "extra_forbidden":
        message = "unknown field (check the spelling)"
    field = _field_path(tuple(error["loc"]))
    more = len(exc.errors()) - 1
    tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
    return f"{where}: {field + ': ' if field else ''}{message}{tail}"


def load_subscriber_file(env_name: str, item_model: type[M], channel: str, *, required: bool) -> list[M] | None:
    """The list in the YAML/JSON file named by ``$env_name``, each item validated with ``item_model``.

    ``None`` when the variable is unset and not ``required``. Errors never show the file's content.
    """
    value = os.environ.get(env_name, "").strip()
    if not value:
        if required:
            raise ConfigError(f"{channel}: {env_name} is not set: export the path of the subscribers file")
        return None
    path = Path(value).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError(f"{channel}: cannot read the file named by {env_name}: {reason}") from None
    where = f"{channel}: {env_name}"
    data = _parse(text, where)
    if data is None:
        data = []
    if not isinstance(data, list):
        raise ConfigError(f"{where}: expected a list of subscribers")
    items: list[M] = []
    for number, raw in enumerate(data, 1):
        try:
            items.append(item_model.model_validate(raw))
        except ValidationError as exc:
            label = raw.get("id") if isinstance(raw, dict) and channel == "webhook" else None
            named = f" (id {label!r})" if isinstance(label, str) and _safe_label(label) else ""
            raise ConfigError(one_line_problem(exc, f"{where}: item {number}{named}")) from None
    return items


def _safe_label(label: str) -> bool:
    return 0 < len(label) <= 64 and all(ch.isalnum() or ch in "-_." for ch in label)


def _parse(text: str, where: str) -> Any:
    if text.lstrip().startswith(("[", "{")):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass  # YAML flow style (`- {id: a, ...}`) or broken JSON: YAML reads the one, reports the other
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        # PyYAML's own message quotes the offending line: never shown (it may hold a URL or secret).
        raise ConfigError(f"{where}: {line}not valid YAML or JSON") from None


def check_components(config: Config, components: list[str] | None, where: str) -> None:
    if not components:
        return
    known = set(config.component_ids)
    for component in components:
        if component not in known:
            raise ConfigError(f"{where}: components: unknown component {component!r} (see incidentctl.yaml)")


def lint_subscribers(root: Path, config: Config, incidents: object) -> list[str]:
    """``lint``: the subscriber files of the configured webhook and email channels, when their
    variables are set here. Problems name the file's variable and the item, never an address or URL."""
    from ..records.codec import line_of
    from .email import SUBSCRIBERS_ENV as EMAIL_SUBSCRIBERS
    from .email import EmailSubscriber
    from .webhook import SUBSCRIBERS_ENV as WEBHOOK_SUBSCRIBERS
    from .webhook import WebhookSubscriber

    files: tuple[tuple[str, str, type[BaseModel]], ...] = (
        ("webhook", WEBHOOK_SUBSCRIBERS, WebhookSubscriber),
        ("email", EMAIL_SUBSCRIBERS, EmailSubscriber),
    )
    problems: list[str] = []
    configured = config.configured_channels()
    for channel, env_name, model in files:
        if channel not in configured or not os.environ.get(env_name, "").strip():
            continue
        try:
            items = load_subscriber_file(env_name, model, channel, required=False) or []
            seen: set[str] = set()
            for number, item in enumerate(items, 1):
                label = getattr(item, "id", None) or f"item {number}"
                if label in seen:
                    raise ConfigError(f"{channel}: {env_name}: subscriber id {label!r} is used twice")
                seen.add(label)
                check_components(config, getattr(item, "components", None), f"{channel}: {env_name}: {label}")
        except ConfigError as exc:
            try:
                text = (root / "incidentctl.yaml").read_text(encoding="utf-8")
                line = line_of(text, ["channels", channel])
            except OSError:
                line = 1
            problems.append(f"incidentctl.yaml:{line}: {exc}")
    return problems


# -- ids ------------------------------------------------------------------------------------------


def entry_stamp(incident: Incident, entry: Entry) -> str:
    """A stable, readable id for a public entry within its incident: ``20241211T190012Z``.

    Two public entries in the same second get a short fingerprint of their text appended.
    """
    stamp = entry.at.strftime("%Y%m%dT%H%M%SZ")
    twins = [
        other
        for other in incident.timeline
        if other.public and other.at.replace(microsecond=0) == entry.at.replace(microsecond=0)
    ]
    if len(twins) > 1:
        text = f"{isoformat_z(entry.at)}|{entry.at.microsecond}|{entry.status}|{entry.message}"
        stamp += "-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return stamp


def recipient_hash(address: str) -> str:
    """What the record keeps of an email recipient: sha256 of the lowercased address, truncated."""
    return hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()[:16]


# -- component filters ----------------------------------------------------------------------------


def touched_components(incident: Incident, entry: Entry) -> list[str]:
    """Components an entry is about: every component the incident named up to and including it.

    A subscriber to ``api`` then gets every update of an incident that affects the API (a plain
    "still investigating" entry names no component, yet it is about the API outage).
    """
    seen: dict[str, None] = {}
    for candidate in incident.timeline:
        if candidate.public:
            seen.update(dict.fromkeys(candidate.components))
        if candidate is entry:
            break
    return list(seen)


def wants(filter_: list[str] | None, touched: list[str]) -> bool:
    """A subscriber without a filter gets everything; with one, entries touching any of its components."""
    return not filter_ or bool(set(filter_) & set(touched))

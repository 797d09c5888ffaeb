"""``incidentctl.yaml``: the model, its defaults, finding the repo, and secrets from the environment."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from .durations import parse_due_period, parse_duration
from .errors import ConfigError, IncidentctlError, RepoNotFoundError
from .model import ID_PATTERN, Text
from .records.codec import fast_load, validation_problems

if TYPE_CHECKING:
    from .channels.statuspage import StatuspageSettings

CONFIG_FILE = "incidentctl.yaml"
REPO_ENV = "INCIDENTCTL_REPO"


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class Component(_Settings):
    id: str
    name: Text
    group: Text | None = None
    description: Text | None = None

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not ID_PATTERN.match(value):
            raise ValueError(f"invalid component id {value!r}: use lowercase letters, digits and '-'")
        return value


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int):
        return timedelta(minutes=value)
    try:
        return parse_duration(str(value))
    except IncidentctlError as exc:
        raise ValueError(str(exc)) from None


class HoldingUpdate(_Settings):
    """``holding_update: {after: 10m}``: ``tick --publish`` posts a holding entry when a promise is this late."""

    after: timedelta = timedelta(minutes=10)

    @field_validator("after", mode="before")
    @classmethod
    def _parse_after(cls, value: Any) -> timedelta:
        return _duration(value)


class Severity(_Settings):
    name: str
    update_every: timedelta = timedelta(hours=1)
    postmortem_required: bool = False
    postmortem_due: str = "5bd"
    """How long after resolution the postmortem is due: ``3d`` (calendar days) or ``5bd`` (business days)."""
    review: Literal["required", "optional"] = "optional"
    """``required``: a public update/resolve on the default branch needs ``--propose`` (or ``--no-review``)."""
    holding_update: HoldingUpdate | None = None
    """Off unless set: automatic "no new information" entries when a promise lapses."""

    @field_validator("update_every", mode="before")
    @classmethod
    def _parse_every(cls, value: Any) -> timedelta:
        return _duration(value)

    @field_validator("postmortem_due")
    @classmethod
    def _parse_due(cls, value: str) -> str:
        text = str(value).strip()
        try:
            parse_due_period(text)
        except IncidentctlError as exc:
            raise ValueError(str(exc)) from None
        return text


def default_severities() -> dict[str, Severity]:
    return {
        "sev1": Severity(
            name="Critical", update_every=timedelta(minutes=30), postmortem_required=True, postmortem_due="3d"
        ),
        "sev2": Severity(name="Major", update_every=timedelta(hours=1), postmortem_required=True, postmortem_due="5bd"),
        "sev3": Severity(name="Minor", update_every=timedelta(hours=4), postmortem_required=False),
    }


class Channels(BaseModel):
    """``channels:``: raw settings per channel name, validated by each channel's own ``settings_model``
    (see :meth:`Config.channel_settings`). The order of the file is kept."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="before")
    @classmethod
    def _empty_is_enabled(cls, value: Any) -> Any:
        # `x:` with nothing after it means "enabled with defaults", like `x: {}`.
        if isinstance(value, dict):
            return {name: {} if settings is None else settings for name, settings in value.items()}
        return value

    def names(self) -> list[str]:
        return list((self.model_extra or {}).keys())

    def raw(self, name: str) -> Any:
        return (self.model_extra or {}).get(name)

    @property
    def statuspage(self) -> StatuspageSettings | None:
        """Transitional: the site reads its settings here; new code calls ``statuspage.settings_for(config)``."""
        from .channels.statuspage import CHANNEL, StatuspageSettings

        settings = _validated_settings(self, CHANNEL)
        return settings if isinstance(settings, StatuspageSettings) else None


def _validated_settings(channels: Channels, name: str) -> Any:
    from .channels.registry import find_channel

    raw = channels.raw(name)
    if raw is None:
        return None
    channel = find_channel(name)
    if channel is None:
        return raw
    return channel.settings_model.model_validate(raw)


class MaintenanceSettings(_Settings):
    """``maintenance:``: defaults for scheduled maintenances."""

    remind_before: list[timedelta] = Field(default_factory=lambda: [timedelta(hours=24), timedelta(hours=1)])
    """Public reminder notices this long before a maintenance starts (``tick`` posts them)."""
    auto_start: bool = True
    auto_complete: bool = True

    @field_validator("remind_before", mode="before")
    @classmethod
    def _parse_leads(cls, value: Any) -> list[timedelta]:
        items = value if isinstance(value, list) else [value]
        leads = sorted({_duration(item) for item in items}, reverse=True)
        if any(lead.total_seconds() <= 0 for lead in leads):
            raise ValueError("remind_before: every lead must be longer than 0s")
        return leads


class GitSettings(_Settings):
    commit: bool = True
    push: bool = False
    remote: str = "origin"
    claim_lease: str = "10m"
    """How long a clone's claim on a send holds without a delivery before another clone may take it
    over (after asking the channel whether it went out)."""

    @field_validator("claim_lease")
    @classmethod
    def _lease_is_a_duration(cls, value: str) -> str:
        from .durations import parse_duration

        try:
            span = parse_duration(str(value))
        except Exception:  # noqa: BLE001 - any unreadable value is the user's input error
            raise ValueError(f"claim_lease {value!r}: use a duration like 10m") from None
        if span.total_seconds() <= 0:
            raise ValueError("claim_lease must be longer than 0s")
        return str(value)

    @property
    def lease(self) -> timedelta:
        from .durations import parse_duration

        return parse_duration(self.claim_lease)


class ComponentTable(NamedTuple):
    order: dict[str, int]
    names: dict[str, str]
    known: frozenset[str]


class Config(_Settings):
    organization: Text = Field(min_length=1)
    timezone: str = "UTC"
    components: list[Component] = Field(default_factory=list)
    severities: dict[str, Severity] = Field(default_factory=default_severities)
    channels: Channels = Field(default_factory=Channels)
    git: GitSettings = Field(default_factory=GitSettings)
    _component_table: tuple[object, int, ComponentTable] | None = PrivateAttr(default=None)
    maintenance: MaintenanceSettings = Field(default_factory=MaintenanceSettings)
    _settings: dict[str, Any] = PrivateAttr(default_factory=dict)
    _root: Path | None = PrivateAttr(default=None)
    _source: tuple[Path | str, str] | None = PrivateAttr(default=None)
    """(path, text) of a config whose channel settings are checked on first use (``check_channels=False``)."""

    @property
    def root(self) -> Path | None:
        """The repo this config was loaded from (None: parsed from text), for its ``templates/``."""
        return self._root

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like America/New_York)") from None
        return value

    @field_validator("severities")
    @classmethod
    def _valid_severity_ids(cls, value: dict[str, Severity]) -> dict[str, Severity]:
        if not value:
            raise ValueError("define at least one severity")
        for key in value:
            if not ID_PATTERN.match(key):
                raise ValueError(f"invalid severity id {key!r}")
        return value

    @model_validator(mode="after")
    def _unique_components(self) -> Config:
        seen: set[str] = set()
        for index, component in enumerate(self.components):
            if component.id in seen:
                raise ValueError(f"components.{index}.id: duplicate component id {component.id!r}")
            seen.add(component.id)
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def component_ids(self) -> list[str]:
        return [component.id for component in self.components]

    def component_table(self) -> ComponentTable:
        """Each component's position and name, and the set of ids: made once (a build asks for every
        record), made again if the component list was replaced or grew or shrank."""
        kept, components = self._component_table, self.components
        if kept is not None and kept[0] is components and kept[1] == len(components):
            return kept[2]
        table = ComponentTable(
            order={component.id: index for index, component in enumerate(components)},
            names={component.id: component.name for component in components},
            known=frozenset(component.id for component in components),
        )
        self._component_table = (components, len(components), table)
        return table

    def component_name(self, component_id: str) -> str:
        return self.component_table().names.get(component_id, component_id)

    def configured_channels(self) -> list[str]:
        """Channels present in the config, in the file's order."""
        return self.channels.names()

    def channel_settings(self, name: str) -> Any:
        """``channels.<name>`` validated through the channel's ``settings_model`` (``None`` when not configured;
        the raw value for a channel no installed plugin provides).

        Settings a config loaded with ``check_channels=False`` never checked are checked here, on first
        use: invalid ones raise :class:`ConfigError` naming the file and line, as at load time."""
        if name not in self._settings:
            if self._source is None:
                self._settings[name] = _validated_settings(self.channels, name)
            else:
                try:
                    self._settings[name] = _validated_settings(self.channels, name)
                except ValidationError as exc:
                    path, text = self._source
                    raise ConfigError(
                        "\n".join(validation_problems(exc, path, text, prefix=("channels", name)))
                    ) from None
        return self._settings[name]


def load_config(root: Path, *, check_channels: bool = True) -> Config:
    """Load and validate ``incidentctl.yaml`` in ``root``; errors name the file, line and field.

    ``check_channels=False`` (commands that never touch a channel, like ``list``): each channel's
    settings are validated when first asked for (:meth:`Config.channel_settings`), not here, so no
    channel module is imported; everything else in the file is validated as always."""
    path = root / CONFIG_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RepoNotFoundError(f"{path}: not found; run `incidentctl init` to create an incident repo") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    config = parse_config(text, path, check_channels=check_channels)
    config._root = root
    return config


def parse_config(text: str, path: Path | str = CONFIG_FILE, *, check_channels: bool = True) -> Config:
    data = fast_load(text, path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: expected a mapping with at least `organization:`")
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, path, text)
        raise ConfigError("\n".join(problems)) from None
    if not check_channels:
        config._source = (path, text)
        return config
    problems = []
    for name in config.configured_channels():
        try:
            config.channel_settings(name)
        except ValidationError as exc:
            problems.extend(validation_problems(exc, path, text, prefix=("channels", name)))
    if problems:
        raise ConfigError("\n".join(problems))
    return config


def find_repo(explicit: Path | str | None = None, cwd: Path | None = None) -> Path:
    """``--repo``, else ``$INCIDENTCTL_REPO``, else the nearest folder upwards holding the config."""
    chosen = explicit or os.environ.get(REPO_ENV)
    if chosen:
        root = Path(chosen).expanduser().resolve()
        if not (root / CONFIG_FILE).is_file():
            raise RepoNotFoundError(
                f"{root} is not an incident repo (no {CONFIG_FILE}); run `incidentctl init {chosen}` to create one"
            )
        return root
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise RepoNotFoundError(
        f"no incident repo here (no {CONFIG_FILE} in {here} or above); "
        "run `incidentctl init PATH` to create one, or pass --repo"
    )


def secret_values(env: dict[str, str] | None = None) -> list[str]:
    """Every secret value set in the environment, for scrubbing output."""
    from .channels.registry import secret_names

    source = os.environ if env is None else env
    return [value for name in secret_names() if (value := source.get(name)) and len(value) >= 4]


def channel_enabled(config: Config, name: str, env: dict[str, str] | None = None) -> bool:
    """A channel is enabled when it is configured and the secrets it declares as required are set."""
    from .channels.registry import find_channel, missing_secrets

    if config.channels.raw(name) is None:
        return False
    channel = find_channel(name)
    return channel is None or not missing_secrets(channel, env)


def enabled_channels(config: Config, env: dict[str, str] | None = None) -> list[str]:
    return [name for name in config.configured_channels() if channel_enabled(config, name, env)]

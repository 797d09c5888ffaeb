"""Edit a repo's ``incidentctl.yaml`` as YAML, not as text: load it with ruamel (comments, quotes and
flow style kept), change the mapping, write it back. A path that does not exist is an error, so an
edit can never silently do nothing when the scaffold changes."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

CONFIG_FILE = "incidentctl.yaml"


class _Delete:
    def __repr__(self) -> str:
        return "DELETE"


DELETE: Any = _Delete()
"""A change's value that removes the key: ``modify_config(root, channels__statuspage=DELETE)``."""

ConfigEdit = Callable[[Any], object]
"""Edits the loaded config mapping in place (a ruamel ``CommentedMap``); its return value is ignored."""


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long flow mapping
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _apply(data: Any, path: str, value: Any) -> None:
    keys = path.split("__") if "__" in path else path.split(".")
    node = data
    for depth, key in enumerate(keys):
        if not isinstance(node, Mapping) or key not in node:
            where = ".".join(keys[:depth]) or "the top level"
            known = sorted(node) if isinstance(node, Mapping) else type(node).__name__
            raise KeyError(f"{CONFIG_FILE}: no {key!r} under {where} (found {known}); cannot set {'.'.join(keys)}")
        if depth == len(keys) - 1:
            if value is DELETE:
                del node[key]
            else:
                node[key] = value
        else:
            node = node[key]


def config_changes(changes: Mapping[str, Any] | None = None, /, **kwargs: Any) -> ConfigEdit:
    """The callable form: an edit that sets existing keys, by path.

    A path is ``git__push`` (keyword form, ``__`` between keys) or ``"git.push"`` (mapping form). Every
    key on the path must already exist (``KeyError`` otherwise); ``DELETE`` removes the key. To add a
    key, pass your own edit: ``lambda config: config["channels"].update(echo={})``.
    """
    wanted = {**(changes or {}), **kwargs}
    if not wanted:
        raise ValueError("config_changes() needs at least one change")

    def edit(data: Any) -> None:
        for path, value in wanted.items():
            _apply(data, path, value)

    return edit


def modify_config(repo_root: Path, *edits: ConfigEdit, **changes: Any) -> None:
    """Load ``repo_root/incidentctl.yaml``, apply ``edits`` (callables) then ``changes`` (see
    ``config_changes``), and write it back. Fails loudly (``KeyError``) when a path is missing."""
    path = Path(repo_root) / CONFIG_FILE
    yaml = _yaml()
    data = yaml.load(path.read_text(encoding="utf-8"))
    for edit in (*edits, *([config_changes(**changes)] if changes else [])):
        edit(data)
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    path.write_text(buffer.getvalue(), encoding="utf-8")

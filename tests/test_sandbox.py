"""The Jinja sandbox holds: a repo template that tries a known escape fails cleanly and runs nothing.

Each escape goes into a repo override of ``x.txt.j2`` (rendered by ``publish --dry-run``) and of
``site/index.html.j2`` (rendered by ``site build``), on line 3. Every one must end the command with
exit 1 and one line naming the template file and that line: never a traceback, never output of
the payload, and the command it tries to run (``touch <marker>``) never runs. Templates cannot
read files outside the template folders either.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from incidentctl.lifecycle import open_incident
from incidentctl.store import Repo
from testing import make_repo, run_subprocess

ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__.__mro__[-1].__subclasses__()[0].__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "{{ joiner.__init__.__globals__.os.system('touch MARKER') }}",
    "{{ namespace.__init__.__globals__.os.system('touch MARKER') }}",
    "{{ lipsum.__globals__['os'].popen('touch MARKER').read() }}",
    "{{ self.__init__.__globals__.__builtins__.__import__('os').system('touch MARKER') }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.system('touch MARKER') }}",
    "{{ incident.__class__.__init__.__globals__ }}",
    "{{ incident.__class__.__mro__ }}",
    "{{ incident.model_validate.__globals__ }}",
    "{{ entry.at.__class__.__subclasses__() }}",
    "{{ range.__self__.__import__('os').system('touch MARKER') }}",
    "{{ dict.mro() }}",
    "{{ dict.__base__.__subclasses__() }}",
    "{{ '{0.__class__.__mro__}'.format(incident) }}",
    "{{ '%s'.format_map }}{{ ''.format_map.__self__.__class__ }}",
    "{% set x = cycler.__init__ %}{{ x.__globals__ }}",
    "{{ config.__class__ }}",
    "{{ request }}",
    "{{ get_flashed_messages.__globals__ }}",
    "{{ url_for.__globals__.os.system('touch MARKER') }}",
]
FILE_READS = [
    "{% include '/etc/passwd' %}",
    "{% include '../../outside.txt' %}",
    "{% include '../outside.txt' %}",
    "{% import '/etc/hostname' as h %}",
    "{% extends '../outside.txt' %}",
]
OUTSIDE = "OUTSIDE-FILE-CONTENT-7f3a"
_STAMPS = itertools.count(1_600_000_000 + os.getpid() * 1000)


@pytest.fixture(scope="module")
def shared_repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    root = tmp_path_factory.mktemp("sandbox") / "status"
    repo = make_repo(root)
    open_incident(repo, "API down", severity="sev1", components={"api": "major_outage"}, message="Investigating.")
    (root / "outside.txt").write_text(OUTSIDE, encoding="utf-8")
    (root.parent / "outside.txt").write_text(OUTSIDE, encoding="utf-8")
    return Repo.open(root)


def _override(repo: Repo, name: str, payload: str) -> Path:
    path = repo.root / "templates" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{{# an override #}}\nhello\n{payload}\n", encoding="utf-8")
    # A new mtime each time: Jinja's cache reloads a template only when its mtime changes.
    stamp = next(_STAMPS)
    os.utime(path, (stamp, stamp))
    return path


def _check(result: Any, template: Path, marker: Path, payload: str) -> None:
    output = result.stdout + result.stderr
    assert result.exit_code == 1, (payload, output)
    assert result.exception is None and "Traceback" not in output, (payload, output)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, (payload, lines)
    assert f"{template.name}:3" in lines[0], (payload, lines[0])
    assert not marker.exists(), f"{payload} ran a command"
    for leaked in ("<class", "subclasses", "__builtins__", "function", OUTSIDE, "root:x:0"):
        assert leaked not in result.stdout, (payload, result.stdout)


@pytest.mark.parametrize("payload", ESCAPES + FILE_READS)
def test_escape_in_a_message_template_is_a_clean_template_error(
    shared_repo: Repo, payload: str, cli: Callable[..., Any], tmp_path: Path
) -> None:
    marker = tmp_path / "MARKER"
    template = _override(shared_repo, "x.txt.j2", payload.replace("MARKER", str(marker)))
    try:
        result = cli("publish", "--dry-run", "--channel", "x", repo=shared_repo.root)
        _check(result, template, marker, payload)
    finally:
        template.unlink()


@pytest.mark.parametrize("payload", ESCAPES + FILE_READS)
def test_escape_in_a_site_template_is_a_clean_template_error(
    shared_repo: Repo, payload: str, cli: Callable[..., Any], tmp_path: Path
) -> None:
    marker = tmp_path / "MARKER"
    template = _override(shared_repo, "site/index.html.j2", payload.replace("MARKER", str(marker)))
    try:
        result = cli("site", "build", "--output", str(tmp_path / "site"), repo=shared_repo.root)
        _check(result, template, marker, payload)
        built = tmp_path / "site"
        assert not built.exists() or not any(built.iterdir()), "a failed build left a half-built site"
    finally:
        template.unlink()


def test_escape_in_a_real_process_and_lint(tmp_path: Path) -> None:
    """As a shell sees it: exit 1, one line, no traceback; ``lint`` reports the template, runs nothing."""
    repo = make_repo(tmp_path / "status")
    open_incident(repo, "API down", severity="sev1", components={"api": "major_outage"}, message="Investigating.")
    marker = tmp_path / "MARKER"
    payload = f"{{{{ cycler.__init__.__globals__.os.popen('touch {marker}').read() }}}}"
    template = _override(repo, "x.txt.j2", payload)
    result = run_subprocess("publish", "--dry-run", cwd=repo.root)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and f"{template}:3" in result.stderr, result.stderr
    lint = run_subprocess("lint", cwd=repo.root)
    assert lint.returncode == 1 and "Traceback" not in lint.stdout + lint.stderr
    assert "x.txt.j2:3" in lint.stdout + lint.stderr
    assert not marker.exists()


def test_the_environment_is_the_sandbox(shared_repo: Repo) -> None:
    """Every renderer gets the one sandboxed environment (site pages through an overlay of it)."""
    from jinja2.sandbox import SandboxedEnvironment

    from incidentctl.render import environment
    from incidentctl.site.pages import site_environment

    assert isinstance(environment(shared_repo.root, shared_repo.config), SandboxedEnvironment)
    assert isinstance(site_environment(shared_repo), SandboxedEnvironment)
    assert sys.modules.get("os") is not None  # the escapes above had something to reach for

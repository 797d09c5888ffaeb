"""Shared by the outside-validator tests: run the public CLI, build hostile repos.

Only the command line is used (through typer's CliRunner, in-process for speed: a subprocess per
command costs a second of imports), never incidentctl's library, so these tests keep working
whatever happens inside the package.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

# Names the secrets and endpoints incidentctl reads; a developer's own must never leak in.
_DROP_PREFIXES = ("SLACK_", "X_", "INCIDENTCTL_", "MASTODON_", "BLUESKY_", "DISCORD_", "TEAMS_", "STATUSPAGE_")

# Text that tries every way of breaking a page or a message.
C1 = "".join(chr(code) for code in range(0x80, 0xA0))
HTML_META = "<script>alert('x')</script> & \"quoted\" <b>bold</b> &amp; &lt;tag&gt; ]]> <!-- -->"
RTL = "\u202eانقطاع الخدمة\u202c ‏שירות לא זמין‏"
LONG_WORD = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 12  # 540 letters, no break opportunity
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # one grapheme, seven code points
BACKFILL_AT = "2024-03-02T09:10:00Z"  # between the first two entries of the second hostile incident

HOSTILE_COMPONENTS = (
    # (id, name, group): group names that slug to the same text, emoji-only names, RTL, C1, a long word.
    ("amp", "Core & API", "Core & API"),
    ("core", "Core API", "Core API"),
    ("fire", "🔥🚒", "🚀🚀"),
    ("moon", "🌙", "🌕"),
    ("rtl", "خدمة الدفع", "مجموعة الدفع"),
    ("ctl", "Billing\\x85\\x9b<i>", "Ops <script>&"),
    ("long", LONG_WORD, LONG_WORD),
)


def shared(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], T]) -> T:
    """``build(folder)`` once per test run, even under pytest-xdist: the other workers wait, then reuse it.

    The value must be JSON data (it is kept in ``done.json`` for the other workers).
    """
    folder = shared_folder(factory, name)
    root = folder.parent
    with open(root / f"validators-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = folder / "done.json"
        if done.exists():
            value: T = json.loads(done.read_text(encoding="utf-8"))
            return value
        if folder.exists():  # an earlier try failed half-way
            shutil.rmtree(folder)
        folder.mkdir()
        value = build(folder)
        done.write_text(json.dumps(value), encoding="utf-8")
        return value


def shared_folder(factory: pytest.TempPathFactory, name: str) -> Path:
    """The folder ``shared(factory, name, ...)`` builds in (the same for every xdist worker)."""
    base = factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return root / f"validators-{name}"


def isolated_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for one CLI run: no secrets, no user git config, a known git identity."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(_DROP_PREFIXES)}
    env.update(
        HOME=str(home),
        GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Test Responder",
        GIT_AUTHOR_EMAIL="responder@example.com",
        GIT_COMMITTER_NAME="Test Responder",
        GIT_COMMITTER_EMAIL="responder@example.com",
        NO_COLOR="1",
        EDITOR="false",
        PYTHONIOENCODING="utf-8",
    )
    env.update(extra)
    return env


def invoke(args: list[str], home: Path, ok: tuple[int, ...] = (0,)) -> str:
    """Run ``incidentctl ARGS`` in-process; return stdout; an exit code outside ``ok`` raises."""
    from typer.testing import CliRunner

    from incidentctl.cli.app import app  # the console script's Typer app

    home.mkdir(parents=True, exist_ok=True)
    result = CliRunner().invoke(app, args, env=isolated_env(home), catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"incidentctl {' '.join(args)[:200]} raised {result.exception!r}\n{result.stderr}")
    if result.exit_code not in ok:
        raise AssertionError(f"incidentctl {' '.join(args)[:200]} exited {result.exit_code}:\n{result.stderr}")
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


class Cli:
    """``cli("new", "Title", ...)`` runs ``incidentctl --repo REPO new Title ...``; other exits than ``ok`` raise."""

    def __init__(self, repo: Path, home: Path) -> None:
        self.repo = repo
        self.home = home

    def __call__(self, *args: str, ok: tuple[int, ...] = (0,)) -> str:
        return invoke(["--repo", str(self.repo), *args], self.home, ok)

    def json(self, *args: str, ok: tuple[int, ...] = (0,)) -> Any:
        return json.loads(self(*args, "--json", ok=ok))


def run_demo(path: Path, home: Path) -> Path:
    """``incidentctl demo PATH``: the sample repo with its site built."""
    invoke(["demo", str(path)], home)
    return path


def build_demo(folder: Path) -> str:
    """For ``shared``: the demo repo in ``folder/repo``; returns its path."""
    return str(run_demo(folder / "repo", folder / "home"))


def init_repo(path: Path, home: Path, components: tuple[tuple[str, str, str], ...] = HOSTILE_COMPONENTS) -> Cli:
    """``incidentctl init`` with the given components, then their groups written into the config."""
    cli = Cli(path, home)
    invoke(
        ["init", str(path), "--org", "Hostile <Org> & Co", *(f"--component={cid}" for cid, _, _ in components)], home
    )
    config = path / "incidentctl.yaml"
    lines = [f'  - {{id: {cid}, name: "{name}", group: "{group}"}}' for cid, name, group in components]
    text = config.read_text(encoding="utf-8")
    head, _, rest = text.partition("components:\n")
    _, _, tail = rest.partition("\n\n")
    text = head + "components:\n" + "\n".join(lines) + "\n\n" + tail
    text = text.replace("statuspage: {output: site,", 'statuspage: {output: site, url: "https://status.example.com",')
    config.write_text(text, encoding="utf-8")
    subprocess.run(["git", "commit", "-qam", "test: hostile components"], cwd=path, env=isolated_env(home), check=True)
    return cli


def hostile_records(cli: Cli) -> list[str]:
    """Records whose text holds HTML metacharacters, C1 controls, RTL, emoji and a very long word."""
    first = cli(
        "new",
        f"{HTML_META} {C1} outage",
        "--severity",
        "sev1",
        "--at",
        "2024-03-01T10:00:00Z",
        "--component",
        "amp=major_outage",
        "--component",
        "core=partial_outage",
        "--component",
        "ctl=degraded_performance",
        "--message",
        f"Investigating {HTML_META}\nC1: [{C1}] {RTL}",
        "--next-update",
        "30m",
    ).strip()
    cli("update", first, "--message", f"Internal only {HTML_META}", "--internal", "--at", "2024-03-01T10:40:00Z")
    cli(
        "update",
        first,
        "--message",
        f"Found it: {LONG_WORD} {RTL}",
        "--status",
        "identified",
        "--component",
        "amp=partial_outage",
        "--at",
        "2024-03-01T11:00:00Z",
        "--next-update",
        "1h",
    )
    cli("resolve", first, "--message", f"Fixed {HTML_META} 🎉", "--at", "2024-03-01T12:00:00Z")
    second = cli(
        "new",
        "🔥🚒🔥",
        "--severity",
        "sev2",
        "--at",
        "2024-03-02T09:00:00Z",
        "--component",
        "fire=major_outage",
        "--component",
        "moon=partial_outage",
        "--component",
        "long=major_outage",
        "--component",
        "rtl=degraded_performance",
        "--message",
        "🔥",
        "--next-update",
        "2024-03-02T10:00:00Z",
    ).strip()
    cli(
        "update",
        second,
        "--message",
        f"{RTL} {C1} {LONG_WORD}",
        "--status",
        "monitoring",
        "--at",
        "2024-03-02T09:30:00Z",
        "--next-update",
        "1h",
    )
    third = cli(
        "new",
        f"{RTL} {LONG_WORD[:300]}",
        "--severity",
        "sev3",
        "--at",
        "2024-03-02T11:00:00Z",
        "--component",
        "core=major_outage",
        "--message",
        f"\ufeffBOM {FAMILY} \ufffe\uffff {HTML_META}",
        "--next-update",
        "1h",
    ).strip()
    return [first, second, third]

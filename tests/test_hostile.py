"""Hostile and broken records: every command answers with a clear error and exit 1 — never a
traceback, never code execution, never a hang — and ids never lead outside ``incidents/``."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidentctl.model import Entry, Incident, clean_text
from incidentctl.store import Repo
from testing import CliResult, git, make_repo, run_subprocess

ID = "2024-01-01-broken"
MARKER = f"/tmp/incidentctl-hostile-pwned-{os.getpid()}"  # a file the payloads try to create
VALID_HEAD = "schema: 1\nid: 2024-01-01-broken\ntitle: Broken\nseverity: sev1\n"
ENTRY = "  - at: 2024-01-01T00:00:00Z\n    status: investigating\n    message: hi\n"

BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + n)}: &{chr(98 + n)} [{', '.join(['*' + chr(97 + n)] * 9)}]\n" for n in range(8)
)

CORPUS: dict[str, bytes] = {
    "empty": b"",
    "whitespace": b"   \n\n\t\n",
    "binary": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00",
    "invalid utf-8 inside": (
        VALID_HEAD + "timeline:\n  - at: 2024-01-01T00:00:00Z\n    status: investigating\n    message: caf"
    ).encode()
    + b"\xe9\n",
    "a list": b"- a\n- b\n",
    "a scalar": b"just words\n",
    "broken yaml": b"schema: 1\ntimeline: [\n",
    "tabs": b"schema: 1\n\tid: x\n",
    "timeline is text": (VALID_HEAD + "timeline: lots happened\n").encode(),
    "empty timeline": (VALID_HEAD + "timeline: []\n").encode(),
    "no timeline": VALID_HEAD.encode(),
    "title is a list": VALID_HEAD.replace("title: Broken", "title: [a, b]").encode() + b"timeline:\n" + ENTRY.encode(),
    "naive time": (VALID_HEAD + "timeline:\n  - at: 2024-01-01T00:00:00\n    status: investigating\n").encode(),
    "unknown status": (VALID_HEAD + "timeline:\n  - at: 2024-01-01T00:00:00Z\n    status: panicking\n").encode(),
    "deliveries is a list": (VALID_HEAD + "timeline:\n" + ENTRY + "    deliveries: [slack]\n").encode(),
    "attempts negative": (
        VALID_HEAD + "timeline:\n" + ENTRY + "    deliveries:\n      slack: {state: failed, attempts: -1}\n"
    ).encode(),
    "time order": (VALID_HEAD + "timeline:\n" + ENTRY.replace("01T00", "02T00") + ENTRY).encode(),
    "future schema": ("schema: 99\n" + VALID_HEAD.split("\n", 1)[1] + "timeline:\n" + ENTRY).encode(),
    "id mismatch": (
        VALID_HEAD.replace("id: 2024-01-01-broken", "id: 2024-01-01-other") + "timeline:\n" + ENTRY
    ).encode(),
    "id is a path": (
        VALID_HEAD.replace("id: 2024-01-01-broken", "id: ../../etc/passwd") + "timeline:\n" + ENTRY
    ).encode(),
    "unknown field": (VALID_HEAD + "run: rm -rf /\ntimeline:\n" + ENTRY).encode(),
    "duplicate key": (VALID_HEAD + "title: Again\ntimeline:\n" + ENTRY).encode(),
    "alias loop": b"a: &a [*a]\n",
    "alias in record": (
        VALID_HEAD + "timeline:\n  - &e\n    at: 2024-01-01T00:00:00Z\n    status: investigating\n  - *e\n"
    ).encode(),
    "merge key": (VALID_HEAD + "base: &b {x: 1}\ntimeline:\n  - <<: *b\n    at: 2024-01-01T00:00:00Z\n").encode(),
    "billion laughs": BILLION_LAUGHS.encode(),
    "python object": f"!!python/object/apply:os.system ['touch {MARKER}']\n".encode(),
    "python object nested": (
        VALID_HEAD
        + f"timeline:\n  - at: 2024-01-01T00:00:00Z\n    status: investigating\n    message: !!python/object/apply:os.system ['touch {MARKER}']\n"
    ).encode(),
    "python name": (VALID_HEAD + "title: !!python/name:os.system\ntimeline:\n" + ENTRY).encode(),
    "deep nesting": ("x: " + "[" * 5000 + "]" * 5000 + "\n").encode(),
    "huge title": VALID_HEAD.replace("title: Broken", "title: " + "A" * 100_000).encode()
    + b"timeline:\n"
    + ENTRY.encode(),
    "huge file": (
        VALID_HEAD + "timeline:\n" + ENTRY.replace("message: hi", "message: " + "x" * (6 * 1024 * 1024))
    ).encode(),
    "nul bytes": (VALID_HEAD + "timeline:\n" + ENTRY.replace("hi", "a\x00b")).encode(),
}


@pytest.fixture(autouse=True)
def _no_hang() -> Iterator[None]:
    """Every in-process command must finish: a hang fails the test instead of blocking the suite."""

    def timeout(_signum: int, _frame: object) -> None:
        raise TimeoutError("the command hung")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


def assert_clear_failure(result: CliResult, *, lint: bool = False) -> None:
    output = result.output
    assert result.exception is None, repr(result.exception)
    assert result.exit_code == 1, output
    assert "Traceback" not in output and "internal error" not in output, output
    first = (result.stdout if lint else result.stderr).strip().splitlines()[0]
    assert len(first) < 400, first  # one readable line, not a dump of the input
    if not lint:
        assert first.startswith("incidentctl: "), first


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_broken_record_every_command(name: str, tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    Path(MARKER).unlink(missing_ok=True)
    repo = make_repo(tmp_path / "r")
    path = repo.incidents_dir / f"{ID}.yaml"
    path.write_bytes(CORPUS[name])
    before = path.read_bytes()
    for args in (("list",), ("list", "--json")):
        # SPEC: one invalid record never blocks the others: named on stderr, skipped, exit 0.
        result = cli(*args, repo=repo.root)
        assert result.exit_code == 0 and result.exception is None, result.output
        assert result.stderr.startswith(f"incidents/{ID}.yaml:"), result.stderr
        assert "Traceback" not in result.output and "internal error" not in result.output
    for args in (
        ("show", ID),
        ("show", ID, "--json"),
        ("update", ID, "-m", "More."),
        ("resolve", ID, "-m", "Done."),
    ):
        result = cli(*args, repo=repo.root)
        assert_clear_failure(result)
        if args[0] in ("show", "update", "resolve"):
            assert f"incidents/{ID}.yaml" in result.stderr, result.stderr
    result = cli("lint", repo=repo.root)
    assert_clear_failure(result, lint=True)
    assert result.stdout.startswith(f"incidents/{ID}.yaml:"), result.stdout
    assert path.read_bytes() == before  # nothing changed
    assert git(repo.root, "status", "--porcelain", "--untracked-files=no") == ""
    assert not Path(MARKER).exists(), "a YAML tag ran code"


def test_python_tags_never_run_in_a_real_process(tmp_path: Path) -> None:
    Path(MARKER).unlink(missing_ok=True)
    repo = make_repo(tmp_path / "r")
    (repo.incidents_dir / f"{ID}.yaml").write_bytes(CORPUS["python object nested"])
    for args in (("update", ID, "-m", "x"), ("lint",), ("list",)):
        result = run_subprocess(*args, cwd=repo.root, timeout=60)
        assert result.returncode == (0 if args == ("list",) else 1) and "Traceback" not in result.stderr
    assert not Path(MARKER).exists()


def test_alias_bomb_does_not_hang_a_real_process(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    (repo.incidents_dir / f"{ID}.yaml").write_bytes(CORPUS["billion laughs"])
    result = run_subprocess("lint", cwd=repo.root, timeout=30)
    assert result.returncode == 1
    assert "anchors and aliases are not allowed" in result.stdout


@pytest.mark.parametrize(
    "bad_id",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "..",
        ".",
        "2024-01-01-x/../../../etc/passwd",
        "incidents/../incidentctl",
        "a\x00b",
        "-rf",
        "~root",
        "C:\\windows",
    ],
)
def test_ids_never_escape_the_incidents_folder(bad_id: str, tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    repo = make_repo(tmp_path / "r")
    assert (
        cli("new", "Real one", "--severity", "sev3", "--id", "2024-01-01-real", "-m", "x", repo=repo.root).exit_code
        == 0
    )
    files_before = sorted(p.name for p in tmp_path.rglob("*") if ".git" not in p.parts)
    for args in (
        ("show", bad_id),
        ("update", bad_id, "-m", "x"),
        ("resolve", bad_id),
        ("new", "T", "--severity", "sev3", "--id", bad_id, "-m", "x"),
    ):
        result = cli(*args, repo=repo.root)
        assert result.exit_code in (1, 2), result.output
        assert result.exception is None and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.rglob("*") if ".git" not in p.parts) == files_before


def test_a_symlinked_record_is_refused(tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    repo = make_repo(tmp_path / "r")
    secret = tmp_path / "outside.yaml"
    secret.write_text(
        "schema: 1\nid: 2024-01-01-link\ntitle: SECRET-OUTSIDE\nseverity: sev1\ntimeline: nope\n", encoding="utf-8"
    )
    (repo.incidents_dir / "2024-01-01-link.yaml").symlink_to(secret)
    for args in (("show", "2024-01-01-link"), ("update", "2024-01-01-link", "-m", "x")):
        result = cli(*args, repo=repo.root)
        assert result.exit_code == 1 and "symbolic link" in result.stderr
        assert "SECRET-OUTSIDE" not in result.output
    result = cli("lint", repo=repo.root)
    assert result.exit_code == 1 and "symbolic link" in result.stdout and "SECRET-OUTSIDE" not in result.output
    assert "SECRET-OUTSIDE" not in cli("list", "--json", repo=repo.root).output
    assert secret.read_text(encoding="utf-8").startswith("schema: 1")  # never written through


# -- the record schema, property-based ----------------------------------------------------------------

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)


@st.composite
def incidents(draw: st.DrawFn) -> Incident:
    start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=draw(st.integers(0, 10**8)))
    offsets = sorted(draw(st.lists(st.integers(0, 10**6), min_size=1, max_size=5)))
    timeline = [
        Entry(
            at=start + timedelta(seconds=offset),
            status=draw(st.sampled_from(["investigating", "identified", "monitoring", "resolved"])),
            message=draw(text),
            visibility=draw(st.sampled_from(["public", "internal"])),
            components=draw(
                st.dictionaries(
                    st.sampled_from(["api", "web"]), st.sampled_from(["operational", "major_outage"]), max_size=2
                )
            ),
        )
        for offset in offsets
    ]
    title = draw(text.map(lambda value: " ".join(clean_text(value).split())).filter(bool))
    return Incident(
        id="2024-01-01-prop", title=title[:500], severity="sev1", commander=draw(st.none() | text), timeline=timeline
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(incident=incidents())
def test_any_valid_incident_survives_save_and_load(incident: Incident, shared: Path) -> None:
    """Whatever text a responder types (quotes, colons, '#', emoji, control characters), the record
    written is valid YAML that reads back as exactly the same incident."""
    root = shared / "repo"
    if not (root / "incidentctl.yaml").exists():
        make_repo(root)
    repo = Repo.open(root)
    path = repo.record_path(incident.id)
    path.unlink(missing_ok=True)
    repo.save(incident)
    assert repo.load(incident.id) == incident
    # Saving again over the existing file (the round-trip path) changes nothing.
    before = path.read_text(encoding="utf-8")
    repo.save(incident)
    assert path.read_text(encoding="utf-8") == before

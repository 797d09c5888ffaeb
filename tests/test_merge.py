"""The semantic merge of incident records: the library, and the driver as git runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from incidentctl.merge import merge_records
from incidentctl.store import Repo
from testing import git, make_repo

BASE = """\
schema: 1
id: 2024-12-12-api-down
# Opened by the on-call engineer.
title: API down   # what users see
severity: sev1
timeline:
  - at: 2024-12-12T00:00:00Z
    status: investigating
    message: We are investigating.   # first words
    components: {api: major_outage}
    deliveries:
      slack: {state: pending}
      x: {state: pending}
"""


def entry(at: str, message: str, status: str = "investigating", deliveries: str = "slack: {state: pending}") -> str:
    text = f"  - at: {at}\n    status: {status}\n    message: {message}\n"
    if deliveries:
        text += f"    deliveries:\n      {deliveries}\n"
    return text


def plain(text: str) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(text)  # type: ignore[no-any-return]


def messages(text: str) -> list[str]:
    return [item["message"] for item in plain(text)["timeline"]]


def test_concurrent_additions_are_a_union_in_time_order_and_comments_survive() -> None:
    ours = BASE + entry("2024-12-12T00:40:00Z", "Ours at 00:40.  # keep me") + "  # ours trailing note\n"
    theirs = (
        BASE + entry("2024-12-12T00:20:00Z", "Theirs at 00:20.") + entry("2024-12-12T00:50:00Z", "Theirs at 00:50.")
    )
    result = merge_records(BASE, ours, theirs)
    assert result.clean, result.conflicts
    assert messages(result.text) == ["We are investigating.", "Theirs at 00:20.", "Ours at 00:40.", "Theirs at 00:50."]
    for comment in ("# Opened by the on-call engineer.", "# what users see", "# first words", "# ours trailing note"):
        assert comment in result.text
    assert "components: {api: major_outage}" in result.text  # flow style kept
    swapped = merge_records(BASE, theirs, ours)
    assert plain(swapped.text)["timeline"] == plain(result.text)["timeline"]


def test_delivered_wins_and_an_entry_never_gets_two_refs() -> None:
    delivered = BASE.replace(
        "slack: {state: pending}", "slack: {state: delivered, ref: '1733961600.000100', attempts: 1}"
    )
    failed = BASE.replace("x: {state: pending}", "x: {state: failed, attempts: 2, error: 503 Service Unavailable}")
    result = merge_records(BASE, delivered, failed)
    assert result.clean
    deliveries = plain(result.text)["timeline"][0]["deliveries"]
    assert deliveries["slack"] == {"state": "delivered", "ref": "1733961600.000100", "attempts": 1}
    assert deliveries["x"]["state"] == "failed" and deliveries["x"]["attempts"] == 2

    # Failed on one side, delivered on the other: delivered wins, whichever side is which.
    x_ok = BASE.replace("x: {state: pending}", "x: {state: delivered, ref: '99', attempts: 3}")
    for ours, theirs in ((failed, x_ok), (x_ok, failed)):
        merged = plain(merge_records(BASE, ours, theirs).text)["timeline"][0]["deliveries"]["x"]
        assert merged == {"state": "delivered", "ref": "99", "attempts": 3}

    # Both clones posted it: one ref survives (the earlier post), and the user is told.
    first = BASE.replace("slack: {state: pending}", "slack: {state: delivered, ref: '111.1', at: 2024-12-12T00:00:05Z}")
    second = BASE.replace(
        "slack: {state: pending}", "slack: {state: delivered, ref: '222.2', at: 2024-12-12T00:00:09Z}"
    )
    for ours, theirs in ((first, second), (second, first)):
        result = merge_records(BASE, ours, theirs)
        assert result.clean
        assert plain(result.text)["timeline"][0]["deliveries"]["slack"]["ref"] == "111.1"
        assert any("delivered twice" in note for note in result.notes)


def test_one_side_edits_text_the_other_records_a_delivery() -> None:
    edited = BASE.replace("message: We are investigating.", "message: We are investigating elevated errors.")
    delivered = BASE.replace("slack: {state: pending}", "slack: {state: delivered, ref: '1.2'}")
    result = merge_records(BASE, edited, delivered)
    assert result.clean, result.conflicts
    first = plain(result.text)["timeline"][0]
    assert first["message"] == "We are investigating elevated errors."
    assert first["deliveries"]["slack"]["ref"] == "1.2"


def test_both_editing_the_same_entry_text_is_a_genuine_conflict() -> None:
    ours = BASE.replace("We are investigating.", "We are investigating errors on the API.")
    theirs = BASE.replace("We are investigating.", "We are looking into it.")
    result = merge_records(BASE, ours, theirs)
    assert not result.clean
    assert result.conflicts == [
        "timeline entry at 2024-12-12T00:00:00Z: both sides edited the entry's text "
        "('We are investigating errors on the API.' vs 'We are looking into it.')"
    ]
    assert result.text == ours


def test_scalar_fields_are_last_writer_wins_by_entry_time() -> None:
    early = BASE.replace("severity: sev1", "severity: sev2") + entry("2024-12-12T00:10:00Z", "Downgraded.")
    late = BASE.replace("severity: sev1", "severity: sev3") + entry("2024-12-12T00:30:00Z", "Downgraded more.")
    for ours, theirs in ((early, late), (late, early)):
        result = merge_records(BASE, ours, theirs)
        assert result.clean
        assert plain(result.text)["severity"] == "sev3"
        assert messages(result.text)[1:] == ["Downgraded.", "Downgraded more."]
    # Only one side changed the title: that change wins, no note needed.
    retitled = BASE.replace("title: API down", "title: API and website down")
    result = merge_records(BASE, retitled, early)
    assert plain(result.text)["title"] == "API and website down" and plain(result.text)["severity"] == "sev2"
    assert "# what users see" in result.text


def test_same_second_additions_from_both_sides_are_both_kept() -> None:
    ours = BASE + entry("2024-12-12T00:10:00Z", "From Alice.")
    theirs = BASE + entry("2024-12-12T00:10:00Z", "From Bob.")
    result = merge_records(BASE, ours, theirs)
    assert result.clean
    assert sorted(messages(result.text)[1:]) == ["From Alice.", "From Bob."]
    assert messages(result.text) == messages(merge_records(BASE, theirs, ours).text)


def test_removed_entry_stays_removed_unless_the_other_side_changed_it() -> None:
    two = BASE + entry("2024-12-12T00:10:00Z", "Typo entry.")
    removed = BASE
    assert messages(merge_records(two, removed, two).text) == ["We are investigating."]
    changed = two.replace("slack: {state: pending}\n  - at", "slack: {state: pending}\n  - at").replace(
        "message: Typo entry.\n    deliveries:\n      slack: {state: pending}",
        "message: Typo entry.\n    deliveries:\n      slack: {state: delivered, ref: '5'}",
    )
    result = merge_records(two, removed, changed)
    assert result.conflicts == ["timeline entry at 2024-12-12T00:10:00Z: deleted on one side and changed on the other"]


def test_postmortem_lists_merge_as_a_union() -> None:
    base = BASE + "postmortem:\n  root_causes: [a config push]\n  action_items:\n    - {title: Add canary}\n"
    ours = base.replace("[a config push]", "[a config push, no canary]")
    theirs = base + "    - {title: Alert on error rate, owner: bob}\n"
    result = merge_records(base, ours, theirs)
    assert result.clean, result.conflicts
    postmortem = plain(result.text)["postmortem"]
    assert postmortem["root_causes"] == ["a config push", "no canary"]
    assert [item["title"] for item in postmortem["action_items"]] == ["Add canary", "Alert on error rate"]


def test_unparseable_or_invalid_versions_are_refused_not_guessed() -> None:
    for broken in (
        "timeline: [",
        "- just a list\n",
        "!!python/object/apply:os.system ['echo hacked']\n",
        BASE.replace("sev1", "["),
    ):
        result = merge_records(BASE, BASE, broken)
        assert not result.clean
        assert result.conflicts[0].startswith("cannot merge semantically:")
    unordered = BASE + entry("2024-12-11T00:00:00Z", "Before the start.")
    assert "cannot merge semantically" in merge_records(BASE, BASE, unordered).conflicts[0]


def test_no_common_ancestor_merges_two_new_records() -> None:
    ours = BASE + entry("2024-12-12T00:10:00Z", "Alice.")
    theirs = BASE + entry("2024-12-12T00:20:00Z", "Bob.")
    result = merge_records("", ours, theirs)
    assert result.clean
    assert messages(result.text) == ["We are investigating.", "Alice.", "Bob."]


# -- as git runs it -------------------------------------------------------------------------------


def _branches(tmp_path: Path, ours_edit: str, theirs_edit: str) -> Repo:
    repo = make_repo(tmp_path / "r")
    record = repo.incidents_dir / "2024-12-12-api-down.yaml"
    record.write_text(
        BASE.replace("slack: {state: pending}\n      x: {state: pending}\n", "statuspage: {state: pending}\n"),
        encoding="utf-8",
    )
    git(repo.root, "add", ".")
    git(repo.root, "commit", "-qm", "open")
    git(repo.root, "checkout", "-qb", "theirs")
    record.write_text(record.read_text(encoding="utf-8") + theirs_edit, encoding="utf-8")
    git(repo.root, "commit", "-qam", "theirs")
    git(repo.root, "checkout", "-q", "main")
    record.write_text(record.read_text(encoding="utf-8") + ours_edit, encoding="utf-8")
    git(repo.root, "commit", "-qam", "ours")
    return repo


def test_git_merge_uses_the_driver(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = _branches(
        tmp_path,
        entry("2024-12-12T00:30:00Z", "Ours.", deliveries="statuspage: {state: pending}"),
        entry("2024-12-12T00:20:00Z", "Theirs.", deliveries="statuspage: {state: pending}"),
    )
    assert "merge-driver" in git(repo.root, "config", "merge.incidentctl.driver")
    assert sys.executable in git(repo.root, "config", "merge.incidentctl.driver")
    git(repo.root, "merge", "-q", "--no-edit", "theirs")  # a plain line merge would conflict here
    assert messages(repo.read_text("2024-12-12-api-down")) == ["We are investigating.", "Theirs.", "Ours."]
    assert cli("lint", repo=repo.root).exit_code == 0


def test_git_merge_genuine_conflict_leaves_markers_and_a_clear_message(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    record = repo.incidents_dir / "2024-12-12-api-down.yaml"
    record.write_text(BASE, encoding="utf-8")
    git(repo.root, "add", ".")
    git(repo.root, "commit", "-qm", "open")
    git(repo.root, "checkout", "-qb", "theirs")
    record.write_text(BASE.replace("We are investigating.", "Theirs rewrote it."), encoding="utf-8")
    git(repo.root, "commit", "-qam", "theirs")
    git(repo.root, "checkout", "-q", "main")
    record.write_text(BASE.replace("We are investigating.", "Ours rewrote it."), encoding="utf-8")
    git(repo.root, "commit", "-qam", "ours")
    result = subprocess.run(["git", "merge", "--no-edit", "theirs"], cwd=repo.root, capture_output=True, text=True)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "both sides edited the entry's text ('Ours rewrote it.' vs 'Theirs rewrote it.')" in output
    assert "Traceback" not in output
    text = record.read_text(encoding="utf-8")
    assert "<<<<<<<" in text and ">>>>>>>" in text and "Ours rewrote it." in text and "Theirs rewrote it." in text


def test_fresh_clone_gets_the_driver_from_the_first_writing_command(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    origin = make_repo(tmp_path / "origin")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(origin.root), str(clone)], check=True)
    missing = subprocess.run(["git", "config", "merge.incidentctl.driver"], cwd=clone, capture_output=True, text=True)
    assert missing.returncode != 0  # git never copies config: a clone lacks the driver
    assert cli("new", "API down", "--severity", "sev2", "-m", "Looking.", repo=clone).exit_code == 0
    driver = git(clone, "config", "merge.incidentctl.driver").strip()
    assert driver.startswith(sys.executable) and driver.endswith("merge-driver %O %A %B %P")


def test_repo_without_gitattributes_line_gets_a_local_one(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "r")
    (repo.root / ".gitattributes").unlink()
    git(repo.root, "commit", "-qam", "drop attributes")
    assert cli("new", "API down", "--severity", "sev2", "-m", "Looking.", repo=repo.root).exit_code == 0
    assert "incidents/*.yaml merge=incidentctl" in (repo.root / ".git" / "info" / "attributes").read_text()
    check = git(repo.root, "check-attr", "merge", "incidents/x.yaml")
    assert check.strip().endswith("merge: incidentctl")

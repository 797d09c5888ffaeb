"""Every Slack and X message, checked by the libraries of the services that receive them.

- Slack: each block of every payload goes through slack-sdk's own models
  (``slack_sdk.models.blocks.Block.parse(block).validate_json()``): the limits Slack enforces
  (3000 characters a section, 10 fields, 150 a header, 50 blocks a message). And nothing is cut
  silently: a 5,000-character update full of ``&<>`` arrives whole (split across sections), an
  incident with 15 components names them all or says "and N more".
- X: every part of every thread is ``twitter_text.parse_tweet(part).valid`` (X's own counting),
  including a byte-order mark and non-characters in the message, a family emoji (one grapheme, seven
  code points) placed at every offset around a split point, and a 3,000-character message.

The messages come from ``publish --dry-run --json`` (no credentials, no network), in the demo repo
and in repos built here through the CLI. Checks that find a defect in today's code are
``xfail(strict=True)``: they turn into failures once the defect is fixed.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from validators_support import (
    FAMILY,
    HOSTILE_COMPONENTS,
    Cli,
    build_demo,
    hostile_records,
    init_repo,
    shared,
    shared_folder,
)

LONG_UPDATE = ("Errors & timeouts <on> the API > 5% of calls, retries & <backoff> apply. " * 70)[:5000].strip()
MANY = tuple((f"c{number:02d}", f"Component {number:02d} <&>", "Many") for number in range(1, 16))
BOM_MESSAGE = "\ufeffStarts with a byte-order mark, \ufffe holds U+FFFE and \uffff U+FFFF."
WORDS_3000 = " ".join(f"word{number}" for number in range(600))[:3000].rsplit(" ", 1)[0]
# Each token is longer than a post, so it is cut by character. The family emoji sits around offset
# 272 (the room a post leaves beside a " (nn/nn)" suffix), the tails vary where the cut is searched.
TOKENS = [(k, tail) for k in range(266, 276) for tail in (15, 36)]
FAMILY_MESSAGE = "\n".join("x" * k + FAMILY + "y" * tail for k, tail in TOKENS)
SUFFIX = re.compile(r" \((\d+)/(\d+)\)$")


def dry_run(cli: Cli, *args: str) -> list[dict[str, Any]]:
    report = cli.json("publish", *args, "--dry-run")
    assert report["dry_run"] is True
    return list(report["previews"])


@pytest.fixture(scope="module")
def demo_previews(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """What the demo's channels would receive, every update (the demo prints the same messages)."""
    repo = Path(shared(tmp_path_factory, "demo", build_demo))

    def build(folder: Path) -> list[dict[str, Any]]:
        cli = Cli(repo, folder / "home")
        found = []
        for incident in cli.json("list"):
            found += dry_run(cli, incident["id"], "--channel", "slack", "--channel", "x")
        return found

    previews = shared(tmp_path_factory, "demo-previews", build)
    assert {preview["channel"] for preview in previews} == {"slack", "x"}
    return previews


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Cli, dict[str, str]]:
    """One repo, its incidents by role: hostile text, 15 components, a long update, BOM, emoji, 3,000 chars."""
    ids = shared(tmp_path_factory, "messages", build_repo)
    folder = shared_folder(tmp_path_factory, "messages")
    return Cli(folder / "repo", folder / "home"), ids


def build_repo(folder: Path) -> dict[str, str]:
    cli = init_repo(folder / "repo", folder / "home", components=MANY + HOSTILE_COMPONENTS)
    first, second, third = hostile_records(cli)
    ids = {"hostile-1": first, "hostile-2": second, "hostile-3": third}
    ids["many"] = cli(
        "new",
        "Everything is down",
        "--severity",
        "sev1",
        "--at",
        "2024-03-03T09:00:00Z",
        *(arg for cid, _, _ in MANY for arg in ("--component", f"{cid}=major_outage")),
        "--message",
        "All fifteen components fail.",
    ).strip()
    ids["long"] = cli(
        "new", "Long story", "--severity", "sev2", "--at", "2024-03-03T10:00:00Z", "--message", "Short first."
    ).strip()
    cli("update", ids["long"], "--message", LONG_UPDATE, "--status", "identified", "--at", "2024-03-03T10:30:00Z")
    ids["bom"] = cli(
        "new", "\ufeffBOM title \ufffe", "--severity", "sev3", "--at", "2024-03-03T11:00:00Z", "--message", BOM_MESSAGE
    ).strip()
    ids["family"] = cli(
        "new", "Family", "--severity", "sev3", "--at", "2024-03-03T12:00:00Z", "--message", FAMILY_MESSAGE
    ).strip()
    ids["words"] = cli(
        "new", "Wordy", "--severity", "sev3", "--at", "2024-03-03T13:00:00Z", "--message", WORDS_3000
    ).strip()
    return ids


@pytest.fixture(scope="module")
def previews(repo: tuple[Cli, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    cli, ids = repo
    # A resolved incident never published is left out of a plain run (no backfill of old history): name it.
    found = shared(tmp_path_factory, "previews", lambda _: dry_run(cli) + dry_run(cli, ids["hostile-1"]))
    assert {preview["id"] for preview in found} >= set(ids.values())
    return found


def of(previews: list[dict[str, Any]], channel: str, incident_id: str | None = None) -> list[dict[str, Any]]:
    chosen = [p for p in previews if p["channel"] == channel and (incident_id is None or p["id"] == incident_id)]
    assert chosen, f"no {channel} preview for {incident_id}"
    return chosen


# -- Slack ----------------------------------------------------------------------------------------


def check_slack_payload(payload: dict[str, Any]) -> None:
    from slack_sdk.models.blocks import Block

    assert isinstance(payload.get("text"), str) and payload["text"].strip(), "a plain text fallback"
    blocks = payload["blocks"]
    assert 1 <= len(blocks) <= 50, f"{len(blocks)} blocks (Slack takes at most 50)"
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None, f"slack-sdk does not know the block {block!r:.200}"
        parsed.validate_json()  # raises SlackObjectFormationError on any limit Slack enforces


def shown_text(payload: dict[str, Any]) -> str:
    """Every text a reader sees in the blocks, mrkdwn entities decoded."""
    texts: list[str] = []
    for block in payload["blocks"]:
        if isinstance(block.get("text"), dict):
            texts.append(block["text"]["text"])
        texts += [field["text"] for field in block.get("fields", [])]
        texts += [element.get("text", "") for element in block.get("elements", [])]
    return html.unescape("\n".join(texts))


def test_every_slack_payload_of_the_demo_is_valid_block_kit(demo_previews: list[dict[str, Any]]) -> None:
    for preview in of(demo_previews, "slack"):
        check_slack_payload(preview["payload"])


def test_every_slack_payload_is_valid_block_kit(previews: list[dict[str, Any]]) -> None:
    slack = of(previews, "slack")
    assert len(slack) >= 10
    for preview in slack:
        check_slack_payload(preview["payload"])


def test_slack_long_update_arrives_whole(previews: list[dict[str, Any]], repo: tuple[Cli, dict[str, str]]) -> None:
    replies = [p for p in of(previews, "slack", repo[1]["long"]) if p["kind"] == "reply"]
    assert replies
    for preview in replies:
        check_slack_payload(preview["payload"])
        shown = "".join(shown_text(preview["payload"]).split())
        assert "".join(LONG_UPDATE.split()) in shown, "the update is cut"


def test_slack_many_components_are_named_or_counted(
    previews: list[dict[str, Any]], repo: tuple[Cli, dict[str, str]]
) -> None:
    for preview in of(previews, "slack", repo[1]["many"]):
        check_slack_payload(preview["payload"])
        shown = shown_text(preview["payload"])
        missing = [name for _, name, _ in MANY if name not in shown]
        more = re.search(r"and (\d+) more", shown)
        assert len(missing) == (int(more.group(1)) if more else 0), f"{len(missing)} components silently left out"


# -- X --------------------------------------------------------------------------------------------


def x_parts(preview: dict[str, Any]) -> list[str]:
    parts = preview["payload"].get("parts") or [preview["text"]]
    assert all(isinstance(part, str) for part in parts)
    return list(parts)


def invalid_parts(previews: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
    from twitter_text import parse_tweet

    bad = []
    for preview in previews:
        for part in x_parts(preview):
            result = parse_tweet(part)
            if not result.valid:
                bad.append((preview["id"], result.weightedLength, part[:80]))
    return bad


def test_every_x_part_of_the_demo_is_valid(demo_previews: list[dict[str, Any]]) -> None:
    assert invalid_parts(of(demo_previews, "x")) == []


def test_every_x_part_is_valid(previews: list[dict[str, Any]], repo: tuple[Cli, dict[str, str]]) -> None:
    ids = repo[1]
    chosen = [p for p in of(previews, "x") if p["id"] not in (ids["bom"], ids["hostile-3"])]
    assert len({p["id"] for p in chosen}) == len(ids) - 2
    assert invalid_parts(chosen) == []


def test_x_parts_with_bom_and_noncharacters_are_valid(
    previews: list[dict[str, Any]], repo: tuple[Cli, dict[str, str]]
) -> None:
    ids = repo[1]
    chosen = of(previews, "x", ids["bom"]) + of(previews, "x", ids["hostile-3"])
    assert invalid_parts(chosen) == []


def test_x_split_never_cuts_a_grapheme_cluster(
    previews: list[dict[str, Any]], repo: tuple[Cli, dict[str, str]]
) -> None:
    from incidentctl.channels.x import MAX_POSTS, split_post

    (preview,) = of(previews, "x", repo[1]["family"])
    parts = x_parts(preview)
    assert len(parts) <= MAX_POSTS, "a thread is capped; the rest is on the status page"
    assert invalid_parts([preview]) == []
    whole = sum(part.count(FAMILY) for part in parts)
    joiners = sum(part.count("\u200d") for part in parts)
    assert whole >= 2 and joiners == 3 * whole, "a family emoji was cut"
    # Uncapped, every token is cut by grapheme: all of them arrive whole.
    split = split_post(FAMILY_MESSAGE)
    assert len(split) > len(TOKENS), "every token is longer than one post"
    assert invalid_parts([{"id": "split", "payload": {"parts": split}}]) == []
    whole = sum(part.count(FAMILY) for part in split)
    joiners = sum(part.count("\u200d") for part in split)
    assert (whole, joiners) == (len(TOKENS), 3 * len(TOKENS)), "a family emoji was cut or lost"


def test_x_parts_are_valid_around_a_family_emoji(
    previews: list[dict[str, Any]], repo: tuple[Cli, dict[str, str]]
) -> None:
    """Whatever the split, X accepts every part and no code point of the emoji is lost."""
    (preview,) = of(previews, "x", repo[1]["family"])
    parts = x_parts(preview)
    assert invalid_parts([preview]) == []
    assert sum(part.count("\u200d") for part in parts) == 3 * sum(part.count(FAMILY) for part in parts)


def test_x_3000_character_message_becomes_a_capped_numbered_thread(
    previews: list[dict[str, Any]], repo: tuple[Cli, dict[str, str]]
) -> None:
    (preview,) = of(previews, "x", repo[1]["words"])
    parts = x_parts(preview)
    assert invalid_parts([preview]) == []
    # 3,000 characters need at least 11 posts of 280: the thread is capped and points to the status page.
    assert len(parts) == 6
    numbers = [SUFFIX.search(part) for part in parts]
    assert all(numbers), "every part is numbered"
    assert [(int(m.group(1)), int(m.group(2))) for m in numbers if m] == [
        (n, len(parts)) for n in range(1, len(parts) + 1)
    ]
    text = " ".join(" ".join(SUFFIX.sub("", part).split()) for part in parts)
    kept = text.split("word0 ", 1)[1].split("…", 1)[0]
    assert WORDS_3000.startswith("word0 " + kept), "no word is lost before the cut, none cut"
    assert (
        parts[-1].rsplit(" (", 1)[0].endswith("Full update: https://status.example.com/incidents/2024-03-03-wordy.html")
    )


def test_messages_carry_no_control_characters(previews: list[dict[str, Any]]) -> None:
    controls = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
    found = set()
    for preview in of(previews, "slack") + of(previews, "x"):
        texts = x_parts(preview) if preview["channel"] == "x" else [preview["text"], shown_text(preview["payload"])]
        found |= {f"U+{ord(char):04X}" for text in texts for char in controls.findall(text)}
    assert found == set()

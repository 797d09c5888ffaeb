"""Hostile incident text through every output: the status page (HTML, Atom, JSON), Slack and X.

A payload corpus goes into titles, messages, a component name and the organization name. Proved:
no site file contains a live payload (no injected element, event handler or ``javascript:`` link;
the text reads back exactly), the feed and the JSON parse and round-trip the text exactly, Slack
gets ``&<>`` escaped in every mrkdwn text and in the plain-text fallback (so incident text can
never ping ``@channel``, mention a user or make a link), and X gets the text verbatim within 280.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from incidentctl.channels import RetryPolicy, use_retry_policy
from incidentctl.channels.x import weighted_length
from incidentctl.delivery import publish
from incidentctl.lifecycle import add_update, open_incident
from incidentctl.render import escape_mrkdwn
from incidentctl.site import build_site
from incidentctl.store import Repo
from testing import FakeSlack, FakeX, make_repo

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(document.cookie)",
    "</title><script>alert(2)</script>",
    "]]><evil/> <![CDATA[x]]>",
    "{{ 7*7 }} {% if true %}JINJA{% endif %} ${7*7}",
    "<!channel> <!here> <@U123> <#C0GENERAL> <https://evil.example|click>",
    "&amp; &lt; 'single' \"double\" `tick` *bold* _it_ ~s~",
    '<a href="javascript:alert(3)">x</a><svg onload=alert(4)>',
]
ORG = 'Evil "Org" <script>alert(5)</script> & <!here>'
COMPONENT = "API <img src=x onerror=alert(6)> & <!channel>"
STARTED = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(autouse=True)
def _fast_retries() -> Iterator[None]:
    with use_retry_policy(RetryPolicy(base_delay=0.01)):
        yield


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Repo, dict[str, tuple[str, str]]]:
    """One incident per payload: id → (title, message)."""
    repo = make_repo(tmp_path / "status", components=(("api", COMPONENT), ("web", "Website")), organization=ORG)
    texts: dict[str, tuple[str, str]] = {}
    for number, payload in enumerate(PAYLOADS):
        title, message = f"T{number} {payload}", f"M{number} {payload}"
        at = STARTED + timedelta(hours=number)
        change = open_incident(repo, title, severity="sev2", components={"api": "major_outage"}, message=message, at=at)
        add_update(repo, change.incident.id, message=f"U{number} {payload}", at=at + timedelta(minutes=5))
        texts[change.incident.id] = (title, message)
    return Repo.open(repo.root), texts


class _Page(HTMLParser):
    """Every element, attribute and text of a page, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.script_text if self._in_script else self.text).append(data)


def _parse(data: str) -> _Page:
    page = _Page()
    page.feed(data)
    page.close()
    return page


def _live_payload(page: _Page) -> list[str]:
    problems = []
    for tag, attrs in page.tags:
        if tag in ("img", "svg", "evil", "iframe", "object", "embed"):
            problems.append(f"<{tag}> element")
        if tag == "script":
            problems.append("<script> element")
        for name, value in attrs:
            if name.startswith("on"):
                problems.append(f"{name}= on <{tag}>")
            if value and value.strip().lower().startswith("javascript:"):
                problems.append(f"javascript: URL in {name}= on <{tag}>")
    return problems


def test_site_files_hold_no_live_payload_and_round_trip_the_text(
    hostile: tuple[Repo, dict[str, tuple[str, str]]],
) -> None:
    repo, texts = hostile
    site = build_site(repo, None, STARTED + timedelta(days=2))
    html_files = sorted(site.rglob("*.html"))
    assert len(html_files) >= len(PAYLOADS) + 2
    seen_titles: set[str] = set()
    for path in html_files:
        data = path.read_text(encoding="utf-8")
        page = _parse(data)
        assert not _live_payload(page), (path.name, _live_payload(page))
        visible = "".join(page.text)
        assert ORG in visible, path.name
        for title, _message in texts.values():
            if title in visible:
                seen_titles.add(title)
    assert seen_titles == {title for title, _ in texts.values()}, "every title reads back exactly"
    for incident_id, (title, message) in texts.items():
        page = _parse((site / "incidents" / f"{incident_id}.html").read_text(encoding="utf-8"))
        visible = "".join(page.text)
        assert title in visible and message in visible, incident_id
        assert COMPONENT in visible

    # Atom: parses, and titles, contents and the author read back exactly.
    feed = ET.parse(site / "feed.atom").getroot()
    assert feed.findtext(f"{ATOM}author/{ATOM}name") == ORG
    titles = {node.findtext(f"{ATOM}title") for node in feed.iter(f"{ATOM}entry")}
    contents = "\n".join(node.findtext(f"{ATOM}content") or "" for node in feed.iter(f"{ATOM}entry"))
    for title, message in texts.values():
        assert any(found is not None and found.endswith(": " + title) for found in titles), title
        assert message in contents
    assert COMPONENT in contents
    assert not [el for el in feed.iter() if el.tag.split("}")[-1] in ("evil", "script", "img")]

    # JSON API: parses, names and bodies read back exactly.
    incidents = json.loads((site / "api" / "v2" / "incidents.json").read_text(encoding="utf-8"))["incidents"]
    by_id = {item["id"]: item for item in incidents}
    for incident_id, (title, message) in texts.items():
        assert by_id[incident_id]["name"] == title
        assert message in [update["body"] for update in by_id[incident_id]["incident_updates"]]
    components = json.loads((site / "api" / "v2" / "components.json").read_text(encoding="utf-8"))
    assert COMPONENT in [item["name"] for item in components["components"]]
    summary = json.loads((site / "api" / "v2" / "summary.json").read_text(encoding="utf-8"))
    assert summary["page"]["name"].startswith(ORG)


@pytest.fixture
def fakes(slack: FakeSlack, x: FakeX) -> tuple[FakeSlack, FakeX]:
    """Both fakes running, the environment pointing at them (conftest's `slack` and `x`)."""
    return slack, x


def _mrkdwn_texts(blocks: list[dict[str, Any]]) -> list[str]:
    found = []
    for block in blocks:
        for item in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if isinstance(item, dict) and item.get("type") == "mrkdwn":
                found.append(item["text"])
    return found


def _plain_texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [block["text"]["text"] for block in blocks if block.get("text", {}).get("type") == "plain_text"]


def test_slack_gets_escaped_mrkdwn_and_x_gets_verbatim_text(
    hostile: tuple[Repo, dict[str, tuple[str, str]]], fakes: tuple[FakeSlack, FakeX]
) -> None:
    repo, texts = hostile
    slack, x = fakes
    report = publish(repo, channels=["slack", "x"])
    assert report.failed == 0, [d.error for d in report.deliveries if d.error]

    messages = [*slack.messages, *[edit for m in slack.messages for edit in m["edits"]]]
    assert len(slack.messages) == 2 * len(PAYLOADS)
    for message in messages:
        # No control sequence survives anywhere Slack parses mrkdwn: the fallback and mrkdwn blocks.
        for text in [message["text"], *_mrkdwn_texts(message["blocks"])]:
            assert "<" not in text and ">" not in text, text
    fallbacks = "\n".join(m["text"] for m in messages)
    mrkdwn = "\n".join(text for m in messages for text in _mrkdwn_texts(m["blocks"]))
    plain = "\n".join(text for m in messages for text in _plain_texts(m["blocks"]))
    for title, message in texts.values():
        assert escape_mrkdwn(title) in fallbacks and escape_mrkdwn(message) in fallbacks
        assert escape_mrkdwn(message) in mrkdwn
        assert title in plain  # a plain_text header is never parsed: shown as written
    assert escape_mrkdwn(COMPONENT) in mrkdwn and escape_mrkdwn(ORG) in mrkdwn
    assert "&lt;!channel&gt;" in mrkdwn and "&lt;@U123&gt;" in mrkdwn and "&lt;https://evil.example|click&gt;" in mrkdwn
    assert "&amp;amp;" in mrkdwn, "an entity in the text shows as typed, not decoded"

    # X: verbatim (no escaping), every post within X's weighted limit.
    posts = "\n".join(post["text"] for post in x.posts)
    assert all(weighted_length(post["text"]) <= 280 for post in x.posts)
    for title, message in texts.values():
        assert title in posts and message in posts
    assert COMPONENT in posts
    assert "&lt;script" not in posts and "&amp;amp;" not in posts, "X text is never HTML-escaped"

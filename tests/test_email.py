"""Email end to end: `incidentctl publish` on a real repo against a real SMTP server (aiosmtpd on
127.0.0.1); messages parsed back with `email.parser`, threading and headers checked."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from incidentctl.channels import RetryPolicy, use_retry_policy
from incidentctl.channels import email as email_channel
from incidentctl.channels.subscribers import recipient_hash
from incidentctl.lifecycle import add_update, open_incident, resolve_incident
from incidentctl.model import Delivery
from incidentctl.store import Repo
from testing import git, make_repo, no_traceback, run_subprocess
from testing.fakes.mailbox import PASSWORD, USER, FakeSmtp, Mailbox, free_port

TO = ["oncall@example.com", "exec-team@example.com"]
SUBSCRIBERS = ["alice@customer.example", "bob@customer.example", "web-only@customer.example"]
EVERY_ADDRESS = [*TO, *SUBSCRIBERS]


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    with FakeSmtp() as smtp:
        monkeypatch.setenv(email_channel.SMTP_URL_ENV, smtp.url)
        yield smtp.mailbox


@pytest.fixture(autouse=True)
def _fast_retries() -> Iterator[None]:
    with use_retry_policy(RetryPolicy(base_delay=0.01, request_timeout=10.0)):
        yield


EMAIL_CONFIG = {
    "from": "Example Status <status@example.com>",
    "to": ["oncall@example.com", "exec-team@example.com"],
    "unsubscribe_url": "https://status.example.com/unsubscribe",
    "batch_size": 2,
    "batch_pause": 0.2,
}


def _config(config: Any) -> None:
    """Email only: `channels` is just `email` (a configured channel without its secrets would exit 3, SPEC)."""
    config["channels"].clear()
    config["channels"]["email"] = dict(EMAIL_CONFIG)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return make_repo(tmp_path / "status", config=_config)


@pytest.fixture
def subscribers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "secrets" / "email-subscribers.json"
    path.parent.mkdir()
    items = [
        {"email": "alice@customer.example"},
        {"email": "bob@customer.example", "components": ["api"]},
        {"email": "web-only@customer.example", "components": ["web"]},
        {"email": "ONCALL@example.com"},  # also in `to`: one copy only
    ]
    path.write_text(json.dumps(items), encoding="utf-8")
    monkeypatch.setenv(email_channel.SUBSCRIBERS_ENV, str(path))
    return path


def _incident(repo: Repo, title: str = "API unavailable") -> str:
    return open_incident(
        repo,
        title,
        severity="sev1",
        components={"api": "major_outage"},
        message="We are investigating elevated error rates on the API.",
        next_update="30m",
    ).incident.id


def _assert_nothing_leaked(repo: Repo, *outputs: str) -> None:
    history = git(repo.root, "log", "-p", "--all")
    files = "\n".join(
        path.read_text(encoding="utf-8", errors="replace")
        for path in repo.root.rglob("*")
        if path.is_file() and ".git" not in path.parts
    )
    # The `to` list lives in incidentctl.yaml by design; subscribers and the SMTP URL never reach the repo.
    for text in (history, files):
        for address in SUBSCRIBERS:
            assert address not in text
        assert PASSWORD not in text
    for text in outputs:
        for address in EVERY_ADDRESS:
            assert address not in text.lower()
        assert PASSWORD not in text and "127.0.0.1" not in text


def test_threaded_multipart_mail_one_envelope_each(
    repo: Repo, mailbox: Mailbox, subscribers: Path, cli: Callable[..., Any]
) -> None:
    incident_id = _incident(repo, 'API <down> & "slow"')
    add_update(repo, incident_id, message="Internal: the router config push.", internal=True)
    add_update(repo, incident_id, message="Fix <b>identified</b>; rolling back.", status="identified")
    resolve_incident(repo, incident_id, message="Error rates are back to normal.")

    started = time.monotonic()
    result = cli("publish", "--json", repo=repo.root)
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(d["channel"], d["state"]) for d in report["deliveries"]] == [("email", "delivered")] * 3

    # Recipients: `to` + subscribers watching `api` (web-only hears nothing); ONCALL deduplicated.
    expected = ["oncall@example.com", "exec-team@example.com", "alice@customer.example", "bob@customer.example"]
    assert all(len(item["rcpt"]) == 1 for item in mailbox.messages), "one envelope per recipient"
    assert sorted(item["rcpt"][0] for item in mailbox.messages) == sorted(expected * 3)
    assert mailbox.to("web-only@customer.example") == []
    # Batches of 2 with 0.2 s pauses: 4 recipients x 3 entries = 3 pauses at least.
    assert elapsed >= 0.6

    for address in expected:
        first, second, last = mailbox.to(address)
        assert [m["To"] for m in (first, second, last)] == [address] * 3, "only the recipient's own address"
        assert all(m["From"] == "Example Status <status@example.com>" for m in (first, second, last))
        # One thread: stable ids from the incident and entry, later ones refer to the first.
        assert first["Message-ID"].startswith(f"<{incident_id}.") and first["Message-ID"].endswith("@example.com>")
        assert first["In-Reply-To"] is None and first["References"] is None
        for later in (second, last):
            assert later["In-Reply-To"] == first["Message-ID"]
            assert later["References"] == first["Message-ID"]
        assert len({m["Message-ID"] for m in (first, second, last)}) == 3
        assert {m["Subject"] for m in (first, second, last)} == {'[Example Corp] API <down> & "slow"'}
        assert first["List-Unsubscribe"] == "<https://status.example.com/unsubscribe>"
        assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        # Plain text + HTML; the HTML escapes incident text.
        assert first.get_content_type() == "multipart/alternative"
        text = first.get_body(("plain",)).get_content()
        html = second.get_body(("html",)).get_content()
        assert text.startswith('Investigating: API <down> & "slow"')
        assert "Fix &lt;b&gt;identified&lt;/b&gt;; rolling back." in html and "<b>identified" not in html
        assert "API &lt;down&gt; &amp;" in html
        assert "Resolved after" in last.get_body(("plain",)).get_content()
    # The same entry has the same Message-ID in every recipient's copy.
    assert len({m["Message-ID"] for m in (item["message"] for item in mailbox.messages)}) == 3
    assert all("router config" not in item["message"].as_string() for item in mailbox.messages)

    # Recorded as hashes of the addresses, never the addresses; committed.
    record = repo.load(incident_id)
    for entry in (e for e in record.timeline if e.public):
        delivery = entry.deliveries["email"]
        assert delivery.state == "delivered"
        assert delivery.refs == [recipient_hash(address) for address in expected]
        assert delivery.ref and delivery.ref.startswith(f"<{incident_id}.")
    assert git(repo.root, "log", "-1", "--format=%s").strip() == f"{incident_id}: published (email: 3 delivered)"

    before = len(mailbox.messages)
    again = cli("publish", repo=repo.root)
    assert again.exit_code == 0 and len(mailbox.messages) == before
    _assert_nothing_leaked(repo, result.output, again.output)


def test_a_refused_recipient_is_retried_next_run_alone(
    repo: Repo, mailbox: Mailbox, subscribers: Path, cli: Callable[..., Any]
) -> None:
    incident_id = _incident(repo)
    mailbox.refuse["bob@customer.example"] = 550
    result = cli("publish", repo=repo.root)
    assert result.exit_code == 3, result.output
    assert no_traceback(result)
    assert "email: 1 of 4 recipients not delivered (1 refused (550))" in result.stderr
    assert mailbox.rcpt_attempts.count("bob@customer.example") == 1, "a permanent refusal is not retried in the run"
    assert len(mailbox.messages) == 3
    delivery = repo.load(incident_id).timeline[0].deliveries["email"]
    assert delivery.state == "failed"
    assert recipient_hash("bob@customer.example") not in delivery.refs and len(delivery.refs) == 3

    mailbox.refuse.clear()
    again = cli("publish", repo=repo.root)
    assert again.exit_code == 0, again.output
    assert len(mailbox.messages) == 4
    assert mailbox.messages[-1]["rcpt"] == ["bob@customer.example"], "only the refused recipient"
    delivery = repo.load(incident_id).timeline[0].deliveries["email"]
    assert delivery.state == "delivered" and len(delivery.refs) == 4
    _assert_nothing_leaked(repo, result.output, again.output)


def test_a_deferred_recipient_is_retried_within_the_run(
    repo: Repo, mailbox: Mailbox, subscribers: Path, cli: Callable[..., Any]
) -> None:
    _incident(repo)
    mailbox.defer["alice@customer.example"] = 2  # 451 twice, like an HTTP 503
    result = cli("publish", "--json", repo=repo.root)
    assert result.exit_code == 0, result.output
    (delivery,) = json.loads(result.stdout)["deliveries"]
    assert delivery["state"] == "delivered" and delivery["attempts"] == 3
    assert len(mailbox.to("alice@customer.example")) == 1
    assert len(mailbox.to("oncall@example.com")) == 1, "retries never resend to who has it"


def test_unreachable_server_then_recovery(
    repo: Repo, subscribers: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _incident(repo)
    monkeypatch.setenv(email_channel.SMTP_URL_ENV, f"smtp+insecure://{USER}:{PASSWORD}@127.0.0.1:{free_port()}")
    result = cli("publish", repo=repo.root)
    assert result.exit_code == 3
    assert (
        "email: 4 of 4 recipients not delivered (cannot reach the SMTP server (ConnectionRefusedError)" in result.stderr
    )
    _assert_nothing_leaked(repo, result.output)


def test_wrong_password_is_fatal_and_not_printed(
    repo: Repo, mailbox: Mailbox, subscribers: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _incident(repo)
    url = __import__("os").environ[email_channel.SMTP_URL_ENV].replace(PASSWORD, "wrong-Secret-99")
    monkeypatch.setenv(email_channel.SMTP_URL_ENV, url)
    result = cli("publish", repo=repo.root)
    assert result.exit_code == 3
    assert "the SMTP server refused the login (535)" in result.stderr
    assert "wrong-Secret-99" not in result.output and mailbox.messages == []


def test_crashed_run_is_finished_without_a_double_send(
    repo: Repo, mailbox: Mailbox, subscribers: Path, cli: Callable[..., Any]
) -> None:
    incident_id = _incident(repo)
    incident = repo.load(incident_id)
    got_it = [recipient_hash("oncall@example.com"), recipient_hash("exec-team@example.com")]
    entry = incident.timeline[0].model_copy(
        update={"deliveries": {"email": Delivery(state="pending", attempts=1, refs=got_it)}}
    )
    repo.save(incident.model_copy(update={"timeline": [entry]}))
    result = cli("publish", repo=repo.root)
    assert result.exit_code == 0, result.output
    assert sorted(item["rcpt"][0] for item in mailbox.messages) == ["alice@customer.example", "bob@customer.example"]
    delivery = repo.load(incident_id).timeline[0].deliveries["email"]
    assert delivery.state == "delivered" and delivery.attempts == 2 and len(delivery.refs) == 4


def test_dry_run_shows_the_mail_without_network(repo: Repo, cli: Callable[..., Any]) -> None:
    _incident(repo)
    result = cli("publish", "--dry-run", "--channel", "email", repo=repo.root)
    assert result.exit_code == 0, result.output
    assert "Subject: [Example Corp] API unavailable" in result.stdout
    assert "Investigating: API unavailable" in result.stdout
    as_json = json.loads(cli("publish", "--dry-run", "--json", "--channel", "email", repo=repo.root).stdout)
    (preview,) = as_json["previews"]
    assert preview["payload"]["message_id"].startswith("<")
    assert "<html" in preview["payload"]["html"]
    assert "oncall@example.com" not in result.stdout


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('[{"email": "not-an-address"}]', "item 1: email: not an email address"),
        ('[{"email": "a@b.example", "components": ["nope"]}]', "item 1: components: unknown component 'nope'"),
        ('[{"mail": "someone@b.example"}]', "item 1: email: Field required"),
    ],
)
def test_bad_subscribers_file_never_shows_addresses(
    repo: Repo,
    mailbox: Mailbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., Any],
    content: str,
    expected: str,
) -> None:
    _incident(repo)
    path = tmp_path / "subs.json"
    path.write_text(content, encoding="utf-8")
    monkeypatch.setenv(email_channel.SUBSCRIBERS_ENV, str(path))
    result = cli("publish", repo=repo.root)
    assert result.exit_code == 3 and no_traceback(result)
    assert expected in result.output
    assert "not-an-address" not in result.output and "b.example" not in result.output


def test_smtp_url_forms() -> None:
    parse = email_channel.parse_smtp_url
    assert parse("smtp://u%40x:p%3Aw@mail.example.com") == email_channel.SmtpTarget(
        "smtp", "mail.example.com", 587, "u@x", "p:w"
    )
    assert parse("smtps://mail.example.com").port == 465
    assert parse("smtp+insecure://127.0.0.1:2525").port == 2525
    with pytest.raises(Exception, match="must start with smtp://") as info:
        parse("http://user:topsecret@mail.example.com")
    assert "topsecret" not in str(info.value)


def test_subprocess_publish_finds_the_channel_by_entry_point(repo: Repo, mailbox: Mailbox, subscribers: Path) -> None:
    """`channels: {email: {...}}` works through a real `incidentctl publish` process."""
    incident_id = _incident(repo)
    result = run_subprocess("publish", cwd=repo.root)
    assert result.returncode == 0, result.stderr
    assert len(mailbox.messages) == 4
    assert repo.load(incident_id).timeline[0].deliveries["email"].state == "delivered"
    _assert_nothing_leaked(repo, result.stdout, result.stderr)

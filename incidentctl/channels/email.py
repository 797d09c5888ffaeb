"""Email: one message per public entry, each recipient on its own envelope, one thread per incident.

The SMTP server is ``INCIDENTCTL_SMTP_URL``: ``smtp://user:pass@host:port`` (STARTTLS, port 587 by
default), ``smtps://`` (TLS from the start, 465) or ``smtp+insecure://`` (plain, for tests; 25).
Recipients are ``channels.email.to`` and, optionally, the subscribers in the YAML/JSON file named by
``INCIDENTCTL_EMAIL_SUBSCRIBERS`` (``{email, components?}``; a subscriber with ``components`` gets
only entries touching them). Every recipient gets their own copy with only their address in ``To``.

Threading: the ``Message-ID`` of an entry is derived from ids, ``<incident-id.entry-stamp@domain>``
(the domain of ``from``), and every later message refers to the incident's first one with
``In-Reply-To`` and ``References``; the subject stays ``[prefix] Title`` for the whole incident (the
status leads the body), so every mail client, Gmail included, keeps one conversation.

The record keeps, per entry, which recipients got it as ``sha256(lowercased address)[:16]`` in the
delivery's ``refs``: never an address. A refused recipient is retried by the next ``publish``;
those who got the entry never get it again. Server replies (which often quote the address) are
never printed: only SMTP codes and counts.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import ConfigError
from .base import (
    ChannelSettings,
    ConnectContext,
    Message,
    Preview,
    ProgressHook,
    RenderContext,
    Secret,
    SendError,
    Sent,
)
from .subscribers import (
    check_components,
    entry_stamp,
    load_subscriber_file,
    recipient_hash,
    touched_components,
    wants,
)

if TYPE_CHECKING:
    import smtplib
    from email.message import EmailMessage

    from ..model import Incident

CHANNEL = "email"
SMTP_URL_ENV = "INCIDENTCTL_SMTP_URL"
SUBSCRIBERS_ENV = "INCIDENTCTL_EMAIL_SUBSCRIBERS"
TEXT_TEMPLATE = "email.txt.j2"
HTML_TEMPLATE = "email.html.j2"
SECRETS = (
    Secret(SMTP_URL_ENV, f"export {SMTP_URL_ENV}=smtp://user:pass@host:port (STARTTLS) or smtps://... (TLS)"),
    Secret(
        SUBSCRIBERS_ENV,
        f"optional: export {SUBSCRIBERS_ENV}=the path of a YAML/JSON list of {{email, components?}}",
        required=False,
    ),
)
_PORTS = {"smtp": 587, "smtps": 465, "smtp+insecure": 25}
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


def _check_address(value: str) -> str:
    value = value.strip()
    if not _ADDRESS.match(value):
        raise ValueError("not an email address (name@domain)")
    return value


class EmailSettings(ChannelSettings):
    """``channels.email`` in incidentctl.yaml."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, hide_input_in_errors=True, defer_build=True)
    from_: str = Field(alias="from")
    """The sender: ``status@example.com`` or ``Example Status <status@example.com>``."""
    to: list[str] = Field(default_factory=list)
    subject_prefix: str | None = None
    """Default: ``[Organization]``."""
    unsubscribe_url: str | None = None
    """Adds ``List-Unsubscribe`` (and RFC 8058 one-click ``List-Unsubscribe-Post`` for https URLs)."""
    batch_size: int = Field(default=50, ge=1)
    batch_pause: float = Field(default=1.0, ge=0)
    """Seconds to wait after every ``batch_size`` recipients (the SMTP server's rate limits)."""

    @field_validator("from_")
    @classmethod
    def _sender(cls, value: str) -> str:
        from email.utils import parseaddr

        _check_address(parseaddr(value)[1])
        if "\n" in value or "\r" in value:
            raise ValueError("must be one line")
        return value.strip()

    @field_validator("to")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        return [_check_address(address) for address in value]

    @field_validator("unsubscribe_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and (
            not value.startswith(("https://", "http://", "mailto:")) or any(c in value for c in " <>\r\n")
        ):
            raise ValueError("must be an https://, http:// or mailto: URL")
        return value

    @property
    def sender_address(self) -> str:
        from email.utils import parseaddr

        return parseaddr(self.from_)[1]


class EmailSubscriber(BaseModel):
    """One item of ``$INCIDENTCTL_EMAIL_SUBSCRIBERS``."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    email: str
    components: list[str] | None = None

    @field_validator("email")
    @classmethod
    def _address(cls, value: str) -> str:
        return _check_address(value)


@dataclass(frozen=True)
class SmtpTarget:
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None


def parse_smtp_url(value: str) -> SmtpTarget:
    """``INCIDENTCTL_SMTP_URL`` → where and how to connect; errors never repeat the value."""
    from urllib.parse import unquote, urlsplit

    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        raise ConfigError(f"{CHANNEL}: {SMTP_URL_ENV}: not a valid URL (smtp://user:pass@host:port)") from None
    if parts.scheme not in _PORTS:
        raise ConfigError(f"{CHANNEL}: {SMTP_URL_ENV}: must start with smtp://, smtps:// or smtp+insecure://")
    if not parts.hostname:
        raise ConfigError(f"{CHANNEL}: {SMTP_URL_ENV}: no host (smtp://user:pass@host:port)")
    return SmtpTarget(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port or _PORTS[parts.scheme],
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())


def message_id(incident_id: str, stamp: str, domain: str) -> str:
    return f"<{incident_id}.{stamp}@{domain}>"


# -- the channel ----------------------------------------------------------------------------------


def settings_of(value: Any) -> EmailSettings:
    """The validated ``channels.email`` settings; ``from`` is required, so there are no defaults."""
    if not isinstance(value, EmailSettings):
        raise ConfigError(f"incidentctl.yaml: channels.{CHANNEL}.from: Field required (the sender's address)")
    return value


class EmailChannel:
    """Plain-text + HTML mail over SMTP to ``to`` and the subscribers in ``$INCIDENTCTL_EMAIL_SUBSCRIBERS``."""

    name = CHANNEL
    settings_model = EmailSettings
    secrets = SECRETS
    edits_root = False

    def render(self, context: RenderContext) -> Message:
        settings = settings_of(context.settings)
        incident, entry = context.incident, context.entry
        domain = settings.sender_address.rsplit("@", 1)[1]
        stamp = entry_stamp(incident, entry)
        first = incident.timeline[0]
        root = None if context.is_first else message_id(incident.id, entry_stamp(incident, first), domain)
        prefix = settings.subject_prefix if settings.subject_prefix is not None else f"[{context.config.organization}]"
        title = f"Maintenance: {incident.title}" if incident.is_maintenance else incident.title
        subject = _one_line(f"{prefix} {title}")
        extra: dict[str, Any] = {"subject": subject, "unsubscribe_url": settings.unsubscribe_url}
        text = context.render_template(TEXT_TEMPLATE, **extra)
        html = context.render_template(HTML_TEMPLATE, **extra)
        payload = {
            "subject": subject,
            "message_id": message_id(incident.id, stamp, domain),
            "in_reply_to": root,
            "date": entry.at.isoformat(),
            "text": text,
            "html": html,
            "touched": touched_components(incident, entry),
            "stamp": stamp,
        }
        return Message(channel=CHANNEL, text=f"Subject: {subject}\n\n{text.strip()}", payload=payload)

    def show(self, preview: Preview, *, demo: bool) -> list[str]:
        payload = preview.payload
        headers = [f"Subject: {payload.get('subject')}", f"Message-ID: {payload.get('message_id')}"]
        if payload.get("in_reply_to"):
            headers.append(f"In-Reply-To: {payload['in_reply_to']}")
        body = str(payload.get("text") or "").strip().splitlines()
        if not demo:
            return [*headers, "", *body]
        label = "new thread" if preview.kind == "post" else "reply in the incident's thread"
        return [f"[{CHANNEL}, {label}, one copy per recipient]", *(f"  {line}" for line in [*headers[:1], "", *body])]

    def connect(self, context: ConnectContext) -> EmailSender:
        settings = settings_of(context.settings)
        url = os.environ.get(SMTP_URL_ENV, "").strip()
        if not url:
            raise ConfigError(f"{CHANNEL}: {SMTP_URL_ENV} is not set: export smtp://user:pass@host:port to send email")
        target = parse_smtp_url(url)
        subscribers = load_subscriber_file(SUBSCRIBERS_ENV, EmailSubscriber, CHANNEL, required=False) or []
        for number, subscriber in enumerate(subscribers, 1):
            check_components(context.config, subscriber.components, f"{CHANNEL}: {SUBSCRIBERS_ENV}: item {number}")
        return EmailSender(settings, target, subscribers, sleep=context.retry.sleep, timeout=context.retry.timeout)


@dataclass(frozen=True)
class _Recipient:
    address: str
    key: str
    components: list[str] | None


class _Failure(Exception):
    def __init__(self, reason: str, *, retryable: bool, maybe_sent: bool = False, fatal: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.maybe_sent = maybe_sent
        self.fatal = fatal


class EmailSender:
    """One run's SMTP deliveries; remembers per entry who got it (and who was refused) in this run."""

    def __init__(
        self,
        settings: EmailSettings,
        target: SmtpTarget,
        subscribers: list[EmailSubscriber],
        sleep: Callable[[float], None] = time.sleep,
        *,
        timeout: float = 5.0,
    ) -> None:
        self.settings = settings
        self.target = target
        self.sleep = sleep
        self.timeout = timeout
        recipients: dict[str, _Recipient] = {}
        for address in settings.to:
            recipients.setdefault(recipient_hash(address), _Recipient(address, recipient_hash(address), None))
        for subscriber in subscribers:
            key = recipient_hash(subscriber.email)
            if key not in recipients:
                recipients[key] = _Recipient(subscriber.email, key, subscriber.components)
        self.recipients = list(recipients.values())
        self._done: dict[tuple[str, str], set[str]] = {}
        self._refused: dict[tuple[str, str], dict[str, str]] = {}
        self.record_progress: ProgressHook | None = None
        """Set by the engine: saves the recipients an entry reached before the next one is tried."""

    # -- SMTP -------------------------------------------------------------------------------------

    def _open(self) -> smtplib.SMTP:
        import smtplib
        import ssl

        target = self.target
        try:
            if target.scheme == "smtps":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    target.host, target.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(target.host, target.port, timeout=self.timeout)
                if target.scheme == "smtp":
                    client.starttls(context=ssl.create_default_context())
            if target.username:
                client.login(target.username, target.password or "")
            return client
        except smtplib.SMTPAuthenticationError as exc:
            raise _Failure(
                f"the SMTP server refused the login ({exc.smtp_code}): check the user and password in {SMTP_URL_ENV}",
                retryable=False,
                fatal=True,
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise _Failure(
                f"the SMTP server does not offer STARTTLS or AUTH: use smtps:// in {SMTP_URL_ENV}",
                retryable=False,
                fatal=True,
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise _Failure(f"the SMTP server answered {exc.smtp_code}", retryable=exc.smtp_code < 500) from None
        except ssl.SSLError as exc:
            raise _Failure(
                f"TLS failed ({type(exc).__name__}): check {SMTP_URL_ENV}", retryable=False, fatal=True
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise _Failure(
                f"cannot reach the SMTP server ({type(exc).__name__}): check the network or {SMTP_URL_ENV}",
                retryable=True,
            ) from None

    def _build(self, message: Message, recipient: _Recipient) -> EmailMessage:
        from datetime import datetime
        from email.message import EmailMessage
        from email.utils import format_datetime

        payload = message.payload
        mail = EmailMessage()
        mail["Subject"] = payload["subject"]
        mail["From"] = self.settings.from_
        mail["To"] = recipient.address
        mail["Date"] = format_datetime(datetime.fromisoformat(payload["date"]))
        mail["Message-ID"] = payload["message_id"]
        if payload.get("in_reply_to"):
            mail["In-Reply-To"] = payload["in_reply_to"]
            mail["References"] = payload["in_reply_to"]
        mail["Auto-Submitted"] = "auto-generated"
        if self.settings.unsubscribe_url:
            mail["List-Unsubscribe"] = f"<{self.settings.unsubscribe_url}>"
            if self.settings.unsubscribe_url.startswith("https://"):
                mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        mail.set_content(payload["text"])
        mail.add_alternative(payload["html"], subtype="html")
        return mail

    def _deliver_one(self, client: smtplib.SMTP, message: Message, recipient: _Recipient) -> None:
        import smtplib

        try:
            client.send_message(
                self._build(message, recipient), from_addr=self.settings.sender_address, to_addrs=[recipient.address]
            )
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()))[0] if exc.recipients else 550
            raise _Failure(f"refused ({code})", retryable=400 <= code < 500) from None
        except smtplib.SMTPSenderRefused as exc:
            raise _Failure(
                f"the SMTP server refused the sender ({exc.smtp_code}): check channels.email.from",
                retryable=400 <= exc.smtp_code < 500,
                fatal=exc.smtp_code >= 500,
            ) from None
        except smtplib.SMTPServerDisconnected:
            raise _Failure("the SMTP server closed the connection", retryable=True, maybe_sent=True) from None
        except smtplib.SMTPResponseException as exc:
            raise _Failure(f"rejected ({exc.smtp_code})", retryable=400 <= exc.smtp_code < 500) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise _Failure(f"connection lost ({type(exc).__name__})", retryable=True, maybe_sent=True) from None

    # -- Sender -----------------------------------------------------------------------------------

    def _eligible(self, message: Message) -> list[_Recipient]:
        touched = list(message.payload.get("touched") or [])
        return [recipient for recipient in self.recipients if wants(recipient.components, touched)]

    @staticmethod
    def _recorded(incident: Incident, timeline_index: int) -> list[str]:
        delivery = incident.timeline[timeline_index].deliveries.get(CHANNEL)
        return list(delivery.refs) if delivery is not None else []

    def send(self, incident: Incident, timeline_index: int, message: Message) -> Sent:
        key = (incident.id, str(message.payload["stamp"]))
        done = self._done.setdefault(key, set())
        refused = self._refused.setdefault(key, {})
        recorded = self._recorded(incident, timeline_index)
        eligible = self._eligible(message)
        todo = [r for r in eligible if r.key not in done and r.key not in recorded and r.key not in refused]
        failures: dict[str, _Failure] = {}
        stop: _Failure | None = None
        if todo:
            try:
                client = self._open()
            except _Failure as failure:
                stop = failure
            else:
                try:
                    for number, recipient in enumerate(todo):
                        if number and number % self.settings.batch_size == 0 and self.settings.batch_pause:
                            self.sleep(self.settings.batch_pause)
                        try:
                            self._deliver_one(client, message, recipient)
                        except _Failure as failure:
                            if failure.fatal or failure.maybe_sent:
                                stop = failure
                                break
                            failures[recipient.key] = failure
                            if not failure.retryable:
                                refused[recipient.key] = failure.reason
                            continue
                        done.add(recipient.key)
                        if self.record_progress is not None:
                            reached = [*recorded, *(r.key for r in eligible if r.key in done)]
                            self.record_progress(incident.id, timeline_index, list(dict.fromkeys(reached)))
                finally:
                    try:
                        client.quit()
                    except Exception:  # noqa: BLE001, S110 - the messages are sent; a failed QUIT changes nothing
                        pass
        delivered = [r.key for r in eligible if r.key in done or r.key in recorded]
        refs = list(dict.fromkeys([*recorded, *delivered]))
        missing = [r for r in eligible if r.key not in delivered]
        if not missing:
            return Sent(ref=str(message.payload["message_id"]), refs=tuple(refs))
        if stop is not None:
            detail = stop.reason
        else:
            codes: dict[str, int] = {}
            for recipient in missing:
                reason = (
                    failures[recipient.key].reason
                    if recipient.key in failures
                    else refused.get(recipient.key, "not sent")
                )
                codes[reason] = codes.get(reason, 0) + 1
            detail = ", ".join(f"{count} {reason}" for reason, count in codes.items())
        retryable = (stop.retryable if stop is not None else False) or any(f.retryable for f in failures.values())
        error = SendError(
            f"{CHANNEL}: {len(missing)} of {len(eligible)} recipients not delivered ({detail})",
            retry_after=0.0 if retryable else None,
            maybe_sent=stop is not None and stop.maybe_sent,
            fatal=stop is not None and stop.fatal,
        )
        error.partial_refs = refs
        raise error

    def find_sent(self, incident: Incident, timeline_index: int, message: Message) -> Sent | None:
        """Delivered when every current recipient of the entry is recorded (or got it in this run)."""
        recorded = self._recorded(incident, timeline_index)
        done = self._done.get((incident.id, str(message.payload["stamp"])), set())
        eligible = self._eligible(message)
        if all(r.key in recorded or r.key in done for r in eligible):
            refs = [*recorded, *(r.key for r in eligible if r.key in done)]
            return Sent(ref=str(message.payload["message_id"]), refs=tuple(dict.fromkeys(refs)))
        return None

    def finish(self, incident: Incident, latest: Message | None) -> None:
        return None

"""A real SMTP server on 127.0.0.1 (aiosmtpd) keeping every accepted message, for the email channel.

    with FakeSmtp() as smtp:
        monkeypatch.setenv("INCIDENTCTL_SMTP_URL", smtp.url)  # smtp+insecure://USER:PASSWORD@127.0.0.1:port
        ...
        smtp.mailbox.messages  # [{"from", "rcpt", "message": EmailMessage}]

The login is ``USER``/``PASSWORD``. ``Mailbox.refuse``/``defer`` refuse or defer chosen recipients at
RCPT; ``Mailbox.latency`` answers DATA that long after keeping the message (a run killed meanwhile
had its mail accepted without hearing so).
"""

from __future__ import annotations

import asyncio
import socket
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

USER, PASSWORD = "mailer", "smtp-pa55word-Q7"


class Mailbox:
    """aiosmtpd handler: keeps every accepted message; refuses or defers chosen recipients at RCPT."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.refuse: dict[str, int] = {}
        self.defer: dict[str, int] = {}
        self.rcpt_attempts: list[str] = []
        self.latency = 0.0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        self.rcpt_attempts.append(address)
        if address in self.refuse:
            # Real servers quote the address back: it must never reach our output.
            return f"{self.refuse[address]} 5.1.1 <{address}>: Recipient address rejected"
        if self.defer.get(address, 0) > 0:
            self.defer[address] -= 1
            return f"451 4.7.1 <{address}>: try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
        self.messages.append({"from": envelope.mail_from, "rcpt": list(envelope.rcpt_tos), "message": parsed})
        if self.latency:
            await asyncio.sleep(self.latency)
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [item["message"] for item in self.messages if address in item["rcpt"]]


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return (
        AuthResult(success=ok, handled=False)
        if ok
        else AuthResult(success=False, handled=False, message="535 5.7.8 Authentication credentials invalid")
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeSmtp:
    """The server: ``url`` is what ``INCIDENTCTL_SMTP_URL`` takes; ``mailbox`` what it accepted."""

    def __init__(self, mailbox: Mailbox | None = None) -> None:
        from aiosmtpd.controller import Controller

        self.mailbox = mailbox or Mailbox()
        self.port = free_port()
        self._controller = Controller(
            self.mailbox, hostname="127.0.0.1", port=self.port, authenticator=authenticator, auth_require_tls=False
        )

    @property
    def url(self) -> str:
        return f"smtp+insecure://{USER}:{PASSWORD}@127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[str]:
        """Every RCPT the server was asked for (a rerun that sends nothing adds none)."""
        return self.mailbox.rcpt_attempts

    @property
    def latency(self) -> float:
        return self.mailbox.latency

    @latency.setter
    def latency(self, value: float) -> None:
        self.mailbox.latency = value

    def __enter__(self) -> FakeSmtp:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

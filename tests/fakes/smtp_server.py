"""A real SMTP server on 127.0.0.1 (aiosmtpd) for the e-mail destination tests: records every
message it accepts, and refuses the recipients a test names with the reply it gives (e.g. "550
5.1.1 no such user" for good, "450 4.2.1 mailbox busy" for now).

    with fake_smtp() as smtp, override_settings(**smtp.settings()):
        ... send ...
        [message] = smtp.messages
        assert message["Subject"] == "..."
"""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests import processes


class Recorder:
    """aiosmtpd's handler: RCPT refusals as told, DATA parsed and kept."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []  # (MAIL FROM, RCPT TO)
        self.refuse: dict[str, str] = {}  # address -> SMTP reply
        self._lock = threading.Lock()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class FakeSmtp:
    def __init__(self, port: int) -> None:
        self.recorder = Recorder()
        self.port = port
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=port)

    @property
    def messages(self) -> list[EmailMessage]:
        return self.recorder.messages

    def refuse(self, address: str, reply: str = "550 5.1.1 no such user") -> None:
        self.recorder.refuse[address] = reply

    def settings(self) -> dict[str, Any]:
        """The Django settings that send through this server."""
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": self.port,
            "EMAIL_USE_TLS": False,
            "EMAIL_USE_SSL": False,
            "EMAIL_HOST_USER": "",
            "EMAIL_HOST_PASSWORD": "",
        }


@contextmanager
def fake_smtp(port: int | None = None) -> Iterator[FakeSmtp]:
    """The server, listening until the block ends (on `port`, to come back where it was down)."""
    fake = FakeSmtp(port or processes.free_port())
    fake.controller.start()
    try:
        yield fake
    finally:
        fake.controller.stop()

"""E-mail transport: Django's mail (SMTP from the EMAIL_* settings, the console when no
EMAIL_HOST is set). Subject: the notice's title; body: its text, its details and the link.
Recipients the server refuses for good (5xx) are permanent; a refusal for now (4xx), a server
that cannot be reached or any other SMTP error is transient."""

from __future__ import annotations

import smtplib

from django.core.mail import EmailMessage

from budgets.delivery.errors import NotifyError
from budgets.messages import Notice

MAX_SUBJECT = 200


def send_notice(recipients: list[str], notice: Notice) -> None:
    """Send one e-mail to all the recipients, or raise NotifyError."""
    message = EmailMessage(subject=subject(notice), body=body(notice), to=recipients)
    try:
        message.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(f"{address} ({code} {reply!r})" for address, (code, reply) in exc.recipients.items())
        permanent = all(code >= 500 for code, _ in exc.recipients.values())
        raise NotifyError(f"the mail server refused {refused}"[:500], permanent=permanent) from None
    except OSError as exc:  # smtplib.SMTPException is one; refused connections, timeouts, TLS
        raise NotifyError(f"could not send the e-mail: {exc}") from None


def subject(notice: Notice) -> str:
    """The title on one line (names from spans may hold line breaks, which a header may not)."""
    return " ".join(notice.title.split())[:MAX_SUBJECT]


def body(notice: Notice) -> str:
    details = "\n".join(f"{label}: {value}" for label, value in notice.details)
    return "\n\n".join(part for part in (notice.text, details, notice.url) if part) + "\n"

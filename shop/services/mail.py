"""Outgoing mail: queued after commit, sent by a background thread, over SMTP.

A request never waits for mail: ``send_later`` puts the message on an outbox that one
thread per process empties. So a password-reset answer takes the same time whether or
not a message is sent (no account enumeration by timing), and a slow or failing mail
server costs no request anything. ``drain`` waits for the outbox (tests, shutdown).

``SHOP_SMTP_URL`` picks the SMTP server (stdlib ``smtplib``). Without it, in development
only, messages are logged instead; outside development the shop refuses to start
without SMTP, because the log would hold reset codes.
"""

from __future__ import annotations

import atexit
import logging
import queue
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from shop.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    body: str


Mailer = Callable[[Message], None]


def log_mailer(message: Message) -> None:
    """Development only (configure() refuses it elsewhere): the body may hold a reset code."""
    log.info("mail to %s: %s\n%s", message.to, message.subject, message.body)


def smtp_mailer(url: str, sender: str, *, timeout: float = 10.0) -> Mailer:
    """A mailer for ``smtp://``, ``smtps://`` (TLS) or ``smtp+starttls://`` URLs, with
    optional ``user:password@`` (percent-encoded)."""
    parts = urlsplit(url)
    secure = parts.scheme == "smtps"
    starttls = parts.scheme == "smtp+starttls"
    host = parts.hostname or "localhost"
    port = parts.port or (465 if secure else 587 if starttls else 25)
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None

    def send(message: Message) -> None:
        email = EmailMessage()
        email["From"], email["To"], email["Subject"] = sender, message.to, message.subject
        email.set_content(message.body)
        context = ssl.create_default_context()
        smtp = (smtplib.SMTP_SSL(host, port, timeout=timeout, context=context) if secure
                else smtplib.SMTP(host, port, timeout=timeout))
        with smtp:
            if starttls:
                smtp.starttls(context=context)
            if user:
                smtp.login(user, password or "")
            smtp.send_message(email)

    return send


_mailer: Mailer = log_mailer


def configure(settings: Settings) -> None:
    """Install the mailer the settings call for (settings already refused a production
    configuration without SMTP)."""
    set_mailer(smtp_mailer(settings.smtp_url, settings.mail_from) if settings.smtp_url
               else log_mailer)


def set_mailer(mailer: Mailer) -> Mailer:
    """Install a mailer (tests install one that records); returns the previous one."""
    global _mailer
    previous, _mailer = _mailer, mailer
    return previous


def send(message: Message) -> None:
    _mailer(message)


def send_quietly(message: Message) -> bool:
    """Send, logging instead of raising (the recipient, never the body)."""
    try:
        send(message)
    except Exception:
        log.exception("could not send mail to %s", message.to)
        return False
    return True


# --- the outbox ----------------------------------------------------------------------------

_outbox: queue.Queue[Message] = queue.Queue()
_worker: threading.Thread | None = None
_worker_lock = threading.Lock()


def _run() -> None:
    while True:
        message = _outbox.get()
        try:
            send_quietly(message)
        finally:
            _outbox.task_done()


def send_later(message: Message) -> None:
    """Queue ``message``; call it after the transaction that decided to send has committed."""
    global _worker
    with _worker_lock:
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_run, name="shop-mail", daemon=True)
            _worker.start()
    _outbox.put(message)


def drain(timeout: float = 10.0) -> bool:
    """Wait until every queued message has been handed to the mailer; False on time-out."""
    deadline = time.monotonic() + timeout
    while _outbox.unfinished_tasks:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


atexit.register(drain, 5.0)

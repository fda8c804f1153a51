"""Outgoing mail, sent after commit. The default mailer logs; deployments plug in their own."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    body: str


Mailer = Callable[[Message], None]


def log_mailer(message: Message) -> None:
    log.info("mail to %s: %s\n%s", message.to, message.subject, message.body)


_mailer: Mailer = log_mailer


def set_mailer(mailer: Mailer) -> Mailer:
    """Install a mailer (tests install one that records); returns the previous one."""
    global _mailer
    previous, _mailer = _mailer, mailer
    return previous


def send(message: Message) -> None:
    _mailer(message)


def send_quietly(message: Message) -> bool:
    """Send, logging instead of raising: for answers that must not depend on the mailer
    (a password reset answers 202 whether or not the account exists, or mail works)."""
    try:
        send(message)
    except Exception:
        log.exception("could not send mail to %s", message.to)
        return False
    return True

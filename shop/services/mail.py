"""Outgoing mail: a durable outbox in the database, sent after commit by a background
thread (and by ``shop mail send`` from cron), over SMTP, from Jinja2 templates.

A mail the shop decides to send is a ``mail_outbox`` row written by :func:`queue` in the
transaction of the event that causes it: an order never exists without its mail queued,
and a rolled-back action queues nothing. Once that transaction commits it wakes this
process's mail thread (``shop.db.after_commit``), which sends every row that is due,
LINGER later, so one claim and one record carry a batch rather than each order's mail. A
request never waits for mail, and a slow or failing mail server costs no request
anything. A send that fails is tried again after 5, 10, 20 ... minutes (at most 4 hours
apart); after MAX_ATTEMPTS tries or GIVE_UP_AFTER the row is left ``failed`` with its last
error, for ``shop mail status`` to show. A row claimed by a process that dies comes due
again after LEASE: mail is sent at least once, never lost.

The password-reset mail is the one exception: its code is kept hashed, never in plain text
in the database (nor its backups and replicas), so it goes straight to the same thread's
in-memory queue after commit (:func:`send_later`); a crash loses it, and the user asks
again. ``drain`` waits for the thread (tests, shutdown).

``SHOP_SMTP_URL`` picks the SMTP server (stdlib ``smtplib``). Without it, in development
only, messages are logged instead (a guest's order token redacted); outside development
the shop refuses to start without SMTP, because the log would hold reset codes.
"""

from __future__ import annotations

import atexit
import logging
import queue as queues
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import jinja2
import peewee

from shop import clock
from shop.config import Settings, get_settings
from shop.db import (
    after_commit,
    before_disconnect,
    database,
    discard_connection,
    execute_unlogged,
    write_transaction,
)
from shop.models import MailOutbox
from shop.services import links as sell_links

log = logging.getLogger(__name__)
REDACTED = "[redacted]"


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    body: str
    html: str | None = None
    # Text that must never reach a log (a guest's order token): the log mailer redacts it.
    secrets: tuple[str, ...] = field(default=(), repr=False)


Mailer = Callable[[Message], None]


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def log_mailer(message: Message) -> None:
    """Development only (configure() refuses it elsewhere): the text part, with the
    message's secrets redacted (a reset code is not one: development resets need it)."""
    log.info("mail to %s: %s\n%s", message.to, message.subject,
             _redact(message.body, message.secrets))


class MailError(Exception):
    """Sending failed; the text names the cause and holds no credential."""


def smtp_mailer(url: str, sender: str, *, name: str = "", timeout: float = 10.0) -> Mailer:
    """A mailer for ``smtp://``, ``smtps://`` (TLS) or ``smtp+starttls://`` URLs, with
    optional ``user:password@`` (percent-encoded). Mail comes from ``name <sender>``."""
    parts = urlsplit(url)
    secure = parts.scheme == "smtps"
    starttls = parts.scheme == "smtp+starttls"
    host = parts.hostname or "localhost"
    port = parts.port or (465 if secure else 587 if starttls else 25)
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    credentials = tuple(c for c in (password, parts.password, user) if c)

    def send(message: Message) -> None:
        email = EmailMessage()
        email["From"] = formataddr((name, sender)) if name else sender
        email["To"], email["Subject"] = message.to, message.subject
        email.set_content(message.body)
        if message.html is not None:
            email.add_alternative(message.html, subtype="html")
        context = ssl.create_default_context()
        try:
            smtp = (smtplib.SMTP_SSL(host, port, timeout=timeout, context=context) if secure
                    else smtplib.SMTP(host, port, timeout=timeout))
            with smtp:
                if starttls:
                    smtp.starttls(context=context)
                if user:
                    smtp.login(user, password or "")
                smtp.send_message(email)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(_redact(f"{type(exc).__name__}: {exc}", credentials)) from None

    return send


_mailer: Mailer = log_mailer


def configure(settings: Settings) -> None:
    """Install the mailer the settings call for (settings already refused a production
    configuration without SMTP)."""
    set_mailer(smtp_mailer(settings.smtp_url, settings.mail_from, name=settings.shop_name)
               if settings.smtp_url else log_mailer)


def set_mailer(mailer: Mailer) -> Mailer:
    """Install a mailer (tests install one that records); returns the previous one."""
    global _mailer
    previous, _mailer = _mailer, mailer
    return previous


def send(message: Message) -> None:
    _mailer(message)


def send_quietly(message: Message) -> bool:
    """Send, logging instead of raising (the recipient and the error, never the body)."""
    try:
        send(message)
    except Exception as exc:
        log.error("could not send mail to %s: %s", message.to,
                  _redact(f"{type(exc).__name__}: {exc}", message.secrets))
        return False
    return True


# --- templates -------------------------------------------------------------------------------

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
CURRENCY_SYMBOLS = {"eur": "€", "gbp": "£", "usd": "$"}

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
    undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    keep_trailing_newline=True)


def _money(cents: int | None) -> str:
    if cents is None:
        return "-"
    currency = str(getattr(get_settings(), "currency", "eur")).lower()
    symbol = CURRENCY_SYMBOLS.get(currency)
    amount = f"{cents // 100:,}.{cents % 100:02d}"
    return f"{symbol}{amount}" if symbol else f"{amount} {currency.upper()}"


_templates.filters["money"] = _money


def _links(base: str, params: dict[str, Any], secret: str | None, recipient: str,
           settings: Settings) -> dict[str, str]:
    """The pages a mail points to: the buyer's order (a guest's with its token: the mail
    goes only to them, and the log mailer redacts it), the seller's submission (signed
    for the seller: services/links.py), and the owner's page of either."""
    links = {}
    if "order_number" in params:
        number = quote(params["order_number"], safe="")
        links["order_url"] = f"{base}/orders/{number}" + (
            f"?token={quote(secret, safe='')}" if secret else "")
        links["admin_url"] = f"{base}/admin/orders/{number}"
    if "batch_id" in params:
        batch = quote(params["batch_id"], safe="")
        links["sell_url"] = sell_links.sell_url(base, params["batch_id"], recipient, settings)
        links["admin_url"] = f"{base}/admin/submissions/{batch}"
    return links


def render(kind: str, recipient: str, params: dict[str, Any], secret: str | None = None,
           settings: Settings | None = None) -> Message:
    """The mail ``kind`` from ``mail/<kind>.txt`` (its ``subject`` block and the text)
    and ``mail/<kind>.html`` (autoescaped), with the shop's name and public address."""
    settings = settings or get_settings()
    context = {**params, "shop": settings.shop_name, "public_url": settings.public_url,
               "secret": secret, "recipient": recipient, **_links(settings.public_url,
                                                                  params, secret, recipient,
                                                                  settings)}
    text = _templates.get_template(f"mail/{kind}.txt")
    subject = " ".join("".join(text.blocks["subject"](text.new_context(context))).split())
    return Message(to=recipient, subject=subject, body=text.render(context),
                   html=_templates.get_template(f"mail/{kind}.html").render(context),
                   secrets=(secret,) if secret else ())


# --- the durable outbox -----------------------------------------------------------------

MAX_ATTEMPTS = 8  # then the row is left failed
GIVE_UP_AFTER = timedelta(hours=24)  # ...or once it is this old, whatever its attempts
FIRST_RETRY = timedelta(minutes=5)  # doubled after each failure...
LONGEST_RETRY = timedelta(hours=4)  # ...up to this
LEASE = timedelta(minutes=10)  # a row being sent comes due again if its sender dies
SEND_BATCH = 100  # rows claimed, and recorded, per transaction

_QUEUE = ("INSERT INTO mail_outbox (kind, recipient, dedupe_key, params, secret, status, "
          "attempts, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, 'queued', 0, ?, ?) "
          "ON CONFLICT (dedupe_key) DO NOTHING")


def queue(kind: str, recipient: str, key: str, params: dict[str, Any], *,
          secret: str | None = None) -> bool:
    """Queue the mail ``kind`` to ``recipient`` about ``key`` (the event, e.g.
    ``order:12``), inside the transaction of that event: it is sent once that transaction
    commits, and never if it rolls back. The same (key, recipient) is queued once: False
    for a repeat. ``secret`` (a guest's order token) is kept apart from ``params`` and
    dropped once the mail is sent or given up."""
    if not database.in_transaction():
        raise RuntimeError("queue mail inside the transaction of the event that causes it")
    now = clock.to_text(clock.now())
    values = (kind, recipient, f"{key}:{recipient}", MailOutbox.params.db_value(params),
              secret, now, now)
    # On this transaction's own connection, not through peewee's execute_sql:
    # peewee logs every statement with its parameters at DEBUG, and these hold the secret.
    cursor = execute_unlogged(_QUEUE, values)
    after_commit(wake)
    return cursor.rowcount == 1


def retry_delay(attempts: int) -> timedelta:
    """How long after its ``attempts``-th failed try a mail is tried again."""
    return min(FIRST_RETRY * 2 ** (attempts - 1), LONGEST_RETRY)


@dataclass
class SendReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


_ANY_DUE = ("SELECT 1 FROM mail_outbox WHERE status = 'queued' AND next_attempt_at <= ? "
            "LIMIT 1")


def _claim(now: datetime, batch: int) -> list[MailOutbox]:
    """Take up to ``batch`` due rows for this sender: each counts an attempt and is not
    due again until LEASE has passed (so two senders never both take a row). When nothing
    is due (another sender took it), one indexed read and no write transaction."""
    due = MailOutbox.next_attempt_at.db_value(now)
    if database.execute_sql(_ANY_DUE, (due,)).fetchone() is None:
        return []
    with write_transaction():
        rows = list(MailOutbox.select()
                    .where((MailOutbox.status == "queued") & (MailOutbox.next_attempt_at <= now))
                    .order_by(MailOutbox.next_attempt_at, MailOutbox.id).limit(batch))
        if rows:
            (MailOutbox.update(attempts=MailOutbox.attempts + 1, next_attempt_at=now + LEASE)
             .where(MailOutbox.id.in_([r.id for r in rows])).execute())
    return rows


def _record(outcomes: list[tuple[MailOutbox, str | None]], report: SendReport) -> None:
    """The outcomes of one batch in one short transaction: every row sent is one UPDATE
    (the common case; a batch then holds the write lock for one statement, not one per
    mail), a failure its own."""
    now = clock.now()
    sent = [row.id for row, error in outcomes if error is None]
    with write_transaction():
        if sent:
            (MailOutbox.update(status="sent", sent_at=now, secret=None, last_error=None,
                               next_attempt_at=now)
             .where(MailOutbox.id.in_(sent) & (MailOutbox.status == "queued")).execute())
            report.sent += len(sent)
        for row, error in outcomes:
            if error is None:
                continue
            attempts = row.attempts + 1
            still_queued = (MailOutbox.id == row.id) & (MailOutbox.status == "queued")
            if attempts >= MAX_ATTEMPTS or now - row.created_at >= GIVE_UP_AFTER:
                (MailOutbox.update(status="failed", secret=None, last_error=error,
                                   next_attempt_at=now).where(still_queued).execute())
                report.failed += 1
                log.error("gave up mail %d (%s) to %s after %d attempts: %s", row.id,
                          row.kind, row.recipient, attempts, error)
            else:
                retry = now + retry_delay(attempts)
                (MailOutbox.update(last_error=error, next_attempt_at=retry)
                 .where(still_queued).execute())
                report.retrying += 1
                log.warning("mail %d (%s) to %s failed (attempt %d), retrying at %s: %s",
                            row.id, row.kind, row.recipient, attempts, clock.to_text(retry),
                            error)


def send_due(*, batch: int = SEND_BATCH) -> SendReport:
    """Send every queued mail that is due (the mail thread after a commit; ``shop mail
    send`` from cron, for what a crashed process left and for retries). No transaction
    is open while a mail goes out."""
    report = SendReport()
    rows = _claim(clock.now(), batch)
    while rows:
        outcomes: list[tuple[MailOutbox, str | None]] = []
        for row in rows:
            try:
                send(render(row.kind, row.recipient, row.params, row.secret))
                outcomes.append((row, None))
            except Exception as exc:
                text = _redact(f"{type(exc).__name__}: {exc}", (row.secret or "",))
                outcomes.append((row, text[:1000]))
        _record(outcomes, report)
        # A short batch took everything due: no second claim just to find none.
        rows = _claim(clock.now(), batch) if len(rows) == batch else []
    return report


def outbox_status(latest: int = 5) -> dict[str, Any]:
    """Counts per status (queued ones split into waiting for a first try and retrying),
    the next one due, and the ``latest`` failures with their last error."""
    counts = dict.fromkeys(("queued", "sent", "failed"), 0)
    for status, n in (MailOutbox.select(MailOutbox.status, peewee.fn.count(MailOutbox.id))
                      .group_by(MailOutbox.status).tuples()):
        counts[status] = n
    retrying = (MailOutbox.select().where((MailOutbox.status == "queued")
                                          & (MailOutbox.last_error.is_null(False))).count())
    due = (MailOutbox.select(peewee.fn.min(MailOutbox.next_attempt_at))
           .where(MailOutbox.status == "queued").scalar())
    failures = [{"id": r.id, "kind": r.kind, "recipient": r.recipient,
                 "attempts": r.attempts, "created_at": clock.to_text(r.created_at),
                 "last_error": r.last_error}
                for r in MailOutbox.select().where(MailOutbox.status == "failed")
                .order_by(MailOutbox.id.desc()).limit(latest)]
    return {**counts, "retrying": retrying, "next_due": due, "failures": failures}


def retention(cutoff: datetime) -> peewee.Expression:
    """The rows ``shop analytics prune`` deletes: sent or given up before ``cutoff``."""
    return (MailOutbox.status.in_(("sent", "failed"))) & (MailOutbox.created_at < cutoff)


# --- the mail thread --------------------------------------------------------------------------
# A wake does not send at once: the thread first lets LINGER pass, so that under load one
# claim and one record (two short write transactions) carry every mail queued meanwhile,
# instead of two per order competing with the orders for the writer queue. Idle, the
# thread sleeps on its queue and reads nothing. drain() (tests, shutdown, disconnect) cuts
# the pause short.
LINGER = 0.25  # seconds between a wake and its claim

_WAKE = object()  # on the queue: send what is due in the database
_outbox: queues.Queue[Any] = queues.Queue()
_worker: threading.Thread | None = None
_worker_lock = threading.Lock()
_wake_pending = False
_hurry = threading.Event()  # set while someone drains: no pause before a claim
_draining = 0


def _send_due_quietly() -> None:
    global _wake_pending
    _hurry.wait(LINGER)
    with _worker_lock:
        _wake_pending = False
    if database.database is None:
        return
    try:
        send_due()
    except Exception:
        log.exception("the mail thread could not send the outbox (`shop mail send` will)")
    finally:  # never keep a connection between wakes (the file may be switched meanwhile)
        discard_connection()


def _run() -> None:
    while True:
        item = _outbox.get()
        try:
            if item is _WAKE:
                _send_due_quietly()
            else:
                send_quietly(item)
        finally:
            _outbox.task_done()


def _put(item: Any) -> None:
    global _worker
    with _worker_lock:
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_run, name="shop-mail", daemon=True)
            _worker.start()
    _outbox.put(item)


def wake() -> None:
    """Have the mail thread send what is due (after a commit that queued mail), LINGER
    later. Wakes that arrive while one is waiting are one wake."""
    global _wake_pending
    with _worker_lock:
        if _wake_pending:
            return
        _wake_pending = True
    _put(_WAKE)


def send_later(message: Message) -> None:
    """Queue ``message`` in memory only (the reset mail: its code is never stored); call
    it after the transaction that decided to send has committed."""
    _put(message)


def drain(timeout: float = 10.0) -> bool:
    """Wait until the mail thread has handed every queued message to the mailer and
    sent what was due at its last wake (without its pause); False on time-out."""
    global _draining
    with _worker_lock:
        _draining += 1
        _hurry.set()
    try:
        deadline = time.monotonic() + timeout
        while _outbox.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True
    finally:
        with _worker_lock:
            _draining -= 1
            if not _draining:
                _hurry.clear()


def _finish_sending() -> None:
    drain(5.0)


atexit.register(_finish_sending)
before_disconnect(_finish_sending)

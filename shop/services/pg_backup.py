"""Backups and restores of a shop on PostgreSQL, with PostgreSQL's own tools.

``backup`` runs ``pg_dump --format=custom`` (one consistent snapshot while the shop
serves), writes ``PATH.partial``, and verifies it the way a SQLite backup is verified: it is
restored into a scratch database on the same server, where every table is counted and the
stock ledger checked (each balance and head against its moves, each hold against its
moves); only then does it take PATH's name, and the scratch database is dropped.

``restore`` restores the dump into a new database beside the live one, checks it there,
and then swaps the names: the live database becomes ``NAME_before_restore_TIMESTAMP`` (kept,
as the SQLite restore keeps the old file) and the restored one becomes ``NAME``. PostgreSQL
refuses to rename a database anyone is connected to, so a running shop is refused (stop it
and its cron jobs first). Both need a user who may create databases (CREATEDB).

Litestream is SQLite only: on PostgreSQL, continuous archiving is the server's own (WAL
archiving / pg_basebackup; docs/scaling.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import peewee

from shop import clock
from shop.errors import Conflict, Invalid, StorageError
from shop.services.backup import Report
from shop.services.pg import database_name, open_database, redact, with_database
from shop.services.stock import ledger_violations

TIMEOUT_SECONDS = 6 * 3600
# Where Debian's postgresql packages put the client tools, when they are not on the PATH.
_BINDIRS = "/usr/lib/postgresql"


def tool(name: str) -> str:
    """``pg_dump`` or ``pg_restore``: the PATH's, else the newest Debian-packaged one."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path(_BINDIRS).glob(f"*/bin/{name}"),
                        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if candidates:
        return str(candidates[-1])
    raise StorageError(f"{name} is not installed: install PostgreSQL's client tools "
                       "(Debian: apt-get install postgresql-client), of the server's "
                       "version or newer")


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and an environment that gives it (never on a command
    line, where `ps` would show it)."""
    parts = urlsplit(url)
    env = {**os.environ}
    if parts.password is not None:
        env["PGPASSWORD"] = parts.password
        host = parts.netloc.rsplit("@", 1)[-1]
        user = f"{parts.username}@" if parts.username else ""
        url = urlunsplit(parts._replace(netloc=f"{user}{host}"))
    return url, env


def _run(argv: list[str], url: str, what: str) -> None:
    plain, env = _libpq(url)
    argv = [*argv, f"--dbname={plain}"]
    try:
        result = subprocess.run(argv, env=env, capture_output=True, text=True,
                                timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired as exc:
        raise StorageError(f"{what} took longer than {TIMEOUT_SECONDS} s; stopped") from exc
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        raise StorageError(f"{what} failed: " + (lines[0] if lines else f"exit "
                                                  f"{result.returncode}"))


def _admin(url: str) -> peewee.Database:
    """A connection to the server's maintenance database (CREATE / ALTER / DROP DATABASE
    run from outside the databases they name)."""
    return open_database(with_database(url, "postgres"))


@contextmanager
def _scratch(url: str, label: str) -> Iterator[str]:
    """A new empty database beside ``url``'s, dropped afterwards; yields its URL."""
    name = f"{database_name(url)}_{label}_{os.getpid()}"[:63]
    admin = _admin(url)
    try:
        admin.execute_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        try:
            admin.execute_sql(f'CREATE DATABASE "{name}" TEMPLATE template0')
        except peewee.DatabaseError as exc:
            raise StorageError(f"cannot create the scratch database {name} to verify the "
                               f"backup in ({_first(exc)}): the user needs CREATEDB") from exc
        try:
            yield with_database(url, name)
        finally:
            admin.execute_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close_all()


def _first(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def check_database(url: str, report: Report) -> Report:
    """Count every table of the shop database at ``url`` and check its ledger with the
    checks of ``shop stock verify`` (:func:`shop.services.stock.ledger_violations`)."""
    db = open_database(url)
    try:
        has_history = db.execute_sql("SELECT to_regclass('public.migratehistory') IS NOT NULL"
                                     ).fetchone()[0]
        if not has_history:
            report.problems.append("not a shop database (no migration history)")
            return report
        tables = [r[0] for r in db.execute_sql(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = "
            "'public'::regnamespace AND relname <> 'migratehistory' ORDER BY relname")]
        report.rows = {t: db.execute_sql(f'SELECT count(*) FROM "{t}"').fetchone()[0]
                       for t in tables}
        with db.atomic(isolation_level="REPEATABLE READ"):  # one snapshot for the checks
            report.problems.extend(f"product {v.product_id} ({v.sku}): {v.problem}"
                                   for v in ledger_violations(db))  # `shop stock verify`'s
    finally:
        db.close_all()
    return report


def _restore_into(dump: Path, url: str) -> None:
    """pg_restore the whole dump into the empty database at ``url``, all or nothing."""
    _run([tool("pg_restore"), "--exit-on-error", "--single-transaction", "--no-owner",
          "--no-privileges", str(dump)], url, f"restoring {dump}")


def verify(dump: Path, url: str) -> Report:
    """Restore ``dump`` into a scratch database on ``url``'s server and check it there."""
    report = Report(Path(dump))
    report.bytes = Path(dump).stat().st_size
    with _scratch(url, "verify") as scratch:
        try:
            _restore_into(dump, scratch)
        except StorageError as exc:
            report.problems.append(str(exc))
            return report
        return check_database(scratch, report)


def backup(url: str, target: Path, *, on_step: Callable[[str], None] | None = None) -> Report:
    """A verified ``pg_dump`` (custom format) of the database at ``url``, at ``target``
    (replaced if it exists). On any failure the partial file is removed and ``target`` is
    left as it was."""
    target = Path(target)
    if target.is_dir():
        raise Invalid(f"{target} is a folder: give the backup a file name inside it")
    if target.parent.exists() and not target.parent.is_dir():
        raise Invalid(f"{target.parent} is a file, not a folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    step = on_step or (lambda _text: None)
    try:
        step(f"dumping {redact(url)} with pg_dump")
        _run([tool("pg_dump"), "--format=custom", f"--file={partial}"], url,
             f"pg_dump of {redact(url)}")
        step("restoring it into a scratch database to verify it")
        report = verify(partial, url)
        if report.problems:
            raise StorageError("the backup failed its checks: " + "; ".join(report.problems[:5]))
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    report.path = target
    return report


def restore(url: str, source: Path, *,
            on_step: Callable[[str], None] | None = None) -> tuple[Report, str | None]:
    """Replace the database at ``url`` with the verified dump at ``source``; returns the
    check of the restored database and the name the old one was kept under (None if there
    was none)."""
    source = Path(source)
    if source.is_dir():
        raise Invalid(f"{source} is a folder: give the backup file inside it")
    if not source.exists():
        raise Invalid(f"there is no backup at {source}")
    step = on_step or (lambda _text: None)
    name = database_name(url)
    incoming = f"{name}_restoring"[:63]
    admin = _admin(url)
    try:
        admin.execute_sql(f'DROP DATABASE IF EXISTS "{incoming}" WITH (FORCE)')
        try:
            admin.execute_sql(f'CREATE DATABASE "{incoming}" TEMPLATE template0')
        except peewee.DatabaseError as exc:
            raise StorageError(f"cannot create the database {incoming} to restore into "
                               f"({_first(exc)}): the user needs CREATEDB") from exc
        swapped = False
        try:
            step(f"restoring {source} into {incoming}")
            _restore_into(source, with_database(url, incoming))
            report = check_database(with_database(url, incoming), Report(source))
            report.bytes = source.stat().st_size
            if report.problems:
                raise StorageError(f"{source} is not a good copy: "
                                   + "; ".join(report.problems[:5]))
            aside = _swap(admin, name, incoming)
            swapped = True
        finally:
            if not swapped:
                admin.execute_sql(f'DROP DATABASE IF EXISTS "{incoming}" WITH (FORCE)')
    finally:
        admin.close_all()
    return report, aside


def _swap(admin: peewee.Database, name: str, incoming: str) -> str | None:
    """``name`` aside (if it exists), ``incoming`` as ``name``, in one transaction."""
    exists = admin.execute_sql("SELECT 1 FROM pg_database WHERE datname = %s",
                               (name,)).fetchone()
    aside = None
    try:
        with admin.atomic():
            if exists:
                stamp = clock.now().strftime("%Y%m%dT%H%M%SZ").lower()
                aside = f"{name}_before_restore_{stamp}"[:63]
                admin.execute_sql(f'ALTER DATABASE "{name}" RENAME TO "{aside}"')
            admin.execute_sql(f'ALTER DATABASE "{incoming}" RENAME TO "{name}"')
    except peewee.DatabaseError as exc:
        if "being accessed by other users" in str(exc):
            raise Conflict("the database is in use: stop the shop (and its cron jobs) "
                           "first") from exc
        raise StorageError(f"cannot put the restored database in place: {_first(exc)}"
                           ) from exc
    return aside

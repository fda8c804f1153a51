"""The ``shop`` command: a thin click layer over the services.

Commands never open transactions or touch models; each calls one service and prints a
one-line summary. Expected failures print one line on stderr and exit 1, without a
traceback; a missing database file (or a bad argument) exits 2, having created nothing.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from shop.config import ConfigError, Settings
from shop.errors import ShopError
from shop.services import jobs, system


class MissingDatabase(click.ClickException):
    """The database file is not there: a typo in --database / SHOP_DATABASE, or a shop that
    was never migrated. Exit 2 (a usage error), having created nothing."""

    exit_code = 2


def _handle_errors(fn: Callable) -> Callable:
    """Turn every failure a user can cause into one line on stderr and a non-zero exit:
    the shop's own errors, bad settings, a file that is not a (migrated) shop database and
    paths the system refuses (missing, unreadable, a folder, ...). A traceback is left
    only for a bug."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with system.storage_errors():
                return fn(*args, **kwargs)
        except (ShopError, ConfigError) as exc:
            raise click.ClickException(str(exc)) from exc
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(f"{where}{exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:  # a password piped in as bytes of another encoding
            raise click.ClickException("the standard input is not UTF-8 text") from exc
        finally:
            system.close_for_exit()

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--database", type=click.Path(path_type=Path),
              envvar="SHOP_DATABASE", help="SQLite file (default: $SHOP_DATABASE or var/shop.db).")
@click.pass_context
def main(ctx: click.Context, database: Path | None) -> None:
    """Run and operate an edge-shop backend.

    \b
    Example:
      shop migrate && shop seed-demo && shop serve
    """
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if database is not None:
        settings = settings.with_overrides({"database": database})
    ctx.obj = settings


def _use_database(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.obj = ctx.obj.with_overrides({"database": value})


# Every command that opens the database takes --database after its name too.
with_database = click.option(
    "--database", type=click.Path(path_type=Path), expose_value=False,
    callback=_use_database, help="SQLite file (overrides the one given before the command).")


def _configure(ctx: click.Context, *, creates: bool = False) -> Settings:
    """Point the services at the chosen database file. Only the commands that make one
    (``creates``: migrate, serve, seed-demo, and restore, which puts a whole verified
    database in place, e.g. on a new disk) accept a file that is not there; any other
    refuses before a file or folder is made."""
    settings: Settings = ctx.obj
    path = settings.database
    if settings.database_url:  # a PostgreSQL server (SHOP_DATABASE_URL): no file to check
        system.configure(settings)
        return settings
    if path.is_dir():
        raise MissingDatabase(f"the database {path} is a folder, not a file; "
                              "check --database / SHOP_DATABASE")
    if not creates and not path.exists():
        raise MissingDatabase(f"no database at {path}: run `shop migrate` first "
                              "(or check --database / SHOP_DATABASE)")
    system.configure(settings)
    return settings


class UsageProblem(click.ClickException):
    """A wrong argument found once the command ran (a non-empty copy target, say): exit 2,
    like click's own usage errors, having changed nothing."""

    exit_code = 2


def _database_url(value: str | None) -> str | None:
    """The PostgreSQL database a command is pointed at: its --database-url option, else
    SHOP_DATABASE_URL (click reads the environment), else None (the SQLite file). The one
    place a URL is accepted and checked."""
    from shop.services.pg import is_postgresql_url, redact

    if not value:
        return None
    if not is_postgresql_url(value):
        raise UsageProblem(f"--database-url / SHOP_DATABASE_URL must be a postgresql:// URL, "
                           f"not {redact(value)!r}")
    return value


with_database_url = click.option(
    "--database-url", envvar="SHOP_DATABASE_URL", default=None, metavar="URL",
    help="A PostgreSQL database (postgresql://user:password@host/db) instead of the SQLite "
         "file (default: $SHOP_DATABASE_URL).")


@main.command()
@with_database
@with_database_url
@click.pass_context
@_handle_errors
def migrate(ctx: click.Context, database_url: str | None) -> None:
    """Apply pending migrations (creates the database file and its folder).

    On PostgreSQL (--database-url or SHOP_DATABASE_URL) an empty database gets the
    baseline (migrations 001..011 at once), then each later migration's PostgreSQL
    branch (docs/scaling.md, "Migrations on PostgreSQL").

    \b
    Example:
      SHOP_DATABASE=var/shop.db shop migrate
      shop migrate --database-url postgresql://shop@db.internal/shop
    """
    from shop.services.migrations import migrate as run

    url = _database_url(database_url)
    if url is not None:
        from shop.services.migrations import migrate_postgresql
        from shop.services.pg import connected, redact

        with connected(url) as db:
            applied = migrate_postgresql(db)
        click.echo(f"applied {len(applied)} migration(s) to {redact(url)}: "
                   + ", ".join(applied) if applied else f"{redact(url)} is up to date")
        return
    settings = _configure(ctx, creates=True)
    applied = run()
    if applied:
        click.echo(f"applied {len(applied)} migration(s) to {settings.database}: "
                   + ", ".join(applied))
    else:
        click.echo(f"{settings.database} is up to date")


@main.command("create-admin")
@with_database
@click.option("--email", required=True, help="The admin's email address.")
@click.option("--name", default="Admin", show_default=True, help="Display name for a new admin.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input instead of prompting.")
@click.pass_context
@_handle_errors
def create_admin(ctx: click.Context, email: str, name: str, password_stdin: bool) -> None:
    """Create an admin user, or promote an existing account to admin.

    A new admin needs a password of at least 10 characters (prompted for, or read from
    standard input with --password-stdin). Promoting an existing account keeps its
    password unless you give a new one, which signs it out everywhere.

    \b
    Example:
      printf '%s' "$ADMIN_PASSWORD" | shop create-admin --email owner@shop.ie --password-stdin
    """
    from shop.services import accounts

    _configure(ctx)
    system.prepare_schema()
    password = _read_password(password_stdin,
                              "Password (leave empty to promote an existing account)")
    user, created = accounts.create_admin(email, password, name)
    click.echo(f"{'created' if created else 'promoted'} admin {user.email}")


@main.command("seed-demo")
@with_database
@click.option("--password", envvar="SHOP_DEMO_PASSWORD",
              help="Password for the demo users (default: random, printed once).")
@click.option("--products", "products", type=click.IntRange(0, 10_000_000), default=0,
              show_default=True,
              help="Also make sure a generated catalogue of this many products exists "
                   "(varied brands, sizes, prices; restock moves; some images).")
@click.pass_context
@_handle_errors
def seed_demo(ctx: click.Context, password: str | None, products: int) -> None:
    """Load a demo catalogue, users and a submission (once; later runs change nothing).

    With --products N, also generate a realistic catalogue of N products, the same one
    for the same N (benchmarks and "does it scale?" use it); running it again adds only
    what is missing.

    \b
    Example:
      shop seed-demo
      shop seed-demo --products 100000
    """
    from shop.services import demo

    _configure(ctx, creates=True)
    system.prepare_schema()
    result = demo.seed(password)
    if not result.created:
        click.echo("demo data already present; nothing changed")
    else:
        click.echo(f"seeded {result.products} products; sign in as {result.admin_email} or "
                   f"{result.customer_email} with password {result.password}\n"
                   f"(shown once; `shop set-password --email {result.admin_email}` "
                   "chooses a new one)")
    if products:
        with click.progressbar(length=products, label="generating products",
                               file=sys.stderr) as bar:
            created, total = demo.seed_catalogue(products, on_progress=bar.update)
        click.echo(f"generated {created} product(s); the generated catalogue has {total}")


@main.command("expire-reservations")
@with_database
@click.pass_context
@_handle_errors
def expire_reservations(ctx: click.Context) -> None:
    """Release cart holds that ran out and that nobody touched since (cron, every minute).

    Each batch is its own short IMMEDIATE transaction, so checkouts keep flowing beside
    it; running it twice at once is safe (every hold comes back exactly once). Prints the
    count; exits non-zero only on failure.

    \b
    Example:
      shop expire-reservations
    """
    from shop.services import holds

    _configure(ctx)
    with jobs.run("expire-reservations") as job:
        job.detail = f"released {holds.expire_all_due()} expired hold(s)"
    click.echo(job.detail)


def _finish(bar: Any) -> None:
    """Draw a bar whose length was an estimate to its end."""
    bar.update(max(0, bar.length - bar.pos))


@contextmanager
def _bar_from_first_step(length: int, label: str) -> Iterator[Callable[[int], None]]:
    """click's bar on stderr, shown from the first step of work, not before it: a
    command whose length is known before it reads anything (the rollup's 24 hours) and
    then cannot (a database server away) says only its one Error line, not the bar's
    label first. Yields the step function."""
    with ExitStack() as stack:
        bar: Any = None

        def step(n: int) -> None:
            nonlocal bar
            if bar is None:
                bar = stack.enter_context(
                    click.progressbar(length=length, label=label, file=sys.stderr))
            bar.update(n)

        yield step


def _report_line(verb: str, report: Any) -> str:
    size = report.bytes / (1024 * 1024)
    return (f"{verb} {report.path}: {size:.1f} MiB, {report.total_rows} rows in "
            f"{len(report.rows)} tables; integrity, foreign keys and stock ledger ok")


def _print_report(verb: str, report: Any) -> None:
    click.echo(_report_line(verb, report))


@main.command("backup")
@with_database
@with_database_url
@click.argument("path", type=click.Path(path_type=Path))
@click.pass_context
@_handle_errors
def backup_command(ctx: click.Context, path: Path, database_url: str | None) -> None:
    """Write a consistent, verified copy of the database to PATH while the shop serves.

    The copy is checked (integrity, foreign keys, and the ledger checks of `shop stock
    verify`: every balance, hold and move against the ledger and what caused it) before
    it replaces PATH, so PATH is never a broken backup.

    On PostgreSQL (--database-url or SHOP_DATABASE_URL): pg_dump's custom format,
    verified by restoring it into a scratch database on the same server (the user needs
    CREATEDB) and checking it there.

    \b
    Example:
      shop backup /backups/shop-$(date +%a).db
      shop backup --database-url postgresql://shop@db.internal/shop /backups/shop.dump
    """
    from shop.services import backup

    url = _database_url(database_url)
    if url is not None:
        from shop.services import pg_backup

        # The run is recorded in the database backed up, as on SQLite (the Operations page).
        ctx.obj = ctx.obj.with_overrides({"database_url": url})
        _configure(ctx)
        try:
            with jobs.run("backup") as job:
                report = pg_backup.backup(url, path,
                                          on_step=lambda text: click.echo(text, err=True))
                job.detail = _report_line("backed up to", report)
        finally:
            system.disconnect()  # no connection of ours left open (a restore may follow)
        click.echo(job.detail)
        return
    _configure(ctx)
    with jobs.run("backup") as job:
        with click.progressbar(length=backup.copy_size(), label="copying, then checking",
                               file=sys.stderr) as bar:
            report = backup.backup(path, on_copied=bar.update)
            _finish(bar)  # the size was an estimate
        job.detail = _report_line("backed up to", report)
    click.echo(job.detail)


@main.command("restore")
@with_database
@with_database_url
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option("--from-replica", is_flag=True,
              help="Restore from the continuous replica at SHOP_REPLICA_URL instead "
                   "(SQLite only: Litestream).")
@click.pass_context
@_handle_errors
def restore_command(ctx: click.Context, path: Path | None, from_replica: bool,
                    database_url: str | None) -> None:
    """Replace the database with the backup at PATH (or the replica); the shop must be
    stopped.

    The copy is checked first; the current file, if any, is kept beside it
    (NAME.before-restore-TIMESTAMP). Refuses while anything has the database open. The
    database file (and its folder) may be missing, as on a new disk: the copy becomes it.

    \b
    Example:
      shop restore /backups/shop-Mon.db
      shop restore --from-replica      # after losing the disk: the last seconds included
      shop restore --database-url postgresql://shop@db.internal/shop /backups/shop.dump

    On PostgreSQL the dump (from `shop backup`) is restored into a new database beside
    the live one and checked there; then the live one is renamed
    NAME_before_restore_TIMESTAMP (kept) and the restored one takes its name. PostgreSQL
    refuses the rename while anything is connected: stop the shop first.
    """
    from shop.services import backup

    if from_replica == (path is not None):
        raise click.UsageError("give a backup PATH or --from-replica (one of them)")
    url = _database_url(database_url)
    if url is not None:
        from shop.services import pg_backup
        from shop.services.pg import redact

        if from_replica:
            raise UsageProblem("--from-replica is Litestream's, for a SQLite shop; on "
                               "PostgreSQL restore a `shop backup` dump, or use the "
                               "server's own archive (docs/scaling.md)")
        report, kept = pg_backup.restore(url, path,
                                         on_step=lambda text: click.echo(text, err=True))
        _print_report(f"restored {redact(url)} from", report)
        if kept is not None:
            click.echo(f"the previous database is kept as {kept}")
        return
    settings = _configure(ctx, creates=True)
    report, aside = (backup.restore_from_replica(settings.replica_url) if from_replica
                     else backup.restore(path))
    _print_report(f"restored {settings.database} from", report)
    if aside is not None:
        click.echo(f"the previous database is kept at {aside}")


@main.group("analytics")
def analytics_group() -> None:
    """Analytics: the nightly rollup and retention.

    \b
    Example:
      shop analytics rollup && shop analytics prune --days 90
    """


# Days a rollup can name: older ones cannot hold events, and the day after 9999-12-30 has
# no date.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9999, 12, 30)


def _day(_ctx: click.Context, param: click.Parameter, value: datetime | None) -> date | None:
    if value is None:
        return None
    if not FIRST_DAY <= value.date() <= LAST_DAY:
        raise click.BadParameter(f"give a day from {FIRST_DAY} to {LAST_DAY}", param=param)
    return value.date()


@analytics_group.command("rollup")
@with_database
@click.option("--day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, callback=_day,
              help="The UTC day to roll up (default: yesterday). Running it again "
                   "replaces that day's rows.")
@click.pass_context
@_handle_errors
def analytics_rollup(ctx: click.Context, day: date | None) -> None:
    """Count a day's events per type, with their top products, into analytics_daily.

    \b
    Example:
      shop analytics rollup --day 2026-11-21
    """
    from shop.services import analytics

    _configure(ctx)
    with jobs.run("analytics-rollup") as job:
        with _bar_from_first_step(24, "rolling up, hour by hour") as step:
            rows = analytics.rollup(day, on_hour=step)
        total = sum(r["count"] for r in rows)
        label = rows[0]["day"] if rows else (day.isoformat() if day else "yesterday")
        job.detail = f"rolled up {total} event(s) of {label} into {len(rows)} row(s)"
    click.echo(job.detail)


@main.group("media")
def media_group() -> None:
    """Uploaded photos (SHOP_MEDIA_DIR, or the bucket of SHOP_MEDIA_URL).

    \b
    Example:
      shop media gc --grace-minutes 60
    """


@media_group.command("gc")
@with_database
@click.option("--grace-minutes", type=click.IntRange(0, 10080), default=60, show_default=True,
              help="Keep files younger than this: an upload writes its files before its "
                   "row.")
@click.option("--batch", type=click.IntRange(1, 1000), default=200, show_default=True,
              help="Files looked at per step (one short transaction each).")
@click.pass_context
@_handle_errors
def media_gc(ctx: click.Context, grace_minutes: int, batch: int) -> None:
    """Delete stored photo files that no image row names (deleted photos, abandoned
    uploads), in batches beside live traffic. Idempotent; safe while uploads run.

    \b
    Example:
      shop media gc --grace-minutes 60
    """
    from shop.services import media

    _configure(ctx)
    with jobs.run("media-gc") as job:
        with click.progressbar(length=0, label="files checked", file=sys.stderr,
                               show_pos=True) as bar:
            result = media.collect_garbage(grace_seconds=grace_minutes * 60, batch=batch,
                                           on_batch=bar.update)
        job.detail = f"checked {result.checked} file(s), removed {result.removed}"
    click.echo(job.detail)


@analytics_group.command("prune")
@with_database
@click.option("--days", type=click.IntRange(1, 3650), default=90, show_default=True,
              help="Keep events, system logs, sent or failed mail and cron runs this "
                   "many days.")
@click.pass_context
@_handle_errors
def analytics_prune(ctx: click.Context, days: int) -> None:
    """Retention: old events and logs, sent or failed mail, old cron runs (each job's
    newest is kept), ended sessions, spent reset codes, old idempotency records and stale
    sign-in throttles, deleted in small batches beside live traffic.

    \b
    Example:
      shop analytics prune --days 90
    """
    from shop.services import analytics

    _configure(ctx)
    with jobs.run("analytics-prune") as job:
        with click.progressbar(length=analytics.prunable(days), label="pruning",
                               file=sys.stderr, show_pos=True) as bar:
            counts = analytics.prune(days, on_batch=bar.update)
            _finish(bar)  # rows may have aged in meanwhile
        job.detail = "pruned " + ", ".join(f"{n} {table}" for table, n in counts.items())
    click.echo(job.detail)


@main.group()
def offers() -> None:
    """The shop's offers to sellers.

    \b
    Example:
      shop offers expire
    """


@offers.command("expire")
@with_database
@click.pass_context
@_handle_errors
def offers_expire(ctx: click.Context) -> None:
    """Expire offers unanswered for SHOP_OFFER_DAYS, in short batches (cron; idempotent,
    safe to run twice at once). Prints how many.

    \b
    Example:
      shop offers expire
    """
    from shop.services import selling

    _configure(ctx)
    with jobs.run("offers-expire") as job:
        job.detail = f"expired {selling.expire_all_offers()} offer(s)"
    click.echo(job.detail)


@offers.command("remind")
@with_database
@click.pass_context
@_handle_errors
def offers_remind(ctx: click.Context) -> None:
    """Mail each seller whose open offer ends within a day, once per offer (cron, e.g.
    hourly; running it again sends nothing more). Prints how many were queued.

    \b
    Example:
      shop offers remind && shop mail send
    """
    from shop.services import mail, selling

    _configure(ctx)
    with jobs.run("offers-remind") as job:
        queued = selling.remind_offers()
        mail.drain()
        job.detail = f"queued {queued} reminder(s)"
    click.echo(job.detail)


@main.group("mail")
def mail_group() -> None:
    """The shop's outgoing mail: the outbox in the database, sent over SHOP_SMTP_URL.

    \b
    Example:
      shop mail status
    """


@mail_group.command("send")
@with_database
@click.pass_context
@_handle_errors
def mail_send(ctx: click.Context) -> None:
    """Send every queued mail that is due: retries, and what a stopped process left
    (cron, e.g. every 5 minutes; safe beside the server and twice at once).

    \b
    Example:
      shop mail send
    """
    from shop.services import mail

    _configure(ctx)
    with jobs.run("mail-send") as job:
        report = mail.send_due()
        job.detail = f"sent {report.sent}, to retry {report.retrying}, given up {report.failed}"
    click.echo(job.detail)


@mail_group.command("status")
@with_database
@click.option("--failures", type=click.IntRange(0, 100), default=5, show_default=True,
              help="How many of the latest failed mails to list.")
@click.pass_context
@_handle_errors
def mail_status(ctx: click.Context, failures: int) -> None:
    """How many mails are queued (and retrying), sent and failed, when the next is due,
    and the latest failures with their last error.

    \b
    Example:
      shop mail status --failures 10
    """
    from shop.services import mail

    _configure(ctx)
    status = mail.outbox_status(failures)
    click.echo(f"queued {status['queued']} ({status['retrying']} retrying), "
               f"sent {status['sent']}, failed {status['failed']}")
    if status["next_due"]:
        click.echo(f"next due at {status['next_due']}")
    for failure in status["failures"]:
        click.echo(f"failed #{failure['id']} {failure['kind']} to {failure['recipient']} "
                   f"(queued {failure['created_at']}, {failure['attempts']} attempts): "
                   f"{failure['last_error']}")


@main.group("orders")
def orders_group() -> None:
    """Customers' orders.

    \b
    Example:
      shop orders expire-unpaid
    """


@orders_group.command("expire-unpaid")
@with_database
@click.pass_context
@_handle_errors
def orders_expire_unpaid(ctx: click.Context) -> None:
    """Cancel orders left unpaid for SHOP_UNPAID_ORDER_MINUTES (with SHOP_PAYMENTS=stripe;
    with manual payments nothing is due), their stock back through the ledger, in short
    batches; then ask Stripe again about refunds whose answer was never recorded (same
    idempotency key, so never a second refund). Cron, every few minutes; idempotent and
    safe twice at once. A payment that still arrives for a cancelled order is refunded.

    \b
    Example:
      shop orders expire-unpaid
    """
    from shop.services import orders

    _configure(ctx)
    with jobs.run("orders-expire-unpaid") as job:
        cancelled = orders.expire_all_unpaid()
        settled, still_open = orders.settle_pending_refunds()
        job.detail = (f"cancelled {cancelled} unpaid order(s); settled {settled} pending "
                      f"refund(s), {still_open} still open")
        click.echo(job.detail)
        if still_open:
            sys.exit(1)


@main.group()
def stock() -> None:
    """The stock ledger.

    \b
    Example:
      shop stock verify
    """


@stock.command("verify")
@with_database
@click.pass_context
@_handle_errors
def stock_verify(ctx: click.Context) -> None:
    """Check the file, then that every balance and hold agrees with the ledger; exit 1
    on any problem.

    First SQLite's full integrity check, which compares every index with its table (a
    price changed under its index fails here): a damaged file exits 1 with one line and
    the next step (`shop restore`), and the ledger is not checked. Then, for every
    product: stock_quantity equals the sum of its moves; ledger_head is its newest move;
    each hold's quantity equals the net of its hold moves; and every move matches what
    caused it (a sale its order line, a purchase its accepted submission); exit 1 listing
    any that don't. One grouped pass over the ledger, so it stays quick on a big one.

    \b
    Example:
      shop stock verify || alert-the-owner
    """
    from shop.services import stock as ledger

    _configure(ctx)
    with jobs.run("stock-verify") as job:
        with click.progressbar(length=ledger.product_count(), label="checking products",
                               file=sys.stderr) as bar:
            report = ledger.verify(on_progress=bar.update)
        summary = (f"{report.products} products, {report.moves} moves, {report.holds} holds")
        if not report.violations:
            job.detail = f"ok: {summary}; every balance, head and hold follows the ledger"
            click.echo(job.detail)
            return
        for v in report.violations:
            click.echo(f"product {v.product_id} ({v.sku}): {v.problem}")
        job.detail = f"FAILED: {len(report.violations)} problem(s) in {summary}"
        click.echo(job.detail, err=True)
        sys.exit(1)


@main.group("db")
def db_group() -> None:
    """The database itself: moving a shop from its SQLite file to PostgreSQL.

    \b
    Example:
      shop db copy --to postgresql://shop@db.internal/shop
    """


@db_group.command("copy")
@with_database
@click.option("--from", "from_path", type=click.Path(path_type=Path), expose_value=False,
              callback=_use_database,
              help="The SQLite shop to copy (default: --database / $SHOP_DATABASE).")
@click.option("--to", "to_url", required=True, metavar="URL",
              help="An empty PostgreSQL database: postgresql://user:password@host/db.")
@click.option("--batch", type=click.IntRange(1, 100_000), default=1000, show_default=True,
              help="Rows read and written per step.")
@click.pass_context
@_handle_errors
def db_copy(ctx: click.Context, to_url: str, batch: int) -> None:
    """Copy the SQLite shop into an empty PostgreSQL database, then verify it.

    Stop the shop's writes first (stop `shop serve` and its cron jobs): the copy reads one
    snapshot of the file. The target is migrated, then every table is copied in foreign-
    key order with its ids, in batches, in one transaction; the id sequences are set past
    the highest id; and row counts, the stock ledger (each balance rebuilt by its moves
    must equal the source's) and the sequences are checked before commit. A copy that
    does not verify is rolled back, leaving the target empty. A target with rows is
    refused (exit 2). Then point the shop at it: SHOP_DATABASE_URL (docs/scaling.md).

    \b
    Example:
      shop db copy --from var/shop.db --to postgresql://shop@db.internal/shop
    """
    from shop.services import dbcopy
    from shop.services.pg import connected, redact

    settings = _configure(ctx)
    url = _database_url(to_url)
    if url is None:
        raise UsageProblem("--to needs a PostgreSQL URL: postgresql://user:password@host/db")

    def progress(table: str, copied: int, total: int) -> None:
        """A line per table, and one every ten batches of a long one."""
        if copied == total or (copied and copied % (batch * 10) == 0):
            click.echo(f"  {table}: {copied}/{total} rows", err=True)

    click.echo(f"copying {settings.database} to {redact(url)} in batches of {batch} rows",
               err=True)
    try:
        with connected(url) as target:
            report = dbcopy.copy_to_postgresql(settings.database, target, batch=batch,
                                               on_progress=progress)
    except dbcopy.TargetNotEmpty as exc:
        raise UsageProblem(str(exc)) from exc
    click.echo(f"copied {report.total_rows} rows in {len(report.rows)} tables to "
               f"{redact(url)}; row counts, {report.products} balances and heads rebuilt "
               f"from {report.moves} moves, holds and id sequences verified")


def _read_password(password_stdin: bool, prompt: str) -> str | None:
    if password_stdin:
        return sys.stdin.read().rstrip("\r\n") or None
    if sys.stdin.isatty():
        return click.prompt(prompt, hide_input=True, confirmation_prompt=True, default="",
                            show_default=False) or None
    return None


@main.command("set-password")
@with_database
@click.option("--email", required=True, help="The account's email address.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input instead of prompting.")
@click.pass_context
@_handle_errors
def set_password(ctx: click.Context, email: str, password_stdin: bool) -> None:
    """Choose a new password (at least 10 characters) for an account, such as a demo user
    whose printed password is lost. Every session of the account is signed out.

    \b
    Example:
      shop set-password --email admin@example.com
      printf '%s' "$NEW_PASSWORD" | shop set-password --email admin@example.com --password-stdin
    """
    from shop.services import accounts

    _configure(ctx)
    password = _read_password(password_stdin, "New password")
    if password is None:
        raise click.ClickException("no password given")
    user = accounts.set_password(email, password)
    click.echo(f"new password set for {user.email}; its sessions are signed out")


@main.command()
@with_database
@click.option("--bind", default="127.0.0.1:8000", show_default=True,
              help="Address for gunicorn to listen on.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Number of gunicorn worker processes.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256),
              help="Threads per worker (gthread): a slow client ties up one thread, "
                   "not a whole worker.")
@click.option("--timeout", default=30, show_default=True, type=click.IntRange(5, 3600),
              help="Seconds a request may take before its worker is restarted.")
@click.pass_context
@_handle_errors
def serve(ctx: click.Context, bind: str, workers: int, threads: int, timeout: int) -> None:
    """Check the file, migrate once, then serve the API with gunicorn (gthread workers).

    The check is SQLite's quick one (every page read, indexes not compared with their
    tables; `shop stock verify` does that): a damaged file is refused with exit 1 and
    the next step (`shop restore`).

    With SHOP_DATABASE_URL=postgresql://... every server serves from that PostgreSQL
    database (an empty one is migrated first, as by `shop migrate`): run several against
    one server. Litestream (SHOP_REPLICA_URL) is SQLite's alone: with PostgreSQL it is
    refused, exit 1, before anything runs.

    In production put a buffering reverse proxy in front (docs/deployment.md).

    \b
    Example:
      shop serve --bind 127.0.0.1:8000 --workers 2 --threads 8
    """
    from shop.api.worker import LIMIT_REQUEST_LINE

    settings = ctx.obj
    if settings.replica_url and settings.database_url:
        # Settings.from_env refuses the pair already; this says it again here, where
        # Litestream would wrap the server, so a PostgreSQL shop can never start under it
        # (replicating a SQLite file nobody writes, while nothing replicates PostgreSQL).
        raise ConfigError("SHOP_REPLICA_URL is Litestream's, which replicates a SQLite file "
                          "only: `shop serve` on PostgreSQL (SHOP_DATABASE_URL) never runs "
                          "under it; unset SHOP_REPLICA_URL (docs/scaling.md)")
    settings = _configure(ctx, creates=True)
    system.prepare_schema(check=True)  # once, here: never per worker
    system.disconnect()  # no connection, and no checkpoint under way, across the exec
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    env = {**os.environ, "SHOP_DATABASE": str(settings.database)}
    if settings.database_url:
        env["SHOP_DATABASE_URL"] = settings.database_url
    click.echo(f"serving {settings.database_name} on http://{bind} with {workers} worker(s) "
               f"x {threads} thread(s)")
    argv = [gunicorn, "--bind", bind, "--workers", str(workers),
            "--worker-class", "shop.api.worker.JsonErrorWorker", "--threads", str(threads),
            "--limit-request-line", str(LIMIT_REQUEST_LINE),
            "--timeout", str(timeout), "--access-logfile", "-", "shop.api:create_app()"]
    if settings.replica_url and not settings.database_url:  # a SQLite file only (above)
        from shop.services import backup

        click.echo("replicating continuously with litestream (SHOP_REPLICA_URL)")
        argv = backup.replicate_command(settings.database, settings.replica_url, argv)
    os.execvpe(argv[0], argv, env)


@main.group()
def d1() -> None:
    """Cloudflare D1: export the schema as wrangler migrations.

    \b
    Example:
      shop d1 export && npx wrangler d1 migrations apply shop --local
    """


@d1.command("export")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 if sql/d1/ differs from a fresh export.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Folder to write (default: sql/d1 in the project).")
@click.option("--force", is_flag=True,
              help="Also rewrite files that already exist (only if never applied anywhere).")
@_handle_errors
def d1_export(check: bool, out_dir: Path | None, force: bool) -> None:
    """Write sql/d1/NNNN_name.sql, one file per migration, validated for D1.

    \b
    Example:
      shop d1 export           # after adding a migration; commit the new file
      shop d1 export --check   # in CI: fails when the export is stale
    """
    from shop.d1 import export

    try:
        if check:
            differing = export.stale(out_dir)
            if differing:
                click.echo("sql/d1 is stale; run `shop d1 export`. Differs: "
                           + ", ".join(differing), err=True)
                sys.exit(1)
            click.echo("sql/d1 is up to date")
            return
        written = export.write(out_dir, force=force)
    except export.ExportError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {len(written)} file(s): " + ", ".join(p.name for p in written))

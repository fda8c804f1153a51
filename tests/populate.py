"""Representative rows in every table, written through the models (for migration tests)."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from shop import clock
from shop.db import dialect_of
from shop.models import (
    Address,
    AnalyticsDaily,
    AnalyticsEvent,
    AuditLog,
    Image,
    OfferEvent,
    Order,
    OrderItem,
    PasswordReset,
    ProductReservation,
    SellItem,
    SellSubmission,
    Session,
    StockMove,
    SystemLog,
    User,
)
from shop.services.migrations import MIGRATIONS_DIR

DIGEST = "0" * 64


FIXED_NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def populate(now: datetime = FIXED_NOW) -> None:
    """Two of everything, with stock that went through the ledger and live holds.

    The same call always writes the same rows, so two databases can be compared row by row.
    """
    later = now + timedelta(minutes=15)
    for n in (1, 2):
        user = User.create(email=f"user{n}@example.com", password_hash="x", name=f"User {n}",
                           role="admin" if n == 1 else "customer", created_at=now,
                           updated_at=now)
        Session.create(user=user, token_hash=f"{n}".rjust(64, "a"), created_at=now,
                       expires_at=later)
        PasswordReset.create(user=user, token_hash=f"{n}".rjust(64, "b"), created_at=now,
                             expires_at=later)
        Address.create(user=user, kind="delivery", name="N", line1="1 Main St", city="Cork",
                       created_at=now, updated_at=now)
        _insert("login_failures", email=user.email, created_at=clock.to_text(now))
        if _has_table("rate_limit_hits"):  # from migration 004 on
            _insert("rate_limit_hits", scope="password_reset", key=f"10.0.0.{n}",
                    created_at=clock.to_text(now))
        if _has_table("idempotency_records"):  # from migration 005 on
            _insert("idempotency_records", user_id=user.id, scope="checkout", key=f"key-{n}",
                    request_hash="a" * 64, status_code=201, response='{"order": {}}',
                    created_at=clock.to_text(now))
        submission = SellSubmission.create(batch_id=f"batch-{n}", seller=user,
                                           seller_price_cents=1000, offered_price_cents=800,
                                           offer_status="offer_sent", status="reviewing",
                                           created_at=now, updated_at=now)
        item = SellItem.create(submission=submission, title="Coat", category="coats",
                               condition="good", created_at=now)
        OfferEvent.create(submission=submission, actor="shop", actor_user=user, action="offer",
                          amount_cents=800, created_at=now)
        Image.create(submission=submission, cloudflare_id=f"sub-{n}", url="https://x/y.jpg",
                     created_at=now)
        product = _insert_product(n, item.id, now)
        Image.create(product=product.id, cloudflare_id=f"prod-{n}", url="https://x/p.jpg",
                     variants=["thumb"], created_at=now)
        if _has_column("images", "storage_key"):  # from migration 009 on: a stored photo
            _insert("images", product_id=product.id, variants="{}", position=1,
                    created_at=clock.to_text(now), storage_key=f"{n}".rjust(64, "c"),
                    width=1600, height=1200)
        StockMove.create(product=product.id, qty_change=5, reason="restock", actor=user,
                         created_at=now)
        hold = ProductReservation.create(product=product.id, user=user, quantity=1,
                                         created_at=now, expires_at=later)
        StockMove.create(product=product.id, qty_change=-1, reason="reserved",
                         reservation_id=hold.id, created_at=now)
        guest = ProductReservation.create(product=product.id, session_id=f"guest-{n}",
                                          quantity=1, created_at=now, expires_at=later)
        StockMove.create(product=product.id, qty_change=-1, reason="reserved",
                         reservation_id=guest.id, created_at=now)
        order = Order.create(order_number=f"ORD-{n}", user=user, subtotal_cents=1000 * n,
                             shipping_cents=0, total_cents=1000 * n, created_at=now,
                             updated_at=now)
        OrderItem.create(order=order, product=product.id, title=product.title,
                         unit_price_cents=1000 * n, quantity=1, line_total_cents=1000 * n)
        StockMove.create(product=product.id, qty_change=-1, reason="sale", order=order,
                         created_at=now)
        if _has_table("payments"):  # from migration 011 on: a paid charge, a refund of it
            stamp = clock.to_text(now)
            charge = _insert("payments", order_id=order.id, kind="charge", provider="stripe",
                             status="succeeded", amount_cents=1000 * n, currency="eur",
                             provider_ref=f"cs_test_{n}", payment_intent=f"pi_test_{n}",
                             idempotency_key=f"order-{order.id}-charge-1",
                             checkout_url="https://checkout.stripe.com/c/pay/x",
                             expires_at=stamp, created_at=stamp, updated_at=stamp)
            _insert("payments", order_id=order.id, kind="refund", provider="stripe",
                    status="succeeded", amount_cents=100, currency="eur",
                    provider_ref=f"re_test_{n}", payment_intent=f"pi_test_{n}",
                    idempotency_key=f"refund-test-{n}", refund_of_id=charge,
                    refund_reason="return", refund_items='[{"product_id": 1, "quantity": 1}]',
                    created_at=stamp, updated_at=stamp)
            _insert("webhook_events", provider="stripe", event_id=f"evt_test_{n}",
                    event_type="checkout.session.completed", outcome="paid",
                    received_at=stamp)
        AnalyticsEvent.create(event_type="product_view", user=user, product=product.id,
                              created_at=now)
        AnalyticsDaily.create(day=f"2026-01-0{n}", event_type="product_view", count=n,
                              computed_at=now)
        if _has_table("analytics_totals"):  # from migration 008 on
            _insert("analytics_totals", day=f"2026-01-0{n}", orders=n, revenue_cents=1000 * n,
                    units_sold=n, offers_accepted=0, computed_at=clock.to_text(now))
        SystemLog.create(level="info", source="test", message="hello", created_at=now)
        AuditLog.create(actor=user, action="create", entity_type="product",
                        entity_id=str(product.id), after_state={"sku": product.sku},
                        created_at=now)
        if _has_table("mail_outbox"):  # from migration 010 on: one sent, one still queued
            _insert("mail_outbox", kind="order_placed", recipient=user.email,
                    dedupe_key=f"order_placed:{order.id}:{user.email}",
                    params=f'{{"order_number": "ORD-{n}"}}',
                    status="sent" if n == 1 else "queued", attempts=1 if n == 1 else 0,
                    next_attempt_at=clock.to_text(now), created_at=clock.to_text(now),
                    sent_at=clock.to_text(now) if n == 1 else None)
        if _has_table("job_runs"):  # from migration 012 on: one run ended, one under way
            _insert("job_runs", job="backup" if n == 1 else "expire-reservations",
                    started_at=clock.to_text(now),
                    finished_at=clock.to_text(later) if n == 1 else None,
                    outcome="ok" if n == 1 else None,
                    detail="backed up to /backups/shop.db" if n == 1 else None)


def _insert_product(n: int, item_id: int, now: datetime) -> SimpleNamespace:
    """A product with only the columns of migration 001, so the same rows go into a
    database at any migration (later columns take their SQL defaults)."""
    values = {"sku": f"SKU-{n}", "title": f"Product {n}", "description": "", "brand": "",
              "category": "coats", "size": "", "condition": "good", "price_cents": 1000 * n,
              "status": "active", "featured": 0, "stock_quantity": 0,
              "source_item_id": item_id, "created_at": clock.to_text(now),
              "updated_at": clock.to_text(now)}
    return SimpleNamespace(id=_insert("products", **values), title=values["title"],
                           sku=values["sku"])


def _database():
    """The database the models are bound to (the shop's, or a PostgreSQL test database)."""
    return User._meta.database


def _has_table(name: str) -> bool:
    if dialect_of(_database()) == "postgresql":  # always the models' current schema
        return True
    return _database().execute_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
        (name,)).fetchone() is not None


def _has_column(table: str, column: str) -> bool:
    if dialect_of(_database()) == "postgresql":
        return True
    return any(r[1] == column for r in _database().execute_sql(f'PRAGMA table_info("{table}")'))


def _insert(table: str, **values: object) -> int:
    """A row with exactly these columns (later migrations' columns take their defaults)."""
    db = _database()
    sql = (f"INSERT INTO {table} ({', '.join(values)}) "
           f"VALUES ({', '.join([db.param] * len(values))})")
    if dialect_of(db) == "postgresql":
        return db.execute_sql(sql + " RETURNING id", tuple(values.values())).fetchone()[0]
    return db.execute_sql(sql, tuple(values.values())).lastrowid


def migrations_upto(folder: Path, last: str) -> Path:
    """A copy of the shipped migrations up to and including ``last`` (to seed an old schema)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(MIGRATIONS_DIR.glob("[0-9]*.py")):
        if path.stem <= last:
            shutil.copy(path, folder / path.name)
    return folder


def row_counts(conn) -> dict[str, int]:
    """Rows per table of a sqlite3 connection (user tables, FTS shadow tables left out)."""
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name NOT LIKE '_cf_%' AND name NOT IN ('d1_migrations', 'migratehistory') "
        "AND name NOT LIKE 'products_fts%' ORDER BY name")]
    return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}


def table_rows(conn, columns_from, *, kept_by=None) -> dict[str, list]:
    """Every row of every table, with the columns ``columns_from`` has and ``conn`` (and
    ``kept_by``) still has: a migration may drop a column on purpose (008 drops two unused
    ones of orders); every other value must survive."""
    out = {}
    for table in row_counts(columns_from):
        kept = {r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')}
        if kept_by is not None:
            kept &= {r[1] for r in kept_by.execute(f'PRAGMA table_info("{table}")')}
        columns = ", ".join(f'"{r[1]}"' for r in columns_from.execute(
            f'PRAGMA table_info("{table}")') if r[1] in kept)
        out[table] = conn.execute(f'SELECT {columns} FROM "{table}" ORDER BY rowid').fetchall()
    return out


def file_rows(path: Path) -> dict[str, list]:
    """:func:`table_rows` of the SQLite file at ``path``, opened read-only and closed."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return table_rows(conn, conn)
    finally:
        conn.close()

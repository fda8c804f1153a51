"""Peewee models for the whole data model (DESIGN.md §3), plus raw SQL for what Peewee
cannot declare. No logic lives here: services own behaviour.
"""

from __future__ import annotations

import types

import peewee

from shop.db import dialect_of
from shop.models import sql, sql_pg
from shop.models.accounts import (
    Address,
    LoginFailure,
    PasswordReset,
    RateLimitHit,
    Session,
    User,
)
from shop.models.catalog import Image, Product
from shop.models.ops import (
    AnalyticsDaily,
    AnalyticsEvent,
    AnalyticsTotals,
    AuditLog,
    JobRun,
    MailOutbox,
    SystemLog,
)
from shop.models.orders import IdempotencyRecord, Order, OrderItem
from shop.models.payments import Payment, WebhookEvent
from shop.models.selling import OfferEvent, SellItem, SellSubmission
from shop.models.sql import EXTRA_SCHEMA
from shop.models.stock import ProductReservation, StockMove

# In dependency order: every table comes after the tables it references.
ALL_MODELS: tuple[type[peewee.Model], ...] = (
    User, Session, PasswordReset, Address, LoginFailure, RateLimitHit,
    SellSubmission, SellItem, OfferEvent,
    Product, Image,
    Order, OrderItem, IdempotencyRecord, Payment, WebhookEvent,
    ProductReservation, StockMove,
    AnalyticsEvent, AnalyticsDaily, AnalyticsTotals, SystemLog, AuditLog,
    MailOutbox, JobRun,
)


def schema_statements(database: peewee.Database) -> list[str]:
    """Every DDL statement of the models' schema, in order, as SQL text.

    The initial migration is this list written out and reviewed; a test proves a migrated
    database and one built from these statements have the same schema. On PostgreSQL the
    same models' DDL comes between ``sql_pg.PRELUDE`` and ``sql_pg.EXTRA_SCHEMA``.
    """
    postgresql = dialect_of(database) == "postgresql"
    statements: list[str] = list(sql_pg.PRELUDE) if postgresql else []
    for model in ALL_MODELS:
        with database.bind_ctx([model]):
            queries = [model._schema._create_table(safe=False),
                       *model._schema._create_indexes(safe=False)]
            for query in queries:
                sql, params = query.query()
                if params:
                    raise ValueError(f"schema DDL with parameters is not supported: {sql}")
                statements.append(sql)
    statements.extend(sql_pg.EXTRA_SCHEMA if postgresql else EXTRA_SCHEMA)
    return statements


def dialect_sql(dialect: str) -> types.ModuleType:
    """The raw SQL module of an engine (``sql`` or ``sql_pg``): the two sit side by side
    with the same names where the services need a statement per dialect."""
    return sql_pg if dialect == "postgresql" else sql


def create_schema(database: peewee.Database) -> None:
    """Build the models' schema directly (tests compare migrations against this), on
    SQLite or on PostgreSQL (an empty database)."""
    with database.atomic():
        for statement in schema_statements(database):
            database.execute_sql(statement)


__all__ = [
    "ALL_MODELS", "Address", "AnalyticsDaily", "AnalyticsEvent", "AnalyticsTotals", "AuditLog",
    "IdempotencyRecord", "Image", "JobRun",
    "LoginFailure", "MailOutbox", "OfferEvent", "Order", "OrderItem", "PasswordReset", "Payment",
    "Product",
    "ProductReservation", "RateLimitHit", "SellItem", "SellSubmission", "Session",
    "StockMove", "SystemLog", "User", "WebhookEvent", "create_schema", "dialect_sql",
    "schema_statements",
]

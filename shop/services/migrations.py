"""Apply the reviewed migrations in ``migrations/`` with peewee-migrate, safely.

peewee-migrate runs each migration inside a transaction with foreign keys still on, where
``PRAGMA foreign_keys`` is a no-op: a table rebuild then deletes ON DELETE CASCADE children
while reporting success. This runner switches foreign keys off *outside* the transaction,
runs each migration under ``BEGIN IMMEDIATE``, refuses to commit while
``PRAGMA foreign_key_check`` reports anything, and switches foreign keys back on.
"""

from __future__ import annotations

import logging
from pathlib import Path

from peewee_migrate import Migrator, Router

from shop.db import database, foreign_key_problems, write_transaction

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
log = logging.getLogger(__name__)


class MigrationError(RuntimeError):
    """A migration left the database inconsistent; nothing of it was committed."""


class SafeRouter(Router):
    """peewee-migrate's file router with the transaction and foreign-key rules above."""

    def run_one(self, name: str, migrator: Migrator, *, fake: bool = True,
                downgrade: bool = False, force: bool = False) -> str:
        if fake or downgrade:
            return super().run_one(name, migrator, fake=fake, downgrade=downgrade, force=force)
        migrate, _rollback = self.read(name)
        with write_transaction():
            # Re-read inside the lock: another process may have applied it meanwhile.
            if self.model.select().where(self.model.name == name).exists():
                return name
            log.info("applying migration %s", name)
            migrate(migrator, self.database, fake=False)
            migrator()
            problems = foreign_key_problems()
            if problems:
                raise MigrationError(
                    f"migration {name} leaves dangling references: {problems[:10]}")
            self.model.create(name=name)
        return name


def router(migrations_dir: Path | None = None) -> SafeRouter:
    """A router over ``migrations_dir`` (the project's ``migrations/`` by default)."""
    return SafeRouter(database, migrate_dir=migrations_dir or MIGRATIONS_DIR, logger=log)


def pending(migrations_dir: Path | None = None) -> list[str]:
    """Names of the migrations not yet applied."""
    return router(migrations_dir).diff


def migrate(migrations_dir: Path | None = None) -> list[str]:
    """Apply every pending migration; returns the names applied (empty when up to date)."""
    if database.in_transaction():
        raise MigrationError("migrations must start outside any transaction")
    r = router(migrations_dir)
    todo = r.diff
    if not todo:
        return []
    database.pragma("foreign_keys", 0)
    try:
        applied = r.run()
    finally:
        database.pragma("foreign_keys", 1)
    return applied

"""`shop backup` / `shop restore` on PostgreSQL: pg_dump's custom format, verified by a
restore into a scratch database and the same checks as on SQLite; a restore keeps the old
database aside and refuses while the shop is connected. Litestream is SQLite's only."""

from __future__ import annotations

from collections.abc import Iterator

import peewee
import pytest
from click.testing import CliRunner

from shop.cli import main
from shop.config import ConfigError, Settings
from shop.models import ALL_MODELS
from shop.services.migrations import migrate_postgresql
from shop.services.pg import database_name
from tests.pg_databases import empty_database
from tests.populate import populate

# engine_fixed: PostgreSQL's pg_dump/pg_restore, in the first pass.
pytestmark = pytest.mark.engine_fixed

TABLES = 25


@pytest.fixture
def live(postgresql_url: str) -> Iterator[peewee.Database]:
    """A migrated PostgreSQL shop with tests/populate.py's rows."""
    with empty_database(postgresql_url) as db:
        migrate_postgresql(db)
        with db.bind_ctx(ALL_MODELS):
            populate()
        db.close_all()
        yield db
        _drop_leftovers(postgresql_url, database_name(db.url))


def _databases(db: peewee.Database) -> set[str]:
    return {r[0] for r in db.execute_sql("SELECT datname FROM pg_database")}


def _drop_leftovers(server_url: str, name: str) -> None:
    from shop.db import postgresql_database

    admin = postgresql_database(server_url)
    for (other,) in admin.execute_sql("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                      (f"{name}_%",)).fetchall():
        admin.execute_sql(f'DROP DATABASE "{other}" WITH (FORCE)')
    admin.close_all()


def _rows(db: peewee.Database) -> dict[str, list[tuple]]:
    tables = [r[0] for r in db.execute_sql(
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = "
        "'public'::regnamespace ORDER BY relname")]
    rows = {t: [tuple(r) for r in db.execute_sql(f'SELECT * FROM "{t}" ORDER BY id')]
            for t in tables}
    db.close_all()
    return rows


def _cli(*args: str):
    return CliRunner().invoke(main, list(args))


def test_a_backup_is_a_verified_dump(live, tmp_path) -> None:
    before = _databases(live)
    path = tmp_path / "backups" / "shop.dump"
    result = _cli("backup", "--database-url", live.url, str(path))
    assert result.exit_code == 0, result.output
    size = path.stat().st_size / (1024 * 1024)
    # 64 rows of the shop, and the backup's own run (job_runs), recorded as it started.
    assert result.stdout == (f"backed up to {path}: {size:.1f} MiB, 65 rows in {TABLES} "
                             "tables; integrity, foreign keys and stock ledger ok\n")
    assert "restoring it into a scratch database to verify it" in result.stderr
    assert path.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    assert list(path.parent.iterdir()) == [path]  # no .partial left
    assert _databases(live) == before  # the scratch database is gone


def test_a_backup_restores_the_shop_as_it_was_keeping_the_old_one(live, tmp_path) -> None:
    path = tmp_path / "shop.dump"
    assert _cli("backup", "--database-url", live.url, str(path)).exit_code == 0
    at_backup = _rows(live)
    live.execute_sql("INSERT INTO stock_moves (product_id, qty_change, reason, created_at) "
                     "VALUES (1, 3, 'restock', 'later')")
    later = _rows(live)
    assert later != at_backup

    result = _cli("restore", "--database-url", live.url, str(path))
    assert result.exit_code == 0, result.output
    name = database_name(live.url)
    first, second = result.stdout.splitlines()
    assert first.startswith(f"restored {live.url} from {path}: ")
    assert first.endswith(f"65 rows in {TABLES} tables; integrity, foreign keys and stock "
                          "ledger ok")
    assert second.startswith(f"the previous database is kept as {name}_before_restore_")
    kept = second.rsplit(" ", 1)[1]

    restored = _rows(live)
    # Every row of every table, history included; the backup's own run (job_runs) is in
    # the dump as it was when pg_dump took it: started, not yet finished.
    assert {t: r for t, r in restored.items() if t != "job_runs"} == \
        {t: r for t, r in at_backup.items() if t != "job_runs"}
    *before, ours = restored["job_runs"]  # (id, job, started_at, finished_at, outcome, ..)
    assert before == at_backup["job_runs"][:-1]
    assert ours[:5] == (*at_backup["job_runs"][-1][:3], None, None)
    assert at_backup["job_runs"][-1][1:5:3] == ("backup", "ok")
    assert live.execute_sql("SELECT stock_quantity, ledger_head FROM products WHERE id = 1"
                            ).fetchone() == (2, 4)
    # The guards came back with the schema.
    with pytest.raises(peewee.IntegrityError, match="append-only"):
        live.execute_sql("DELETE FROM stock_moves WHERE id = 1")
    live.close_all()
    from shop.db import postgresql_database
    from shop.services.pg import with_database

    aside = postgresql_database(with_database(live.url, kept))
    assert _rows(aside) == later  # the old database, untouched
    aside.close_all()


def test_a_restore_is_refused_while_the_shop_is_connected(live, tmp_path) -> None:
    path = tmp_path / "shop.dump"
    assert _cli("backup", "--database-url", live.url, str(path)).exit_code == 0
    live.execute_sql("INSERT INTO stock_moves (product_id, qty_change, reason, created_at) "
                     "VALUES (1, 3, 'restock', 'later')")
    before = _rows(live)
    live.connect(reuse_if_open=True)  # a running shop keeps its connections open
    databases = _databases(live)
    result = _cli("restore", "--database-url", live.url, str(path))
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: the database is in use: stop the shop (and its cron jobs) first")
    assert _databases(live) == databases  # nothing renamed, the new copy dropped
    assert _rows(live) == before


def test_a_damaged_dump_is_refused_and_the_live_database_kept(live, tmp_path) -> None:
    path = tmp_path / "shop.dump"
    assert _cli("backup", "--database-url", live.url, str(path)).exit_code == 0
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    before, databases = _rows(live), _databases(live)
    result = _cli("restore", "--database-url", live.url, str(path))
    assert result.exit_code == 1
    assert f"Error: restoring {path} failed: pg_restore: error:" in result.stderr
    assert _rows(live) == before and _databases(live) == databases


def test_a_backup_of_a_database_whose_ledger_is_off_is_not_written(live, tmp_path) -> None:
    live.execute_sql("ALTER TABLE products DISABLE TRIGGER products_stock_follows_ledger")
    live.execute_sql("UPDATE products SET stock_quantity = 9 WHERE id = 2")
    live.execute_sql("ALTER TABLE products ENABLE TRIGGER products_stock_follows_ledger")
    path = tmp_path / "shop.dump"
    result = _cli("backup", "--database-url", live.url, str(path))
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: the backup failed its checks: product 2 (SKU-2): stock_quantity 9 but the "
        "ledger sums to 2")
    assert list(tmp_path.iterdir()) == []


def test_litestream_is_sqlite_only(live, tmp_path) -> None:
    result = _cli("restore", "--database-url", live.url, "--from-replica")
    assert result.exit_code == 2
    assert "--from-replica is Litestream's, for a SQLite shop" in result.stderr
    with pytest.raises(ConfigError, match="SHOP_REPLICA_URL is Litestream's, which "
                                          "replicates a SQLite file only"):
        Settings.from_env({"SHOP_DATABASE_URL": live.url,
                           "SHOP_REPLICA_URL": "s3://bucket/shop"})
    assert Settings.from_env({"SHOP_REPLICA_URL": "s3://bucket/shop"}).replica_url == \
        "s3://bucket/shop"

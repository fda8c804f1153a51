"""One way to build the schema on PostgreSQL (docs/scaling.md): `shop serve`, `create-admin`
and `seed-demo` migrate an empty database exactly as `shop migrate --database-url` does (the
frozen baseline, then each later branch, recorded in `migratehistory`), so a later
`shop migrate` finds nothing to do. And `shop serve` on PostgreSQL never runs under
Litestream, which replicates a SQLite file only."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import peewee
import pytest
from click.testing import CliRunner

from shop.cli import main
from shop.config import Settings
from shop.db import disconnect_all
from shop.introspect import describe_postgresql
from shop.models import create_schema
from shop.services.migrations import postgresql_history
from tests.pg_databases import empty_database
from tests.servers import running_shop

# engine_fixed: builds its own PostgreSQL databases, in the first pass.
pytestmark = pytest.mark.engine_fixed

SHOP = Path(sys.executable).with_name("shop")
# Every shipped migration, written out: a new migration file adds its name here.
MIGRATIONS = ["001_initial", "002_ledger_head", "003_catalogue_indexes", "004_throttles",
              "005_orders_and_idempotency", "006_selling", "007_event_clients",
              "008_history_and_journeys", "009_photos", "010_mail_outbox", "011_payments",
              "012_job_runs", "013_dashboard_indexes", "014_submission_queue_indexes",
              "015_search_newest_key"]
SHOP_TABLES = 25  # and migratehistory
REPLICA_REFUSED = ("Error: SHOP_REPLICA_URL is Litestream's, which replicates a SQLite file "
                   "only; with SHOP_DATABASE_URL (PostgreSQL) unset it and use the server's "
                   "own WAL archiving or replicas (docs/scaling.md)\n")


@pytest.fixture
def pg_empty(postgresql_url: str) -> Iterator[peewee.Database]:
    with empty_database(postgresql_url) as db:
        yield db
        disconnect_all()  # the commands pointed the shop's database at it


@pytest.fixture
def execs(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """What `shop serve` would exec (gunicorn, or litestream wrapping it), recorded and
    never run."""
    seen: list[list[str]] = []
    monkeypatch.setattr(os, "execvpe", lambda file, argv, env: seen.append(list(argv)))
    return seen


def _tables(db: peewee.Database) -> list[str]:
    return [r[0] for r in db.execute_sql(
        "SELECT relname FROM pg_class WHERE relkind = 'r' "
        "AND relnamespace = 'public'::regnamespace ORDER BY relname").fetchall()]


def _migrate(url: str) -> str:
    result = CliRunner().invoke(main, ["migrate", "--database-url", url])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.slow
def test_shop_serve_builds_what_shop_migrate_builds(pg_empty, postgresql_url, tmp_path):
    with running_shop(tmp_path / "unused.db", workers=1, threads=2,
                      env={"SHOP_DATABASE_URL": pg_empty.url}):
        pass  # it answered /healthz: the schema is there
    assert postgresql_history(pg_empty) == MIGRATIONS
    assert len(_tables(pg_empty)) == SHOP_TABLES + 1
    history = pg_empty.execute_sql("SELECT id, name, migrated_at FROM migratehistory "
                                   "ORDER BY id").fetchall()

    assert _migrate(pg_empty.url) == f"{pg_empty.url} is up to date\n"
    assert pg_empty.execute_sql("SELECT id, name, migrated_at FROM migratehistory "
                                "ORDER BY id").fetchall() == history
    # The same schema as `shop migrate` makes of an empty database, to the last trigger.
    with empty_database(postgresql_url) as migrated:
        assert _migrate(migrated.url) == (
            f"applied {len(MIGRATIONS)} migration(s) to {migrated.url}: "
            + ", ".join(MIGRATIONS) + "\n")
        assert describe_postgresql(pg_empty) == describe_postgresql(migrated)


@pytest.mark.parametrize(("command", "given", "said"), [
    (["create-admin", "--email", "owner@example.com", "--password-stdin"],
     "a long enough password", "created admin owner@example.com\n"),
    (["seed-demo", "--password", "a long enough password"], None, "seeded 6 products"),
], ids=["create-admin", "seed-demo"])
def test_the_commands_that_start_a_shop_migrate_it(pg_empty, command, given, said) -> None:
    result = CliRunner().invoke(main, command, input=given,
                                env={"SHOP_DATABASE_URL": pg_empty.url})
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(said)
    disconnect_all()
    assert postgresql_history(pg_empty) == MIGRATIONS
    assert _migrate(pg_empty.url) == f"{pg_empty.url} is up to date\n"
    assert pg_empty.execute_sql("SELECT count(*) FROM users WHERE role = 'admin'"
                                ).fetchone()[0] == 1


def test_serve_migrates_an_empty_database_then_execs_gunicorn(pg_empty, execs) -> None:
    result = CliRunner().invoke(main, ["serve", "--workers", "1"],
                                env={"SHOP_DATABASE_URL": pg_empty.url})
    assert result.exit_code == 0, result.output
    assert len(execs) == 1 and Path(execs[0][0]).name == "gunicorn"
    assert not any("litestream" in part for part in execs[0])
    assert postgresql_history(pg_empty) == MIGRATIONS
    # A second start finds the schema there and changes nothing.
    again = CliRunner().invoke(main, ["serve"], env={"SHOP_DATABASE_URL": pg_empty.url})
    assert again.exit_code == 0, again.output
    assert postgresql_history(pg_empty) == MIGRATIONS


def test_a_database_built_without_history_is_refused_untouched(pg_empty, execs) -> None:
    """A database given the models' schema directly (as `shop serve` did before it
    migrated) cannot say which migrations it has: refused, never guessed at."""
    create_schema(pg_empty)
    result = CliRunner().invoke(main, ["serve"], env={"SHOP_DATABASE_URL": pg_empty.url})
    assert result.exit_code == 1
    assert "but no migration history: it is not a shop database migrated by " \
        "`shop migrate`; give an empty one" in result.stderr
    assert execs == []
    assert "migratehistory" not in _tables(pg_empty)
    assert len(_tables(pg_empty)) == SHOP_TABLES


def test_serve_on_postgresql_never_runs_under_litestream(pg_empty, execs, tmp_path,
                                                         monkeypatch) -> None:
    replica = f"file://{tmp_path / 'replica'}"
    env = {"SHOP_DATABASE_URL": pg_empty.url, "SHOP_REPLICA_URL": replica}
    refused = CliRunner().invoke(main, ["serve"], env=env)
    assert (refused.exit_code, refused.stderr) == (1, REPLICA_REFUSED)
    assert execs == []
    assert _tables(pg_empty) == []  # refused before anything ran

    # Settings that slipped past that check (made some other way) are refused by serve
    # itself, where Litestream would wrap it.
    real = Settings.from_env

    def both(env: dict[str, str] | None = None) -> Settings:
        settings = real({**(env or os.environ), "SHOP_REPLICA_URL": ""})
        return replace(settings, replica_url=replica)

    monkeypatch.setattr(Settings, "from_env", staticmethod(both))
    slipped = CliRunner().invoke(main, ["serve"], env={"SHOP_DATABASE_URL": pg_empty.url})
    assert slipped.exit_code == 1
    assert slipped.stderr == (
        "Error: SHOP_REPLICA_URL is Litestream's, which replicates a SQLite file only: "
        "`shop serve` on PostgreSQL (SHOP_DATABASE_URL) never runs under it; unset "
        "SHOP_REPLICA_URL (docs/scaling.md)\n")
    assert execs == []
    assert _tables(pg_empty) == []

    # The same settings with a SQLite file do run under Litestream: the check above
    # would see it.
    monkeypatch.setattr(Settings, "from_env", staticmethod(real))
    sqlite = CliRunner().invoke(main, ["--database", str(tmp_path / "shop.db"), "serve"],
                                env={"SHOP_REPLICA_URL": replica, "SHOP_DATABASE_URL": ""})
    assert sqlite.exit_code == 0, sqlite.output
    assert [Path(execs[0][0]).name, execs[0][1]] == ["litestream", "replicate"]


def test_a_real_serve_with_a_replica_on_postgresql_exits_1(pg_empty, tmp_path) -> None:
    done = subprocess.run(
        [str(SHOP), "serve", "--bind", "127.0.0.1:1"], capture_output=True, text=True,
        timeout=60, env={**os.environ, "SHOP_DATABASE_URL": pg_empty.url,
                         "SHOP_REPLICA_URL": f"file://{tmp_path / 'replica'}"})
    assert (done.returncode, done.stdout, done.stderr) == (1, "", REPLICA_REFUSED)
    assert _tables(pg_empty) == []

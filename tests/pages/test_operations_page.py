"""The Operations page (issue 15) and the cron jobs' runs behind it: every cron command
records its run (``job_runs``, migration 012), ok or failed with its error; the page shows
the storage's health, the last backup and its check, the replica and the last run of each
job; old runs are pruned but each job's newest; each lookup reads an index range."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time

from shop.db import database, init_database, write_transaction
from shop.errors import Busy
from shop.services import jobs, system
from shop.services.migrations import migrate
from tests.pages.conftest import Pages
from tests.shopping import rows

PAGE = "/admin/operations"



RUNS = "SELECT job, outcome, detail FROM job_runs ORDER BY id"


def _job_row(html: str, slug: str) -> str:
    """The Operations page's table row for one job."""
    match = re.search(rf"<tr>\s*<th scope=\"row\"><a href=\"/admin/operations/jobs/{slug}\">"
                      r".*?</tr>", html, re.S)
    assert match, slug
    return match.group(0)


def _card(html: str, ident: str) -> str:
    match = re.search(rf'<section class="card" aria-labelledby="{ident}">(.*?)</section>',
                      html, re.S)
    assert match, ident
    return match.group(1)


def test_a_guest_signs_in_first_and_a_customer_is_refused(pages: Pages,
                                                          shopper: Pages) -> None:
    for path in (PAGE, "/admin/operations/jobs/backup"):
        r = pages.get(path)
        assert r.status_code == 303
        assert r.headers["Location"] == f"/admin/login?next={path}"
        assert shopper.get(path).status_code == 403


def test_before_any_run_the_page_says_so(owner: Pages, monkeypatch) -> None:
    html = owner.text(PAGE)
    assert '<a href="/admin/operations" aria-current="page">Operations</a>' in html
    assert ("<span class=\"badge ok\">ok</span>\n    The database can be read and written, "
            "and its disk has room.") in _card(html, "h-storage")
    assert "No backup recorded yet. Run <code>shop backup PATH</code>" in \
        _card(html, "h-backup")
    assert '<span class="badge">not configured</span> SHOP_REPLICA_URL is not set' in \
        _card(html, "h-replica")
    for slug in ("expire-reservations", "orders-expire-unpaid", "mail-send", "offers-expire",
                 "offers-remind", "analytics-rollup", "analytics-prune", "media-gc",
                 "stock-verify", "backup"):
        assert "Never run" in _job_row(html, slug)


def test_a_cron_command_records_its_run_and_the_page_shows_it(owner: Pages, runner,
                                                              db_path: Path) -> None:
    result = runner.invoke(["expire-reservations"])
    assert result.exit_code == 0, result.output
    assert rows(db_path, RUNS) == [("expire-reservations", "ok", "released 0 expired hold(s)")]
    (started, finished), = rows(db_path, "SELECT started_at, finished_at FROM job_runs")
    assert finished >= started
    row = _job_row(owner.text(PAGE), "expire-reservations")
    assert '<span class="badge ok">ok</span>' in row
    assert "released 0 expired hold(s)" in row
    assert f'<time datetime="{datetime.fromisoformat(started).isoformat()}">' in row


def test_a_backup_records_its_check_and_a_failed_one_its_error(owner: Pages, runner,
                                                               db_path: Path,
                                                               tmp_path: Path) -> None:
    good = tmp_path / "backups" / "shop-1.db"
    assert runner.invoke(["backup", str(good)]).exit_code == 0
    html = owner.text(PAGE)
    backup_card = _card(html, "h-backup")
    assert '<span class="badge ok">ok</span> started' in backup_card
    assert f"backed up to {good}: " in backup_card
    assert "integrity, foreign keys and stock ledger ok" in backup_card
    assert "The copy passed its check: integrity, foreign keys and the stock ledger." in \
        backup_card

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = runner.invoke(["backup", str(blocker / "shop.db")])
    assert result.exit_code == 1
    assert f"{blocker} is a file, not a folder" in result.output
    runs = rows(db_path, RUNS)
    assert [(job, outcome) for job, outcome, _ in runs] == [("backup", "ok"),
                                                            ("backup", "failed")]
    assert runs[0][2].startswith(f"backed up to {good}: ")
    assert runs[1][2] == f"Invalid: {blocker} is a file, not a folder"

    backup_card = _card(owner.text(PAGE), "h-backup")
    assert '<span class="badge failed">failed</span> started' in backup_card
    assert f"Invalid: {blocker} is a file, not a folder" in backup_card
    assert "The last good backup: " in backup_card and f"backed up to {good}: " in backup_card
    assert "The copy passed its check" not in backup_card


def test_each_run_records_its_outcome_bounded_and_without_credentials(app,
                                                                      db_path: Path) -> None:
    with pytest.raises(RuntimeError), jobs.run("media-gc"):
        raise RuntimeError("cannot reach s3://AKIA:verysecret@bucket/x " + "y" * 2000)
    with pytest.raises(SystemExit), jobs.run("stock-verify") as job:
        job.detail = "FAILED: 1 problem(s) in 3 products, 4 moves, 0 holds"
        raise SystemExit(1)
    with pytest.raises(SystemExit), jobs.run("orders-expire-unpaid"):
        raise SystemExit(2)
    with jobs.run("mail-send") as job:
        job.detail = "sent 1,\n to retry 0"
    runs = rows(db_path, RUNS)
    assert [(job, outcome) for job, outcome, _ in runs] == [
        ("media-gc", "failed"), ("stock-verify", "failed"), ("orders-expire-unpaid", "failed"),
        ("mail-send", "ok")]
    failure = runs[0][2]
    assert failure.startswith("RuntimeError: cannot reach s3://***@bucket/x yyy")
    assert "verysecret" not in failure and "AKIA" not in failure
    assert len(failure) == 1000 and failure.endswith("…")
    assert runs[1][2] == "FAILED: 1 problem(s) in 3 products, 4 moves, 0 holds"
    assert runs[2][2] == "exit status 2"
    assert runs[3][2] == "sent 1, to retry 0"


def test_a_run_whose_start_could_not_be_written_is_written_whole_at_its_end(
        app, db_path: Path, monkeypatch) -> None:
    """Recording never stops a job: a lock held too long at its start (Busy) skips the
    first row, and the run is written whole when it ends."""
    real = jobs.write_transaction
    calls: list[int] = []

    @contextmanager
    def busy_at_first() -> Iterator[None]:
        calls.append(1)
        if len(calls) == 1:
            raise Busy("the shop is busy; try again in a moment", retry_after=1)
        with real():
            yield

    monkeypatch.setattr(jobs, "write_transaction", busy_at_first)
    with jobs.run("media-gc") as job:
        assert job.id is None
        assert rows(db_path, RUNS) == []
        job.detail = "checked 3 file(s), removed 1"
    assert rows(db_path, RUNS) == [("media-gc", "ok", "checked 3 file(s), removed 1")]
    assert len(calls) == 2


def test_prune_deletes_old_runs_but_each_jobs_newest(owner: Pages, runner,
                                                     db_path: Path) -> None:
    with freeze_time("2026-01-01T03:00:00Z"):
        assert runner.invoke(["expire-reservations"]).exit_code == 0
        assert runner.invoke(["expire-reservations"]).exit_code == 0
        assert runner.invoke(["offers", "expire"]).exit_code == 0
    with freeze_time("2026-05-01T03:00:00Z"):
        assert runner.invoke(["expire-reservations"]).exit_code == 0
        result = runner.invoke(["analytics", "prune", "--days", "90"])
        assert result.exit_code == 0, result.output
    assert "2 job_runs" in result.output
    assert rows(db_path, "SELECT job, substr(started_at, 1, 10), outcome FROM job_runs "
                         "ORDER BY id") == [
        ("offers-expire", "2026-01-01", "ok"),  # old, but its job's newest: kept
        ("expire-reservations", "2026-05-01", "ok"),
        ("analytics-prune", "2026-05-01", "ok"),
    ]


def test_a_jobs_history_is_newest_first_in_pages(owner: Pages, app, db_path: Path) -> None:
    start = datetime(2026, 2, 1, 3, 0, tzinfo=UTC)
    for n in range(23):
        with freeze_time(start + timedelta(minutes=n)), jobs.run("mail-send") as job:
            job.detail = f"sent {n}, to retry 0, given up 0"
    html = owner.text("/admin/operations/jobs/mail-send")
    assert "<h1>Send queued mail</h1>" in html
    assert '<a href="/admin/operations" aria-current="page">Operations</a>' in html
    said = re.findall(r'<td class="detail"[^>]*>sent (\d+),', html)
    assert said == [str(n) for n in range(22, 2, -1)]
    next_url = re.search(r'<a rel="next" href="([^"]+)">', html).group(1).replace("&amp;", "&")
    html = owner.text(next_url)
    assert re.findall(r'<td class="detail"[^>]*>sent (\d+),', html) == ["2", "1", "0"]
    assert 'rel="next"' not in html
    assert owner.get("/admin/operations/jobs/no-such-job").status_code == 404
    assert owner.get("/admin/operations/jobs/mail-send?cursor=nope").status_code == 400


def test_a_storage_problem_is_said_in_words(owner: Pages, monkeypatch) -> None:
    monkeypatch.setattr(system, "storage_health", lambda: "read_only")
    card = _card(owner.text(PAGE), "h-storage")
    assert '<span class="badge failed">read_only</span>' in card
    assert "The shop&#39;s files are read-only: check the permissions and the mount." in card


@pytest.fixture
def replicated(monkeypatch) -> None:
    """SHOP_REPLICA_URL set (with credentials) before the app is made."""
    monkeypatch.setenv("SHOP_REPLICA_URL", "s3://AKIAKEY:topsecret@shop-bucket/shop.db")


@pytest.mark.sqlite_only  # Litestream's folder beside the SQLite file
def test_a_replica_is_shown_without_its_credentials(replicated, owner: Pages,
                                                    db_path: Path) -> None:
    card = _card(owner.text(PAGE), "h-replica")
    assert '<span class="badge ok">configured</span>' in card
    assert "<code>s3://***@shop-bucket/shop.db</code>" in card
    assert "topsecret" not in card and "AKIAKEY" not in card
    assert "Litestream has captured nothing beside the database yet." in card
    ltx = db_path.parent / f".{db_path.name}-litestream" / "ltx" / "0"
    ltx.mkdir(parents=True)
    (ltx / "0000000000000001-0000000000000001.ltx").write_bytes(b"ltx")
    stamp = datetime(2026, 6, 1, 12, 0, 5, tzinfo=UTC).timestamp()
    import os

    os.utime(ltx / "0000000000000001-0000000000000001.ltx", (stamp, stamp))
    card = _card(owner.text(PAGE), "h-replica")
    assert ('Last change Litestream captured beside the database: '
            '<time datetime="2026-06-01T12:00:05+00:00">2026-06-01 12:00:05</time>.') in card


def test_the_page_only_reads_a_post_changes_nothing(owner: Pages, runner,
                                                    db_path: Path) -> None:
    assert runner.invoke(["expire-reservations"]).exit_code == 0
    before = rows(db_path, RUNS)
    for token in (None, "", "forged"):
        assert owner.post(PAGE, {}, csrf=token).status_code == 405
    assert rows(db_path, RUNS) == before


# -- query plans ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def many_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A year of runs, 50,000: half of them the every-minute holds, the rest spread over
    the ten jobs, one in 13 failed; with statistics."""
    path = tmp_path_factory.mktemp("job-plans") / "shop.db"
    init_database(path)
    migrate()
    slugs = list(jobs.JOBS)
    with write_transaction():
        database.execute_sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000) "
            "INSERT INTO job_runs (job, started_at, finished_at, outcome, detail) "
            "SELECT CASE WHEN i % 2 = 0 THEN 'expire-reservations' ELSE "
            f"json_extract('{jobs_json(slugs)}', '$[' || (i / 2 % 10) || ']') END, "
            "strftime('%Y-%m-%dT%H:%M:%fZ', '2026-01-01', '+' || (i * 10) || ' minutes'), "
            "strftime('%Y-%m-%dT%H:%M:%fZ', '2026-01-01', '+' || (i * 10 + 1) || ' minutes'), "
            "CASE WHEN i % 13 = 0 THEN 'failed' ELSE 'ok' END, 'x' FROM n")
    system.refresh_statistics(full=True)
    yield path
    database.close()


def jobs_json(slugs: list[str]) -> str:
    return "[" + ",".join(f'"{s}"' for s in slugs) + "]"


def _plan(sql: str, params: tuple) -> list[str]:
    return [re.sub(r"\b(t1|t2|newer)\b ?", "", r[3]).strip()
            for r in database.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params)]


def _statements(call, monkeypatch) -> list[tuple[str, tuple]]:
    seen: list[tuple[str, tuple]] = []
    execute = database.execute_sql

    def spy(sql, params=None, *args, **kwargs):
        if sql.lstrip().upper().startswith("SELECT"):
            seen.append((sql, tuple(params or ())))
        return execute(sql, params, *args, **kwargs)

    monkeypatch.setattr(database, "execute_sql", spy)
    try:
        call()
    finally:
        monkeypatch.undo()
    return seen


# The cron commands whose runs are recorded (README, "Commands"), written out here.
CRON_JOBS = ("expire-reservations", "orders-expire-unpaid", "mail-send", "offers-expire",
             "offers-remind", "analytics-rollup", "analytics-prune", "media-gc",
             "stock-verify", "backup")


@pytest.mark.sqlite_only  # EXPLAIN QUERY PLAN on a SQLite file of 50,000 runs
@pytest.mark.parametrize("outcome", [None, "ok", "failed"])
def test_a_jobs_last_run_is_the_end_of_its_index_range(many_runs, monkeypatch,
                                                       outcome) -> None:
    init_database(many_runs)
    for slug in CRON_JOBS:
        assert jobs.last_run(slug, outcome) is not None
        (sql, params), = _statements(lambda s=slug: jobs.last_run(s, outcome), monkeypatch)
        assert _plan(sql, params) == [  # job_runs, which Peewee calls t1
            "SEARCH USING INDEX job_runs_job_started_at (job=?)"], sql


@pytest.mark.sqlite_only  # EXPLAIN QUERY PLAN on a SQLite file
def test_a_jobs_history_pages_read_its_index_range_in_order(many_runs, monkeypatch) -> None:
    init_database(many_runs)
    first = jobs.runs("backup")
    for cursor in (None, first.next_cursor):
        (sql, params), = _statements(lambda c=cursor: jobs.runs("backup", cursor=c),
                                     monkeypatch)
        plan = _plan(sql, params)
        assert len(plan) == 1 and plan[0].startswith(
            "SEARCH USING INDEX job_runs_job_started_at (job=?"), plan
    assert len(first.items) == 20 and first.next_cursor


@pytest.mark.sqlite_only  # EXPLAIN QUERY PLAN on a SQLite file
def test_pruning_runs_probes_the_index_for_a_newer_run(many_runs) -> None:
    init_database(many_runs)
    from shop.models import JobRun

    select = JobRun.select(JobRun.id).where(
        jobs.retention(datetime(2026, 6, 1, tzinfo=UTC))).limit(2000)
    sql, params = select.sql()
    plan = _plan(sql, tuple(params))
    # The old runs by the index (each job's range skipped to), and for each one a probe
    # of its own job's range for a newer run: no scan of the table, no sort.
    assert plan == [
        "SEARCH USING COVERING INDEX job_runs_job_started_at (ANY(job) AND started_at<?)",
        "CORRELATED SCALAR SUBQUERY 1",
        "SEARCH USING COVERING INDEX job_runs_job_started_at (job=? AND started_at>?)"], plan

"""The Audit log page (issue 15): who changed what, newest first, filtered by actor (email
or account number) and entity (kind and id), in keyset pages; each filter a range of an
index read in order (EXPLAIN QUERY PLAN)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

from shop.db import database, init_database, write_transaction
from shop.services import audit, catalogue, stock, system
from shop.services.migrations import migrate
from tests.conftest import sign_up
from tests.pages.conftest import Pages
from tests.shopping import rows

PAGE = "/admin/audit"
ROW = re.compile(r"<tr>\s*<td[^>]*><time[^>]*>[^<]*</time></td>\s*<td[^>]*>(.*?)</td>\s*"
                 r"<td[^>]*><code>(.*?)</code></td>\s*<td[^>]*>(.*?)</td>\s*<td[^>]*>(.*?)</td>"
                 r"\s*</tr>", re.S)


def _entries(html: str) -> list[tuple[str, str, str]]:
    """(who, action, about) of each row shown, in order."""
    return [(who, action, about) for who, action, about, _details in ROW.findall(html)]


def _user_id(db_path: Path, email: str) -> int:
    return rows(db_path, "SELECT id FROM users WHERE email = ?", email)[0][0]


@pytest.fixture
def log(client, owner: Pages, db_path: Path) -> dict[str, object]:
    """The owner makes a coat, reprices it, restocks it and marks an order paid; a second
    admin makes a jacket. Oldest first, as written."""
    sign_up(client, "second@example.com", admin=True)
    me, second = _user_id(db_path, "owner@example.com"), _user_id(db_path, "second@example.com")
    coat = catalogue.create_product({"sku": "C-1", "title": "Coat", "category": "coats",
                                     "condition": "good", "price_cents": 1000},
                                    actor_id=me)["id"]
    catalogue.update_product(coat, {"price_cents": 1200}, actor_id=me)
    stock.adjust(coat, 2, "restock", actor_id=me)
    with write_transaction():
        audit.record(me, "order.status", "order", "ES-TEST-0001", {"status": "pending"},
                     {"status": "paid"})
    jacket = catalogue.create_product({"sku": "J-1", "title": "Jacket", "category": "jackets",
                                       "condition": "good", "price_cents": 900},
                                      actor_id=second)["id"]
    return {"me": me, "second": second, "coat": coat, "jacket": jacket}


def test_a_guest_signs_in_first_and_a_customer_is_refused(pages: Pages,
                                                          shopper: Pages) -> None:
    r = pages.get(f"{PAGE}?actor=x")
    assert r.status_code == 303
    assert r.headers["Location"] == "/admin/login?next=/admin/audit?actor%3Dx"
    assert shopper.get(PAGE).status_code == 403


def test_the_log_is_newest_first_with_who_what_and_the_changes(owner: Pages, log) -> None:
    html = owner.text(PAGE)
    assert '<a href="/admin/audit" aria-current="page">Audit</a>' in html
    coat, jacket = log["coat"], log["jacket"]
    assert _entries(html) == [
        ("second@example.com", "product.create", f"product {jacket}"),
        ("owner@example.com", "order.status", "order ES-TEST-0001"),
        ("owner@example.com", "stock.restock", f"product {coat}"),
        ("owner@example.com", "product.update", f"product {coat}"),
        ("owner@example.com", "product.create", f"product {coat}"),
    ]
    details = dict(((a, b), d) for _w, a, b, d in ROW.findall(html))
    assert "<li>status: pending → paid</li>" in details[("order.status", "order ES-TEST-0001")]
    assert "<li>price_cents: 1000 → 1200</li>" in details[("product.update", f"product {coat}")]
    assert "<li>sku: C-1</li>" in details[("product.create", f"product {coat}")]


@pytest.mark.parametrize(("query", "expected"), [
    ("actor=owner@example.com", ["order.status", "stock.restock", "product.update",
                                 "product.create"]),
    ("actor=OWNER@example.com+", ["order.status", "stock.restock", "product.update",
                                  "product.create"]),
    ("actor={second}", ["product.create"]),
    ("entity_type=order", ["order.status"]),
    ("entity_type=product", ["product.create", "stock.restock", "product.update",
                             "product.create"]),
    ("entity_type=product&entity_id={coat}", ["stock.restock", "product.update",
                                              "product.create"]),
    ("actor=owner@example.com&entity_type=product", ["stock.restock", "product.update",
                                                     "product.create"]),
    ("actor={second}&entity_type=product&entity_id={coat}", []),
    ("actor={second}&entity_type=order", []),
])
def test_each_filter_shows_exactly_the_matching_rows(owner: Pages, log, query,
                                                     expected) -> None:
    query = query.format(**log)
    html = owner.text(f"{PAGE}?{query}")
    assert [action for _who, action, _about in _entries(html)] == expected
    if not expected:
        assert '<td colspan="5">No changes match.</td>' in html
    for name, value in (part.split("=") for part in query.split("&")):  # kept in the form
        assert f'name="{name}"' in html and (f'value="{value.replace("+", " ")}"' in html
                                             or f'<option value="{value}" selected>' in html)


@pytest.mark.parametrize(("query", "status", "message", "field"), [
    ("actor=nobody@example.com", 404, "no account has the email nobody@example.com", "actor"),
    ("actor=the+boss", 400, "the actor must be an email address or an account number",
     "actor"),
    ("entity_type=invoice", 400, "the entity must be one of product, order, submission",
     "entity_type"),
    ("entity_type=product&entity_id=1%3B+DROP", 400,
     "the entity id must be 1 to 64 letters, digits or hyphens", "entity_id"),
    ("entity_id=12", 400, "choose the kind of entity the id belongs to", "entity_type"),
    ("cursor=not-a-cursor", 400, "the cursor is not valid for this list; start again "
                                 "without it", None),
])
def test_a_filter_that_cannot_be_is_said_beside_the_form(owner: Pages, log, query, status,
                                                         message, field) -> None:
    r = owner.get(f"{PAGE}?{query}")
    assert r.status_code == status
    html = r.get_data(as_text=True)
    assert f'<p class="error form-error" role="alert">{message}</p>' in html
    if field:
        assert re.search(rf'id="f-{field}" name="{field}"[^>]*aria-invalid="true"', html), html
    assert "<table" not in html
    typed = unquote(query.split("=", 1)[1].split("&")[0]).replace("+", " ")
    if query.startswith("actor="):
        assert f'value="{typed}"' in html


def test_pages_follow_one_another_with_the_filters_kept(owner: Pages, log,
                                                        db_path: Path) -> None:
    me = log["me"]
    for n in range(23):
        with write_transaction():
            audit.record(me, "order.status", "order", f"ES-MANY-{n:04d}", None,
                         {"status": "paid"})
    html = owner.text(f"{PAGE}?actor=owner@example.com&entity_type=order")
    first = _entries(html)
    assert [about for _w, _a, about in first] == [f"order ES-MANY-{n:04d}"
                                                  for n in range(22, 2, -1)]
    next_url = re.search(r'<a rel="next" href="([^"]+)">', html).group(1).replace("&amp;", "&")
    assert next_url.startswith("/admin/audit?actor=owner%40example.com&entity_type=order&cursor=")
    second = _entries(owner.text(next_url))
    assert [about for _w, _a, about in second] == [
        "order ES-MANY-0002", "order ES-MANY-0001", "order ES-MANY-0000",
        "order ES-TEST-0001"]
    assert 'rel="next"' not in owner.text(next_url)
    assert rows(db_path, "SELECT count(*) FROM audit_logs WHERE entity_type = 'order'") == \
        [(24,)]


def test_the_page_only_reads_a_post_changes_nothing(owner: Pages, log,
                                                    db_path: Path) -> None:
    """Its one form is a GET (filters change nothing), so there is no form to forge: a
    POST, with the session's token or without, is refused and nothing changes."""
    before = rows(db_path, "SELECT count(*) FROM audit_logs")
    for token in (None, "", "forged"):
        r = owner.post(PAGE, {"actor": "owner@example.com"}, csrf=token)
        assert r.status_code == 405
    assert rows(db_path, "SELECT count(*) FROM audit_logs") == before


# -- query plans ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """30,000 audit rows by two admins over three kinds of entity, 5,000 other accounts,
    with statistics."""
    path = tmp_path_factory.mktemp("audit-plans") / "shop.db"
    init_database(path)
    migrate()
    with write_transaction():
        for n in (1, 2):
            database.execute_sql(
                "INSERT INTO users (email, password_hash, name, role, created_at, updated_at) "
                "VALUES (?, 'x', 'A', 'admin', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
                (f"admin{n}@example.com",))
        database.execute_sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) "
            "INSERT INTO users (email, password_hash, name, role, created_at, updated_at) "
            "SELECT 'c' || i || '@example.com', 'x', 'C', 'customer', "
            "'2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z' FROM n")
        database.execute_sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30000) "
            "INSERT INTO audit_logs (actor_id, action, entity_type, entity_id, created_at) "
            "SELECT 1 + (i % 7 = 0), 'x', CASE i % 3 WHEN 0 THEN 'product' WHEN 1 THEN 'order' "
            "ELSE 'submission' END, CAST(i % 4000 AS TEXT), '2026-01-01T00:00:00Z' FROM n")
    system.refresh_statistics(full=True)
    yield path
    database.close()


def _plans_of(call, monkeypatch) -> tuple[object, list[tuple[str, list[str]]]]:
    """What ``call`` returns, and each SELECT it ran with its query plan."""
    seen: list[tuple[str, tuple]] = []
    execute = database.execute_sql

    def spy(sql, params=None, *args, **kwargs):
        if sql.lstrip().upper().startswith("SELECT"):
            seen.append((sql, tuple(params or ())))
        return execute(sql, params, *args, **kwargs)

    monkeypatch.setattr(database, "execute_sql", spy)
    result = call()
    monkeypatch.undo()
    plans = [(sql, [r[3] for r in database.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params)])
             for sql, params in seen]
    return result, plans


@pytest.mark.sqlite_only  # EXPLAIN QUERY PLAN on a SQLite file of 30,000 rows
@pytest.mark.parametrize(("filters", "index"), [
    ({}, None),
    ({"actor": "2"}, "audit_logs_actor_id (actor_id=?"),
    ({"actor": "admin2@example.com"}, "audit_logs_actor_id (actor_id=?"),
    ({"entity_type": "order"}, "audit_logs_entity_type_id (entity_type=?"),
    ({"entity_type": "order", "entity_id": "17"},
     "audit_logs_entity_type_entity_id (entity_type=? AND entity_id=?"),
    ({"actor": "2", "entity_type": "product"},
     "audit_logs_actor_id_entity_type_id (actor_id=? AND entity_type=?"),
    ({"actor": "2", "entity_type": "product", "entity_id": "21"},
     "audit_logs_entity_type_entity_id (entity_type=? AND entity_id=?"),
])
def test_each_filter_reads_one_index_range_in_order(big_log, monkeypatch, filters,
                                                    index) -> None:
    init_database(big_log)
    first, plans = _plans_of(lambda: audit.search(**filters), monkeypatch)
    assert first.items
    cursor = first.next_cursor
    if cursor:
        _second, more = _plans_of(lambda: audit.search(**filters, cursor=cursor), monkeypatch)
        plans += more
    tables = [re.search(r'FROM "(\w+)"', sql).group(1) for sql, _plan in plans]
    assert tables[0] == "users" if "@" in filters.get("actor", "") else "audit_logs"
    assert "audit_logs" in tables and tables[-1] == "users"  # the page's actors' emails
    for (sql, plan), table in zip(plans, tables, strict=True):
        assert len(plan) == 1 and "TEMP B-TREE" not in plan[0], (sql, plan)
        step = re.sub(r"^(\w+) t1\b ?", r"\1 ", plan[0]).strip()  # Peewee says t1
        if table == "audit_logs" and index is not None:
            assert step.startswith("SEARCH USING INDEX " + index), (sql, plan)
        elif table == "audit_logs":  # no filter: the table itself, newest id first
            assert step in ("SCAN", "SEARCH USING INTEGER PRIMARY KEY (rowid<?)"), plan
        else:
            assert step in ("SEARCH USING INTEGER PRIMARY KEY (rowid=?)",
                            "SEARCH USING INDEX users_email (email=?)"), plan

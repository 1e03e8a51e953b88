"""The Store (ivr/db/store.py) on both engines: SQL with :name parameters and IN lists, rows by table,
autocommit outside a transaction, one transaction inside, rolled back when the block raises; on SQLite
the sqlite-utils handle and its Store share one connection and so one transaction; on PostgreSQL code
written for sqlite-utils fails at once."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from ivr.db.connect import connect
from ivr.db.store import open_store, store_of

T0 = "2026-12-03T00:00:00Z"


def borrower(n: int, **extra):
    return {"loan_id": f"L{n}", "name": f"b{n}", "created_at": T0, "updated_at": T0, **extra}


def test_dialect_names_the_engine(store, engine_url):
    assert store.dialect == ("sqlite" if engine_url.startswith("sqlite") else "postgresql")


def test_insert_returns_the_new_id_and_get_reads_the_row_back(store):
    first, second = store.insert("borrowers", borrower(1)), store.insert("borrowers", borrower(2))
    assert isinstance(first, int) and second == first + 1
    row = store.get("borrowers", second)
    assert row["loan_id"] == "L2" and row["locale"] == "zh-CN", "server defaults filled in"
    assert store.get("borrowers", second + 100) is None


def test_insert_of_a_given_text_key_and_of_a_composite_key(store):
    assert store.insert("dnc", {"number": "13800000000", "created_at": T0}) == "13800000000"
    bid = store.insert("borrowers", borrower(1))
    cid = store.insert("campaigns", {"name": "c", "created_at": T0, "updated_at": T0})
    key = store.insert("campaign_targets", {"campaign_id": cid, "borrower_id": bid, "next_at": T0, "updated_at": T0})
    assert key == (cid, bid)
    assert store.get("campaign_targets", (cid, bid))["status"] == "pending"
    with pytest.raises(ValueError, match="primary key"):
        store.get("campaign_targets", cid)


def test_query_one_scalar_with_named_parameters(store):
    store.insert_all("borrowers", [borrower(n, amount_due=n * 100) for n in range(1, 6)])
    rows = store.query("SELECT loan_id, amount_due FROM borrowers WHERE amount_due >= :low ORDER BY amount_due",
                       {"low": 300})
    assert rows == [{"loan_id": "L3", "amount_due": 300}, {"loan_id": "L4", "amount_due": 400},
                    {"loan_id": "L5", "amount_due": 500}]
    assert store.one("SELECT name FROM borrowers WHERE loan_id = :l", {"l": "L2"}) == {"name": "b2"}
    assert store.one("SELECT name FROM borrowers WHERE loan_id = :l", {"l": "nobody"}) is None
    assert store.scalar("SELECT SUM(amount_due) FROM borrowers") == 1500
    assert store.scalar("SELECT id FROM borrowers WHERE loan_id = 'nobody'") is None


def test_a_list_parameter_is_an_in_list(store):
    store.insert_all("borrowers", [borrower(n) for n in range(1, 6)])
    sql = "SELECT loan_id FROM borrowers WHERE loan_id IN :loans ORDER BY loan_id"
    assert [r["loan_id"] for r in store.query(sql, {"loans": ["L4", "L2", "L9"]})] == ["L2", "L4"]
    assert [r["loan_id"] for r in store.query(sql, {"loans": ("L1",)})] == ["L1"]
    by_id = "SELECT COUNT(*) FROM borrowers WHERE id {} :ids"
    assert store.scalar(by_id.format("IN"), {"ids": []}) == 0       # (an empty set is typed INTEGER)
    assert store.scalar(by_id.format("NOT IN"), {"ids": []}) == 5


def test_execute_and_update_count_the_rows_they_change(store):
    ids = [store.insert("borrowers", borrower(n)) for n in range(1, 4)]
    assert store.execute("UPDATE borrowers SET name = :n WHERE id IN :ids", {"n": "x", "ids": ids[:2]}) == 2
    assert store.update("borrowers", ids[2], {"name": "y", "amount_due": 7}) == 1
    assert store.update("borrowers", 999, {"name": "z"}) == 0
    assert store.update("borrowers", ids[2], {}) == 0
    assert [r["name"] for r in store.query("SELECT name FROM borrowers ORDER BY id")] == ["x", "x", "y"]


def test_insert_all_is_one_transaction(store):
    with pytest.raises(sa.exc.IntegrityError):
        store.insert_all("borrowers", [borrower(1), borrower(2), borrower(1)])   # loan_id is unique
    assert store.scalar("SELECT COUNT(*) FROM borrowers") == 0
    assert store.insert_all("borrowers", []) == 0


def test_upsert_inserts_then_updates_only_the_columns_given(store):
    store.upsert("web_settings", {"key": "k", "value": "1", "updated_at": T0})
    store.upsert("web_settings", {"key": "k", "value": "2", "updated_by": "ann", "updated_at": T0})
    store.upsert("web_settings", {"key": "k", "value": "3", "updated_at": T0})
    assert store.query("SELECT * FROM web_settings") == [
        {"key": "k", "value": "3", "updated_by": "ann", "updated_at": T0}]
    store.upsert("borrowers", borrower(1, name="first"), pk="loan_id")
    store.upsert("borrowers", borrower(1, name="second"), pk="loan_id")
    assert store.query("SELECT loan_id, name FROM borrowers") == [{"loan_id": "L1", "name": "second"}]
    key_only = {"campaign_id": 1, "borrower_id": store.scalar("SELECT id FROM borrowers")}
    store.insert("campaigns", {"id": 1, "name": "c", "created_at": T0, "updated_at": T0})
    store.upsert("campaign_targets", {**key_only, "next_at": T0, "updated_at": T0, "status": "done"})
    store.upsert("campaign_targets", {**key_only, "next_at": "later", "updated_at": T0})
    assert store.one("SELECT next_at, status FROM campaign_targets") == {"next_at": "later", "status": "done"}


def test_statements_outside_a_transaction_are_committed_at_once(store, engine_url):
    other = open_store(engine_url)
    try:
        store.insert("borrowers", borrower(1))
        assert other.scalar("SELECT COUNT(*) FROM borrowers") == 1
        assert not store.in_transaction
    finally:
        other.close()


def test_a_transaction_commits_at_its_end_and_is_not_seen_before(store, engine_url):
    other = open_store(engine_url)
    try:
        with store.transaction():
            assert store.in_transaction
            store.insert("borrowers", borrower(1))
            with store.transaction():          # nested: joins the outer one
                store.insert("borrowers", borrower(2))
            assert store.scalar("SELECT COUNT(*) FROM borrowers") == 2
            assert other.scalar("SELECT COUNT(*) FROM borrowers") == 0
        assert other.scalar("SELECT COUNT(*) FROM borrowers") == 2
        assert not store.in_transaction
    finally:
        other.close()


def test_a_transaction_that_raises_is_rolled_back(store):
    store.insert("borrowers", borrower(1))
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.update("borrowers", store.scalar("SELECT id FROM borrowers"), {"name": "changed"})
            store.insert("borrowers", borrower(2))
            raise RuntimeError("boom")
    assert store.query("SELECT loan_id, name FROM borrowers") == [{"loan_id": "L1", "name": "b1"}]
    assert not store.in_transaction
    store.insert("borrowers", borrower(3))     # and the connection is usable again
    assert store.scalar("SELECT COUNT(*) FROM borrowers") == 2


def test_a_failed_statement_in_a_transaction_rolls_all_of_it_back(store):
    with pytest.raises(sa.exc.IntegrityError):
        with store.transaction():
            store.insert("borrowers", borrower(1))
            store.insert("borrowers", borrower(1))
    assert store.scalar("SELECT COUNT(*) FROM borrowers") == 0


def test_foreign_keys_and_guards_hold_through_the_store(store):
    with pytest.raises(sa.exc.IntegrityError):
        store.insert("contacts", {"borrower_id": 12345, "phone": "1", "created_at": T0})
    store.insert("audit_log", {"at": T0, "action": "x"})
    with pytest.raises(sa.exc.IntegrityError):
        store.execute("DELETE FROM audit_log")


def test_bad_arguments_say_what_is_wrong(store):
    with pytest.raises(TypeError, match="placeholders"):
        store.query("SELECT * FROM borrowers WHERE id = ?", [1])
    with pytest.raises(ValueError, match="no table 'nope'"):
        store.insert("nope", {"a": 1})
    with pytest.raises(TypeError, match="not a Huifang database handle"):
        store_of(object())


def test_postgresql_has_no_sqlite_utils_side(postgres_url):
    """Code not yet ported calls db["table"] / db.execute("... ?") / db.conn: on PostgreSQL it stops at once."""
    from ivr.db import migrate
    migrate.upgrade(postgres_url)
    store = open_store(postgres_url)
    try:
        with pytest.raises(TypeError):
            store["borrowers"]
        with pytest.raises(TypeError, match="placeholders"):
            store.execute("UPDATE borrowers SET name = ? WHERE id = ?", ["x", 1])
        with pytest.raises(AttributeError):
            store.conn
    finally:
        store.close()


# ---- SQLite: the sqlite-utils handle and its Store are one connection ------------------------------
@pytest.fixture
def sqlite_db(tmp_path):
    db = connect(tmp_path / "t.db")
    yield db
    db.store.close()


def test_the_handle_and_its_store_share_one_sqlite_connection(sqlite_db):
    assert sqlite_db.store.driver_connection is sqlite_db.conn
    assert store_of(sqlite_db) is sqlite_db.store


def test_a_sqlite_utils_transaction_is_the_stores_too(sqlite_db, tmp_path):
    db, store = sqlite_db, sqlite_db.store
    with pytest.raises(RuntimeError):
        with db.conn:
            db.execute("BEGIN IMMEDIATE")
            store.insert("borrowers", borrower(1))
            with store.transaction():              # joins the open one, commits nothing
                store.insert("borrowers", borrower(2))
            assert db.execute("SELECT COUNT(*) FROM borrowers").fetchone()[0] == 2
            raise RuntimeError("boom")
    assert store.scalar("SELECT COUNT(*) FROM borrowers") == 0
    with db.conn:
        db.execute("BEGIN IMMEDIATE")
        store.insert("borrowers", borrower(3))
    other = connect(tmp_path / "t.db", migrate=False)
    assert other.store.scalar("SELECT COUNT(*) FROM borrowers") == 1
    other.conn.close()


def test_a_store_transaction_is_the_sqlite_utils_handles_too(sqlite_db):
    db, store = sqlite_db, sqlite_db.store
    with pytest.raises(RuntimeError):
        with store.transaction():
            db["borrowers"].insert(borrower(1))
            assert store.scalar("SELECT COUNT(*) FROM borrowers") == 1
            raise RuntimeError("boom")
    assert db.execute("SELECT COUNT(*) FROM borrowers").fetchone()[0] == 0


def test_a_sqlite_store_transaction_holds_the_write_lock_from_its_start(sqlite_db, tmp_path):
    other = connect(tmp_path / "t.db", migrate=False)
    other.conn.execute("PRAGMA busy_timeout = 0")
    try:
        with sqlite_db.store.transaction():
            with pytest.raises(sa.exc.OperationalError, match="locked"):
                other.store.insert("borrowers", borrower(1))
    finally:
        other.conn.close()


def test_a_handle_closed_by_old_code_leaves_its_store_closable(tmp_path):
    db = connect(tmp_path / "t.db")
    db.conn.close()          # what the web app's teardown does today
    db.store.close()


def test_rows_of_a_dropped_handle_can_still_be_read(tmp_path):
    """`connect(p).query(...)` returns a generator: the sqlite3 connection must outlive the handle."""
    import gc
    connect(tmp_path / "t.db").store.insert("borrowers", borrower(1))
    rows = connect(tmp_path / "t.db", migrate=False).query("SELECT loan_id FROM borrowers")
    gc.collect()
    assert [r["loan_id"] for r in rows] == ["L1"]


def test_closing_the_store_closes_the_sqlite_connection(sqlite_db):
    sqlite_db.store.close()
    with pytest.raises(Exception, match="closed"):
        sqlite_db.execute("SELECT 1")


def test_open_database_follows_the_database_url_setting(engine_url, tmp_path):
    from dataclasses import replace

    from ivr.config import Settings
    from ivr.db.connect import Database, open_database
    settings = replace(Settings(), cache_dir=tmp_path / "cache", database_url=engine_url)
    handle = open_database(settings)
    try:
        s = store_of(handle)
        assert s.dialect == ("sqlite" if engine_url.startswith("sqlite") else "postgresql")
        # on SQLite the sqlite-utils handle too; on PostgreSQL there is none to hand out
        assert isinstance(handle, Database) == (s.dialect == "sqlite")
        s.insert("nodes", {"name": "n1", "capacity": 4, "started_at": "2026-12-03T00:00:00Z",
                             "beat_at": "2026-12-03T00:00:00Z", "ami_host": "127.0.0.1", "ami_port": 5038})
        assert s.scalar("SELECT capacity FROM nodes WHERE name = :n", {"n": "n1"}) == 4
    finally:
        store_of(handle).close()


def test_booleans_are_stored_as_the_integers_the_schema_has(store):
    node = {"name": "n1", "capacity": 4, "started_at": "2026-12-03T00:00:00Z", "beat_at": "2026-12-03T00:00:00Z",
            "ami_host": "127.0.0.1", "ami_port": 5038, "ami_connected": True}
    store.insert("nodes", node)
    store.update("nodes", "n1", {"ami_connected": False})
    assert store.scalar("SELECT ami_connected FROM nodes") == 0
    store.upsert("nodes", {**node, "ami_connected": True})
    store.execute("UPDATE nodes SET capacity = :c WHERE ami_connected = :up", {"c": 8, "up": True})
    assert store.one("SELECT capacity, ami_connected FROM nodes") == {"capacity": 8, "ami_connected": 1}

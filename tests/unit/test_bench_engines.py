"""The benches' bulk loading (bench/engines.py) on both engines: every row arrives with its values
(COPY on PostgreSQL, executemany on SQLite, in batches), and after rows loaded with explicit ids the
database still picks a fresh id for the next ordinary insert."""
from __future__ import annotations

from bench import engines

STAMP = "2026-12-01T00:00:00.000+00:00"


def borrower_rows(first: int, last: int):
    return ((i, f"L{i}", f"客户{i}", None if i % 2 else 500, "Asia/Shanghai", STAMP, STAMP)
            for i in range(first, last + 1))


def test_bulk_load_writes_every_row_and_leaves_ids_to_the_database_after(store, monkeypatch):
    monkeypatch.setattr(engines, "CHUNK", 7)    # several executemany batches on SQLite
    columns = ("id", "loan_id", "name", "amount_due", "timezone", "created_at", "updated_at")
    assert engines.bulk_load(store, "borrowers", columns, borrower_rows(1, 30)) == 30
    engines.fix_sequences(store, ["borrowers"])
    rows = store.query("SELECT id, loan_id, name, amount_due FROM borrowers ORDER BY id")
    assert [r["id"] for r in rows] == list(range(1, 31))
    assert rows[2] == {"id": 3, "loan_id": "L3", "name": "客户3", "amount_due": None}
    assert rows[3]["amount_due"] == 500
    new_id = store.insert("borrowers", {"loan_id": "next", "name": "n", "timezone": "Asia/Shanghai",
                                        "created_at": STAMP, "updated_at": STAMP})
    assert new_id == 31


def test_bulk_load_of_nothing_writes_nothing(store):
    assert engines.bulk_load(store, "borrowers", ("id", "loan_id"), iter(())) == 0
    assert store.scalar("SELECT count(*) FROM borrowers") == 0


def test_engine_of_names_the_engine():
    assert engines.engine_of("sqlite:////tmp/x.db") == "sqlite"
    assert engines.engine_of("postgresql://huifang@127.0.0.1/x") == "postgresql"

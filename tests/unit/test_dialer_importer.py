"""Borrower and payment import: validation of every row, encodings, XLSX, re-import counts.

The tests that write run on both engines (`store`: SQLite and PostgreSQL), so what a row may hold
is checked against what PostgreSQL accepts too."""
from __future__ import annotations

import datetime as dt

import openpyxl
import pytest
import sqlalchemy as sa

from ivr.db.store import store_of
from ivr.dialer import importer

HEADER = "loan_id,name,id_last4,phone,phone2,phone2_type,contact1_phone,contact1_relation,contact1_name,amount_due,due_date,locale,timezone\n"


@pytest.fixture
def db(store):
    """The Store of a migrated empty database, on each engine."""
    return store


def one(db, sql, **params):
    return db.one(sql, params)


def write(tmp_path, text, name="b.csv", encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def test_good_and_bad_rows_reported_with_line_and_reason(db, tmp_path):
    p = write(tmp_path, HEADER
              + "L1,张伟,1234,138 0000 0001,010-6552-9988,home,13900000009,spouse,李娜,\"3,500\",2026-12-05,zh-CN,Asia/Shanghai\n"
              + "L2,김민수,5678,010-1234-5678,,,,,,350000,2026/12/06,ko-KR,\n"
              + "L3,王五,12,12345,,,,,,100,2026-12-01,zh-CN,\n"          # bad phone (id padded is fine)
              + "L4,赵六,1234,13800000004,,,,,,abc,2026-12-01,zh-CN,\n"   # bad amount
              + "L5,钱七,1234,13800000005,,,,,,100,2026-02-30,zh-CN,\n"   # bad date
              + "L6,孙八,1234,13800000006,,,,,,100,2026-12-01,fr-FR,\n"   # bad locale
              + "L7,周九,1234,13800000007,,,,,,100,2026-12-01,zh-CN,Mars/Base\n"  # bad tz
              + "L8,吴十,1234,13800000008,,,13800000018,,,100,2026-12-01,zh-CN,\n"  # contact w/o relation
              + "L9,,1234,13800000009,,,,,,100,2026-12-01,zh-CN,\n"       # no name
              + "L1,张伟二,1234,13800000010,,,,,,100,2026-12-01,zh-CN,\n")  # duplicate loan id
    r = importer.import_file(db, p)
    assert (r.created, r.updated, r.unchanged) == (1, 0, 0)
    got = {(e.line, e.column) for e in r.errors}
    assert got == {(2, "loan_id"), (11, "loan_id"), (4, "phone"), (5, "amount_due"), (6, "due_date"),
                   (7, "locale"), (8, "timezone"), (9, "contact1_relation"), (10, "name")}
    assert "also on line(s) 11" in next(e.reason for e in r.errors if e.line == 2)
    b = one(db, "SELECT * FROM borrowers WHERE loan_id = 'L2'")
    assert (b["locale"], b["timezone"], b["amount_due"], b["due_date"]) == ("ko-KR", "Asia/Seoul", 350000, "2026-12-06")
    phones = [c["phone"] for c in db.query("SELECT phone FROM contacts WHERE borrower_id = :b", {"b": b["id"]})]
    assert phones == ["01012345678"]
    assert db.scalar("SELECT count(*) FROM borrowers") == 1


def test_contacts_types_and_third_party(db, tmp_path):
    p = write(tmp_path, HEADER + "L1,张伟,123x,13800000001,010-6552-9988,home,13900000009,spouse,李娜,3500.5,20261205,,\n")
    r = importer.import_file(db, p)
    assert r.rejected == 0, r.errors
    b = one(db, "SELECT * FROM borrowers")
    assert (b["id_last4"], b["amount_due"], b["due_date"]) == ("123X", 3501, "2026-12-05")
    rows = list(db.query("SELECT phone, kind, relation, name FROM contacts ORDER BY position"))
    assert rows == [{"phone": "13800000001", "kind": "mobile", "relation": None, "name": None},
                    {"phone": "01065529988", "kind": "home", "relation": None, "name": None},
                    {"phone": "13900000009", "kind": "third_party", "relation": "spouse", "name": "李娜"}]


def test_reimport_counts_only_changes(db, tmp_path):
    rows = ("L1,张伟,1234,13800000001,,,,,,3500,2026-12-05,zh-CN,\n"
            "L2,李四,1234,13800000002,13800000012,work,,,,3500,2026-12-05,zh-CN,\n"
            "L3,王五,1234,13800000003,,,,,,3500,2026-12-05,zh-CN,\n")
    p = write(tmp_path, HEADER + rows)
    first = importer.import_file(db, p)
    assert (first.created, first.updated, first.unchanged) == (3, 0, 0)
    again = importer.import_file(db, p)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    # L1 amount changes, L2 loses its work number, L4 is new
    changed = (rows.replace("L1,张伟,1234,13800000001,,,,,,3500", "L1,张伟,1234,13800000001,,,,,,4000")
               .replace("13800000012,work", ",") + "L4,赵六,1234,13800000004,,,,,,100,2026-12-05,zh-CN,\n")
    third = importer.import_file(db, write(tmp_path, HEADER + changed, "c.csv"))
    assert (third.created, third.updated, third.unchanged) == (1, 2, 1)
    assert one(db, "SELECT amount_due FROM borrowers WHERE loan_id='L1'")["amount_due"] == 4000
    assert one(db, "SELECT status FROM contacts WHERE phone='13800000012'")["status"] == "removed"
    # learned statuses survive a re-import
    db.execute("UPDATE contacts SET status='invalid' WHERE phone='13800000003'")
    importer.import_file(db, write(tmp_path, HEADER + changed, "c.csv"))
    assert one(db, "SELECT status FROM contacts WHERE phone='13800000003'")["status"] == "invalid"
    batches = db.query("SELECT borrower_id FROM batch_borrowers WHERE batch_id = :b", {"b": third.batch_id})
    assert len(batches) == 4


def test_bom_and_gb18030(db, tmp_path):
    text = HEADER + "L1,张伟,1234,13800000001,,,,,,3500,2026-12-05,zh-CN,\n"
    r1 = importer.import_file(db, write(tmp_path, "\ufeff" + text, "bom.csv"))
    assert r1.rejected == 0 and r1.created == 1 and r1.encoding == "utf-8"
    r2 = importer.import_file(db, write(tmp_path, text.replace("张伟", "张伟伟"), "gb.csv", "gb18030"))
    assert r2.encoding == "gb18030" and r2.updated == 1
    assert one(db, "SELECT name FROM borrowers")["name"] == "张伟伟"


def test_chinese_headers(db, tmp_path):
    p = write(tmp_path, "贷款编号,姓名,手机号,应还金额,到期日\nL1,张伟,13800000001,¥3500,2026年12月5日\n")
    r = importer.import_file(db, p)
    assert r.created == 1, r.errors
    assert one(db, "SELECT due_date, amount_due FROM borrowers")["due_date"] == "2026-12-05"


def test_xlsx(db, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["loan_id", "name", "id_last4", "phone", "amount_due", "due_date", "locale"])
    ws.append(["X1", "김민수", 1234, 1012345678, 350000, dt.datetime(2026, 12, 6), "ko-KR"])
    ws.append(["X2", "张伟", "0012", "13800000001", 3500.0, "2026-12-06", "zh-CN"])
    ws.append(["X3", "坏", "1234", "999", 1, "2026-12-06", "zh-CN"])
    p = tmp_path / "b.xlsx"
    wb.save(p)
    r = importer.import_file(db, p)
    assert r.created == 2 and [(e.line, e.column) for e in r.errors] == [(4, "phone")]
    b = one(db, "SELECT * FROM borrowers WHERE loan_id='X1'")
    assert b["due_date"] == "2026-12-06" and b["id_last4"] == "1234"
    assert one(db, "SELECT phone FROM contacts WHERE borrower_id = :b", b=b["id"])["phone"] == "01012345678"


def test_payments(db, tmp_path):
    importer.import_file(db, write(tmp_path, HEADER + "L1,张伟,1234,13800000001,,,,,,3500,2026-12-05,zh-CN,\n"))
    p = write(tmp_path, "loan_id,paid_amount,paid_at\nL1,1000,2026-12-03\nL1,500,2026-12-04T10:00:00\nNOPE,1,2026-12-03\nL1,-5,2026-12-03\n", "p.csv")
    r = importer.import_payments(db, p)
    assert r.created == 2 and [(e.line, e.column) for e in r.errors] == [(4, "loan_id"), (5, "paid_amount")]
    r2 = importer.import_payments(db, p)
    assert r2.created == 0 and r2.unchanged == 2
    twice = importer.import_payments(db, write(tmp_path, "loan_id,paid_amount,paid_at\nL1,7,2026-12-05\n"
                                                         "L1,7,2026-12-05\n", "twice.csv"))
    assert (twice.created, twice.unchanged) == (1, 1)
    assert db.scalar("SELECT count(*) FROM payments") == 3


def test_a_time_zone_that_is_no_zone_name_is_a_row_error(tmp_path):
    """Found by the API fuzzer: a long or odd time zone reached the file system (OSError, a 500)."""
    from ivr.dialer.importer import RowInvalid, parse_borrower_row
    for tz in ("x" * 300, "{'': None}", "../../etc/passwd", "Asia/Shang hai"):
        with pytest.raises(RowInvalid, match="time zone"):
            parse_borrower_row({"loan_id": "L1", "name": "张三", "phone": "13800138000", "amount_due": "100",
                                "due_date": "2026-12-20", "timezone": tz})


def test_a_row_the_database_would_refuse_is_a_row_error_and_costs_nothing_else(db, tmp_path):
    """PostgreSQL refuses a NUL character in text and an amount past 32 bits, where SQLite takes both:
    each is a row error with its line, on both engines, and the rows around it are imported."""
    p = write(tmp_path, HEADER
              + "L1,张伟,1234,13800000001,,,,,,3500,2026-12-05,zh-CN,\n"
              + "L2,李\x00四,1234,13800000002,,,,,,3500,2026-12-05,zh-CN,\n"
              + "L3,王五,1234,13800000003,,,,,,5000000000,2026-12-05,zh-CN,\n"
              + "L4,赵六,1234,13800000004,,,13900000004,spouse,钱\x00,3500,2026-12-05,zh-CN,\n"
              + "L\x005,孙七,1234,13800000005,,,,,,3500,2026-12-05,zh-CN,\n"
              + "L6,周八,1234,13800000006,,,,,,2147483647,2026-12-05,zh-CN,\n")
    r = importer.import_file(db, p)
    assert {(e.line, e.column, e.code) for e in r.errors} == {
        (3, "name", "invalid"), (4, "amount_due", "amount_too_large"), (5, "contact1_name", "invalid"),
        (6, "loan_id", "invalid")}
    assert "NUL" in next(e.reason for e in r.errors if e.line == 3)
    assert [row["loan_id"] for row in db.query("SELECT loan_id FROM borrowers ORDER BY loan_id")] == ["L1", "L6"]
    assert one(db, "SELECT amount_due FROM borrowers WHERE loan_id = 'L6'")["amount_due"] == 2**31 - 1
    stored = one(db, "SELECT rejected, errors FROM import_batches WHERE id = :b", b=r.batch_id)
    assert stored["rejected"] == 4 and "NUL" in stored["errors"]
    payments = write(tmp_path, "loan_id,paid_amount,paid_at\nL1,100,2026-12-03\nL\x001,100,2026-12-03\n"
                               "L1,3000000000,2026-12-04\n", "p.csv")
    paid = importer.import_payments(db, payments)
    assert paid.created == 1 and [(e.line, e.column) for e in paid.errors] == [(3, "loan_id"), (4, "paid_amount")]


def test_a_large_file_is_a_few_batched_statements(db, tmp_path):
    """600 borrowers (two numbers each) in a few dozen statements, not several per row: a round trip
    per row is what makes an import slow on PostgreSQL. A re-import with one change writes one row."""
    statements = []
    sa.event.listen(db.connection, "before_cursor_execute",
                    lambda conn, cursor, sql, params, context, many: statements.append(sql))
    lines = [f"L{i},张{i},1234,1380000{i:04d},1390000{i:04d},home,,,,{i},2026-12-05,zh-CN,\n" for i in range(600)]
    first = importer.import_file(db, write(tmp_path, HEADER + "".join(lines)))
    assert (first.created, first.rejected) == (600, 0)
    assert len(statements) < 30, len(statements)
    assert db.scalar("SELECT count(*) FROM contacts") == 1200
    assert db.scalar("SELECT count(*) FROM batch_borrowers WHERE batch_id = :b", {"b": first.batch_id}) == 600
    statements.clear()
    lines[123] = lines[123].replace(",123,2026", ",99,2026")
    again = importer.import_file(db, write(tmp_path, HEADER + "".join(lines), "again.csv"))
    assert (again.created, again.updated, again.unchanged) == (0, 1, 599)
    assert len(statements) < 30, len(statements)
    assert one(db, "SELECT amount_due FROM borrowers WHERE loan_id = 'L123'")["amount_due"] == 99


def test_the_handle_a_component_gets_works_too(any_db, tmp_path):
    """Web and CLI callers pass what open_database returns (the sqlite-utils handle on SQLite)."""
    r = importer.import_file(any_db, write(tmp_path, HEADER + "L1,张伟,1234,13800000001,,,,,,3500,2026-12-05,,\n"))
    assert r.created == 1 and store_of(any_db).scalar("SELECT count(*) FROM contacts") == 1


def test_two_imports_of_one_file_at_once_take_turns(engine_url, tmp_path):
    """While one import's transaction is open, a second import of the same new borrowers waits for it
    and then finds them unchanged (on PostgreSQL both would otherwise insert the loans and the second
    fail whole on the unique loan_id)."""
    import threading
    import time

    from ivr.db.connect import open_database
    p = write(tmp_path, HEADER + "L1,张伟,1234,13800000001,,,,,,3500,2026-12-05,zh-CN,\n"
                                 "L2,李四,1234,13800000002,,,,,,3500,2026-12-05,zh-CN,\n")
    first, second = (store_of(open_database(engine_url, migrate=False)) for _ in range(2))
    outcome = {}

    def other():
        try:
            outcome["report"] = importer.import_file(second, p)
        except Exception as exc:   # noqa: BLE001 - the test reports it
            outcome["error"] = exc

    try:
        with first.transaction():
            assert importer.import_file(first, p).created == 2
            thread = threading.Thread(target=other)
            thread.start()
            time.sleep(0.5)
            assert thread.is_alive()            # waiting for the first import's transaction
        thread.join(20)
        assert "error" not in outcome, outcome.get("error")
        report = outcome["report"]
        assert (report.created, report.unchanged) == (0, 2)
        assert first.scalar("SELECT count(*) FROM borrowers") == 2
    finally:
        first.close()
        second.close()

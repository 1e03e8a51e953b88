"""Fuzzing the borrower importer: for generated CSV files mixing good rows and rows with one bad
cell, `import_file` keeps every good row, reports every bad row by its line, and never raises
(only ImportFileError, for a file that cannot be read as a whole); arbitrary bytes likewise."""
from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings, strategies as st

from ivr.db.connect import connect
from ivr.dialer import importer

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
COLUMNS = ["loan_id", "name", "id_last4", "phone", "amount_due", "due_date", "locale", "timezone", "phone2",
           "phone2_type", "contact1_phone", "contact1_relation", "contact1_name"]

good_cn = st.integers(0, 9999).map(lambda n: f"1380000{n:04d}")
good_date = st.dates().map(lambda d: d.isoformat())
good_amount = st.one_of(st.integers(0, 10**9).map(str), st.integers(0, 10**6).map(lambda n: f"{n:,}"))
good_row = st.fixed_dictionaries({
    "name": st.sampled_from(["张伟", "李娜", "Wang Wei"]),
    "id_last4": st.one_of(st.just(""), st.from_regex(r"\A\d{3}[\dX]\Z")),
    "phone": good_cn,
    "amount_due": st.one_of(st.just(""), good_amount),
    "due_date": st.one_of(st.just(""), good_date),
    "locale": st.sampled_from(["", "zh-CN", "zh_cn"]),
    "timezone": st.sampled_from(["", "Asia/Shanghai", "UTC"]),
})
# one cell that must be rejected, per validated column
bad_cell = st.one_of(
    st.tuples(st.just("phone"), st.sampled_from(["", "12345", "abc", "+1", "0" * 30])),
    st.tuples(st.just("amount_due"), st.sampled_from(["abc", "-5", "1e400", "NaN", "Infinity", "1" * 20, "¥"])),
    st.tuples(st.just("due_date"), st.sampled_from(["2026-02-30", "tomorrow", "99999999", "2026-13-01"])),
    st.tuples(st.just("locale"), st.sampled_from(["fr-FR", "zh", "-"])),
    st.tuples(st.just("timezone"), st.sampled_from(["Mars/Base", "../etc/passwd", "/", "Asia/"])),
    st.tuples(st.just("id_last4"), st.sampled_from(["12345", "X123", "abcd"])),
    st.tuples(st.just("name"), st.just("")),
)
junk = st.text(st.characters(blacklist_categories=("Cs",)), max_size=15)


def import_bytes(data: bytes, suffix: str = ".csv"):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"b{suffix}"
        path.write_bytes(data)
        db = connect(Path(tmp) / "t.db")
        try:
            report = importer.import_file(db, path)
        except importer.ImportFileError:
            return None, None
        loans = {r["loan_id"] for r in db.query("SELECT loan_id FROM borrowers")}
        db.close()
        return report, loans


def csv_bytes(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue().encode("utf-8")


@FUZZ
@given(st.lists(st.tuples(good_row, st.one_of(st.none(), bad_cell)), min_size=1, max_size=12))
def test_good_rows_kept_bad_rows_reported(specs):
    rows, good, bad = [], set(), set()
    for i, (row, fault) in enumerate(specs):
        row = dict(row, loan_id=f"L{i}", phone=f"1380000{i:04d}")   # distinct loans and numbers
        if fault:
            row[fault[0]] = fault[1]
            bad.add(i + 2)   # the header is line 1
        else:
            good.add(f"L{i}")
        rows.append(row)
    report, loans = import_bytes(csv_bytes(rows))
    assert report is not None
    assert loans == good
    assert {e.line for e in report.errors} == bad
    assert report.created == len(good) and report.rows == len(rows)


@FUZZ
@given(st.lists(st.lists(junk, max_size=len(COLUMNS) + 2), max_size=8), st.permutations(COLUMNS))
@example([["L1", "张伟", "", "13800000001", "1e400"]], COLUMNS)          # huge amount
@example([["L1", "张伟", "", "13800000001", "", "", "", "\x00"]], COLUMNS)  # NUL in a time zone
@example([["L1", "张伟", "", "13800000001", "", "", "", "Asia/Shanghai\\"]], COLUMNS)
def test_junk_cells_never_raise(cells, header):
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(cells)
    report, _ = import_bytes(buf.getvalue().encode("utf-8"))
    if report is not None:
        assert report.created + report.updated + report.unchanged + report.rejected == report.rows


@FUZZ
@given(st.binary(max_size=400))
@example(b"")
@example(b"\xef\xbb\xbf")
@example(b"loan_id,loan_id\n1,2\n")
def test_arbitrary_bytes(data):
    import_bytes(data)


@FUZZ
@given(st.binary(max_size=200))
@example(b"PK\x03\x04 not a zip")
def test_arbitrary_bytes_as_xlsx(data):
    import_bytes(data, ".xlsx")

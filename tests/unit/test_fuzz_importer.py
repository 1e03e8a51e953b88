"""Fuzzing the borrower importer: for generated CSV files mixing good rows and rows with one bad
cell, `import_file` keeps every good row, reports every bad row by its line, and never raises
(only ImportFileError, for a file that cannot be read as a whole); arbitrary bytes likewise.

Hypothesis runs on SQLite (each example on a copy of one migrated file); every kind of bad cell it
draws from, and the cells SQLite takes but PostgreSQL refuses, are checked on both engines below."""
from __future__ import annotations

import csv
import functools
import io
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, strategies as st
from tests.support.fuzzing import fuzz_settings

from ivr.db import migrate
from ivr.db.connect import connect
from ivr.dialer import importer

FUZZ = fuzz_settings(60, suppress_health_check=[HealthCheck.too_slow])
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
# cells that must be rejected, per validated column
BAD_CELLS = {
    "phone": ["", "12345", "abc", "+1", "0" * 30],
    "amount_due": ["abc", "-5", "1e400", "NaN", "Infinity", "1" * 20, "¥", "2147483648"],
    "due_date": ["2026-02-30", "tomorrow", "99999999", "2026-13-01"],
    "locale": ["fr-FR", "zh", "-"],
    "timezone": ["Mars/Base", "../etc/passwd", "/", "Asia/"],
    "id_last4": ["12345", "X123", "abcd"],
    "name": ["", "张\x00伟"],
    "loan_id": ["L\x00"],
}
bad_cell = st.one_of(*(st.tuples(st.just(column), st.sampled_from(values)) for column, values in BAD_CELLS.items()))
junk = st.text(st.characters(blacklist_categories=("Cs",)), max_size=15)


@functools.cache
def migrated_template() -> Path:
    """One migrated empty SQLite file for the whole module; each example imports into a copy."""
    path = Path(tempfile.mkdtemp(prefix="fuzz-importer-")) / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


def import_bytes(data: bytes, suffix: str = ".csv"):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"b{suffix}"
        path.write_bytes(data)
        shutil.copy(migrated_template(), Path(tmp) / "t.db")
        db = connect(Path(tmp) / "t.db", migrate=False)
        try:
            return import_into(db.store, path)
        finally:
            db.store.close()


def import_into(store, path: Path):
    """(report, loan ids stored) of importing `path`, or (None, None) for a file refused as a whole."""
    try:
        report = importer.import_file(store, path)
    except importer.ImportFileError:
        return None, None
    return report, {r["loan_id"] for r in store.query("SELECT loan_id FROM borrowers")}


def mixed_file(specs) -> tuple[bytes, set[str], set[int]]:
    """A CSV of good rows with, where a spec has one, one bad cell; the good loans and the bad lines."""
    rows, good, bad = [], set(), set()
    for i, (row, fault) in enumerate(specs):
        row = dict(row, loan_id=f"L{i}", phone=f"1380000{i:04d}")   # distinct loans and numbers
        if fault:
            row[fault[0]] = fault[1]
            bad.add(i + 2)   # the header is line 1
        else:
            good.add(f"L{i}")
        rows.append(row)
    return csv_bytes(rows), good, bad


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
    data, good, bad = mixed_file(specs)
    report, loans = import_bytes(data)
    assert report is not None
    assert loans == good
    assert {e.line for e in report.errors} == bad
    assert report.created == len(good) and report.rows == len(specs)


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


GOOD = {"name": "张伟", "id_last4": "1234", "phone": "", "amount_due": "3,500", "due_date": "2026-12-05",
        "locale": "zh-CN", "timezone": "Asia/Shanghai"}


def test_every_bad_cell_on_both_engines(store, tmp_path):
    """Each bad cell the fuzzer draws, in one file between good rows, on SQLite and PostgreSQL: the
    same rows are refused on both, by line, and every good row is stored."""
    faults = [(column, value) for column, values in BAD_CELLS.items() for value in values]
    specs = [spec for fault in faults for spec in ((GOOD, None), (GOOD, fault))]
    data, good, bad = mixed_file(specs)
    path = tmp_path / "b.csv"
    path.write_bytes(data)
    report, loans = import_into(store, path)
    assert loans == good and {e.line for e in report.errors} == bad
    assert report.created == len(good) and report.rows == len(specs)


def test_junk_cells_on_both_engines(store, tmp_path):
    """The junk examples found on SQLite (a huge amount, a NUL where a time zone or a name goes)."""
    buf = io.StringIO()
    csv.writer(buf).writerows([COLUMNS, ["L1", "张伟", "", "13800000001", "1e400"],
                               ["L2", "张伟", "", "13800000002", "", "", "", "\x00"],
                               ["L3", "\x00", "", "13800000003"], ["L4", "张伟", "", "13800000004"]])
    path = tmp_path / "junk.csv"
    path.write_bytes(buf.getvalue().encode("utf-8"))
    report, loans = import_into(store, path)
    assert loans == {"L4"} and [e.line for e in report.errors] == [2, 3, 4]

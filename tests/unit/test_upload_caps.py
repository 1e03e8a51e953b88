"""Uploads are read in bounded memory whatever the file declares: the caps in ivr/dialer/upload_caps
apply to web uploads, the JSON API and the importer alike, and a refusal is a clear 4xx."""
from __future__ import annotations

import io
import time
import tracemalloc
import zipfile

import openpyxl
import pytest

from ivr.dialer import importer, upload_caps
from ivr.web import admin
from tests.support.web_app import Client, add_users, db_of, make_app


def declared_huge_xlsx() -> bytes:
    """A real workbook (one header row) whose sheet declares A1:ZZ300000 and holds one empty cell at
    ZZ300000: what made the importer build 300,000 rows of 702 cells before answering."""
    wb = openpyxl.Workbook()
    wb.active.append(["loan_id", "name", "phone"])
    plain = io.BytesIO()
    wb.save(plain)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(plain.getvalue())) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                start = text.index('<dimension ref="')
                end = text.index("/>", start) + 2
                text = text[:start] + '<dimension ref="A1:ZZ300000"/>' + text[end:]
                text = text.replace("</sheetData>", '<row r="300000"><c r="ZZ300000" t="n"/></row></sheetData>')
                data = text.encode()
            dst.writestr(item, data)
    return out.getvalue()


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path)
    add_users(app, ["supervisor"])
    return app


def signed_in(app) -> Client:
    c = Client(app)
    c.login("supervisor")
    c.get("/campaigns/new")
    return c


def upload(app, data: bytes, name: str, c: Client | None = None):
    c = c or signed_in(app)
    return c.post("/campaigns/new", {"name": "cap", "source": "upload", "flow": "followup",
                                     "file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def test_a_small_xlsx_declaring_300k_rows_is_refused_in_under_a_second(app, tmp_path):
    data = declared_huge_xlsx()
    assert len(data) < 8 * 1024
    c = signed_in(app)
    started = time.process_time()  # CPU time: parsing 300k rows costs seconds of it; other processes' load does not
    r = upload(app, data, "huge.xlsx", c)
    elapsed = time.process_time() - started
    assert r.status_code == 400
    assert f"超过 {upload_caps.MAX_ROWS} 行" in r.get_data(as_text=True)   # the supervisor's language (zh-CN)
    assert elapsed < 1.0, elapsed
    path = tmp_path / "huge.xlsx"
    path.write_bytes(data)
    tracemalloc.start()
    try:
        with pytest.raises(importer.ImportFileError) as info:
            importer.read_rows(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.key == "too_many_rows"
    assert peak < 64 * 1024 * 1024, peak


def test_the_row_cap_is_the_same_for_web_uploads_and_the_api(app, monkeypatch):
    monkeypatch.setattr(upload_caps, "MAX_ROWS", 5)
    rows = [f"L{i},测试,1370000000{i}" for i in range(6)]
    assert upload(app, ("loan_id,name,phone\n" + "\n".join(rows[:5])).encode(), "ok.csv").status_code == 302
    r = upload(app, ("loan_id,name,phone\n" + "\n".join(rows)).encode(), "big.csv")
    assert r.status_code == 400 and "超过 5 行" in r.get_data(as_text=True)
    token = admin.new_token(db_of(app), "caps", "test", "push,pull")
    api = app.test_client()
    body = {"borrowers": [{"loan_id": f"A{i}", "name": "测试", "phone": f"1370000001{i}"} for i in range(6)]}
    r = api.post("/api/v1/borrowers", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 413 and "5 rows" in r.get_json()["detail"]
    body["borrowers"] = body["borrowers"][:5]
    assert api.post("/api/v1/borrowers", json=body, headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_the_api_refuses_rows_spread_over_too_many_fields(app):
    token = admin.new_token(db_of(app), "caps", "test", "push,pull")
    rows = [{f"field{i}": "x", "loan_id": f"F{i}"} for i in range(upload_caps.MAX_COLUMNS + 1)]
    r = app.test_client().post("/api/v1/borrowers", json={"borrowers": rows},
                               headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 413


def test_byte_and_unpacked_caps(tmp_path, monkeypatch):
    csv = tmp_path / "b.csv"
    csv.write_text("loan_id,name,phone\n" + "L1,测试,13700000001\n" * 20, encoding="utf-8")
    monkeypatch.setattr(upload_caps, "MAX_BYTES", 100)
    with pytest.raises(importer.ImportFileError) as info:
        importer.read_rows(csv)
    assert info.value.key == "too_big"
    monkeypatch.setattr(upload_caps, "MAX_BYTES", 20 * 1024 * 1024)
    book = tmp_path / "b.xlsx"
    book.write_bytes(declared_huge_xlsx())
    monkeypatch.setattr(upload_caps, "MAX_UNPACKED_BYTES", 1000)  # the parts unpack to more than this
    with pytest.raises(importer.ImportFileError) as info:
        importer.read_rows(book)
    assert info.value.key == "too_big"


def test_far_away_cells_and_wide_rows_are_read_as_what_is_there(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["loan_id", "name", "phone"])
    ws.append(["L1", "测试", "13700000001"])
    ws.cell(row=2, column=upload_caps.MAX_COLUMNS + 50, value="ignored")
    path = tmp_path / "w.xlsx"
    wb.save(path)
    rows, kind = importer.read_rows(path)
    assert kind == "xlsx" and rows == [(2, {"loan_id": "L1", "name": "测试", "phone": "13700000001"})]

"""The importer's refusals: a missing required column is refused once, naming the header it did not
recognise and the accepted names; Chinese synonyms are accepted; every row error carries a code and
parameters that the web app words in the user's language (never raw exception text) and the API
returns with its English reason."""
from __future__ import annotations

import json

import pytest

from ivr.db.connect import connect
from ivr.dialer import import_headers, importer
from ivr.web import admin
from tests.support.web_app import Client, add_users, db_of, make_app

RAW_PYTHON = ("invalid literal", "Invalid isoformat", "NumberParseException", "day is out of range",
              "Traceback", "could not convert")


@pytest.fixture
def db(tmp_path):
    return connect(tmp_path / "t.db")


def _csv(tmp_path, text: str, name: str = "b.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("header", ["贷款编号", "合同编号", "借据号", "合同号", "Loan ID"])
def test_chinese_synonyms_for_loan_id_are_accepted(tmp_path, db, header):
    path = _csv(tmp_path, f"{header},客户姓名,手机号码,应还金额,还款日\nL1,张三,13800000001,3500,2026-12-20\n")
    report = importer.import_file(db, path)
    assert (report.created, report.rejected) == (1, 0)
    row = list(db.query("SELECT loan_id, name, amount_due, due_date FROM borrowers"))[0]
    assert row == {"loan_id": "L1", "name": "张三", "amount_due": 3500, "due_date": "2026-12-20"}


def test_unknown_loan_header_refuses_the_file_once_naming_it(tmp_path, db):
    path = _csv(tmp_path, "借款合同流水,姓名,手机号\n" + "".join(f"X{i},张三,1380000000{i}\n" for i in range(5)))
    with pytest.raises(importer.ImportFileError) as caught:
        importer.import_file(db, path)
    exc = caught.value
    assert exc.key == "missing_columns"
    assert exc.params["missing"] == "loan_id" and exc.params["unknown"] == "借款合同流水"
    for name in ("贷款编号", "合同编号", "借据号"):
        assert name in exc.params["accepted"]
    assert "loan_id is required" not in str(exc) and db["borrowers"].count == 0


def test_payment_file_without_amount_column_is_refused(tmp_path, db):
    path = _csv(tmp_path, "loan_id,金额x,paid_at\nL1,100,2026-12-01\n")
    with pytest.raises(importer.ImportFileError) as caught:
        importer.import_payments(db, path)
    assert caught.value.params["missing"] == "paid_amount" and "还款金额" in caught.value.params["accepted"]


def test_headers_recognised_include_numbered_contacts():
    missing, unknown = import_headers.missing_columns(
        ["loan_id", "name", "phone", "phone2", "contact1_phone", "contact1_relation", "备注"], "borrowers")
    assert missing == [] and unknown == ["备注"]


BAD_ROWS = ("loan_id,name,phone,amount_due,due_date,id_last4,locale,timezone\n"
            "L1,甲,13800000001,abc,2026-12-01,,,\n"         # bad_amount
            "L2,乙,13800000002,100,2026-02-30,,,\n"         # no_such_day
            "L3,丙,12345,100,2026-12-01,,,\n"               # invalid_phone
            "L4,丁,13800000004,100,2026-12-01,12,xx,\n"     # id ok (zfill) then unknown_locale
            "L5,戊,13800000005,100,20261301,,,\n"           # no_such_day
            "L6,,13800000006,100,2026-12-01,,,\n"           # required name
            "L7,己,13800000007,100,2026-12-01,,,Mars/Base\n"  # unknown_timezone
            "L8,庚,phone,100,2026-12-01,,,\n")              # bad_phone


def test_row_errors_have_codes_and_english_reasons(tmp_path, db):
    report = importer.import_file(db, _csv(tmp_path, BAD_ROWS))
    codes = {e.loan_id: e.code for e in report.errors}
    assert codes == {"L1": "bad_amount", "L2": "no_such_day", "L3": "invalid_phone", "L4": "unknown_locale",
                     "L5": "no_such_day", "L6": "required", "L7": "unknown_timezone", "L8": "bad_phone"}
    for e in report.errors:
        assert not any(raw in e.reason for raw in RAW_PYTHON), e
    assert next(e for e in report.errors if e.code == "required").params == {"field": "name"}
    assert "line 7: L6: name: name is required" in importer.format_report(report)


def test_payment_row_errors_have_codes(tmp_path, db):
    importer.import_file(db, _csv(tmp_path, "loan_id,name,phone\nL1,甲,13800000001\n"))
    report = importer.import_payments(db, _csv(tmp_path, "loan_id,paid_amount,paid_at\n"
                                                           "L1,100,yesterday\nL9,100,2026-12-01\nL1,0,2026-12-01\n", "p.csv"))
    assert [e.code for e in report.errors] == ["bad_timestamp", "unknown_loan", "amount_not_positive"]


def _upload(tmp_path, lang: str, text: str):
    app = make_app(tmp_path)
    add_users(app, ["supervisor"])
    c = Client(app)
    c.login("supervisor")
    c.post("/language", {"lang": lang})
    path = _csv(tmp_path, text, "upload.csv")
    with open(path, "rb") as fh:
        resp = c.post("/campaigns/new", {"name": "t", "source": "upload", "file": (fh, "名单.csv")})
    return resp.status_code, resp.get_data(as_text=True)


@pytest.mark.parametrize("lang, expected", [
    ("zh-CN", ["“abc”不是金额", "“2026-02-30”：没有这一天", "姓名为空", "“12345”不是有效的 CN 电话号码"]),
    ("en", ["“abc” is not an amount", "“2026-02-30”: no such day", "name is empty"]),
    ("ko-KR", ["“abc”은(는) 금액이 아닙니다", "이름이(가) 비어 있습니다"]),
])
def test_web_import_report_in_the_users_language(tmp_path, lang, expected):
    status, page = _upload(tmp_path, lang, BAD_ROWS)
    for text in expected:
        assert text in page, text
    for raw in RAW_PYTHON + ("not an amount" if lang != "en" else "invalid literal",):
        assert raw not in page


def test_web_missing_column_named_in_the_users_language(tmp_path):
    status, page = _upload(tmp_path, "zh-CN", "借款合同流水,姓名,手机号\nX1,张三,13800000001\n")
    assert status == 400
    assert "找不到 loan_id 列" in page and "借款合同流水" in page and "借据号" in page
    assert "loan_id is required" not in page


def test_api_returns_code_and_english_reason(tmp_path):
    app = make_app(tmp_path)
    token = admin.new_token(db_of(app), "loan-system", "test", "push")
    c = app.test_client()
    resp = c.post("/api/v1/borrowers", headers={"Authorization": f"Bearer {token}"},
                  json={"borrowers": [{"loan_id": "L1", "name": "甲", "phone": "13800000001", "amount_due": "abc"}]})
    body = resp.get_json()
    assert body["errors"] == [{"line": 2, "loan_id": "L1", "column": "amount_due", "reason": "not an amount: 'abc'",
                               "code": "bad_amount", "params": {"value": "abc"}}]
    resp = c.post("/api/v1/borrowers", headers={"Authorization": f"Bearer {token}"},
                  json={"borrowers": [{"合同流水": "L1", "name": "甲", "phone": "13800000001"}]})
    body = resp.get_json()
    assert resp.status_code == 400 and body["code"] == "import.missing_columns"
    assert "no column for loan_id" in body["detail"] and "合同流水" in body["detail"]
    json.dumps(body)
    resp = c.post("/api/v1/borrowers", headers={"Authorization": f"Bearer {token}"}, json=[1])
    assert resp.status_code == 400 and resp.get_json()["code"] == "bad_request"

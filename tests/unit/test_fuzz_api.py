"""Hostile input to the JSON API: whatever a caller sends, the answer is a clear 4xx or a 200 with a
per-row report — never a 500, never a lost good row (hypothesis, bounded)."""
from __future__ import annotations

from urllib.parse import quote

import json
import string

from hypothesis import HealthCheck, example, given
from hypothesis import strategies as st

from ivr.db.store import store_of
from ivr.web import admin
from tests.support.web_app import db_of, make_app, seed
from tests.support.fuzzing import fuzz_settings

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False) |
    st.text(max_size=30),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20)
FIELD = st.sampled_from(["loan_id", "name", "phone", "amount_due", "due_date", "locale", "timezone", "id_last4",
                         "paid_amount", "paid_at", "phone2", "contact1_phone"])
ROW = st.dictionaries(FIELD, JSON | st.text(alphabet=string.printable, max_size=20), max_size=8)

_app = {}


def client():
    """One app for the whole property run (a fresh DB per example would dominate the time), on SQLite:
    pushes go through the importer, which is not on the Store yet."""
    if not _app:
        import tempfile
        from pathlib import Path
        tmp = Path(tempfile.mkdtemp(prefix="fuzz-api-"))
        app = make_app(tmp)
        seed(app)
        db = store_of(db_of(app))
        token = admin.new_token(db, "fuzz", "fuzz", "push,pull")
        db.close()
        _app.update(app=app, headers={"Authorization": f"Bearer {token}"})
    return _app["app"].test_client(), _app["headers"]


SETTINGS = fuzz_settings(120, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(body=JSON)
@example(body=True)            # found by this test: a non-object body was a 500
@example(body=[{"loan_id": "x"}])
def test_any_json_body_to_push_endpoints(body):
    c, headers = client()
    for path in ("/api/v1/borrowers", "/api/v1/payments"):
        r = c.post(path, headers=headers, data=json.dumps(body), content_type="application/json")
        assert r.status_code in (200, 400, 413, 415, 422), (path, body, r.status_code)


@SETTINGS
@given(rows=st.lists(ROW, max_size=6))
def test_rows_with_any_fields_get_a_report(rows):
    c, headers = client()
    good = {"loan_id": "FUZZ-OK", "name": "测试", "phone": "13700000009"}
    r = c.post("/api/v1/borrowers", headers=headers, json={"borrowers": rows + [good]})
    assert r.status_code in (200, 400), (rows, r.status_code)
    if r.status_code == 200:
        body = r.get_json()
        assert body["created"] + body.get("updated", 0) + body.get("unchanged", 0) + body["rejected"] >= 1


@SETTINGS
@given(raw=st.binary(max_size=200), query=st.text(max_size=40), loan=st.text(min_size=1, max_size=40))
@example(raw=b"", query="", loan="/0")  # found by this test: merged into '/borrowers/0' and redirected there
def test_garbage_bytes_queries_and_ids(raw, query, loan):
    c, headers = client()
    assert c.post("/api/v1/borrowers", headers=headers, data=raw,
                  content_type="application/json").status_code < 500
    assert c.get("/api/v1/results", headers=headers, query_string={"cursor": query, "limit": query}).status_code < 500
    # the loan id as a client sends it: quoted, so a '?' or '#' in it is part of the path
    r = c.get(f"/api/v1/borrowers/{quote(loan, safe='')}", headers=headers)
    assert r.status_code in (200, 404)
    assert r.status_code == 404 or r.get_json()["loan_id"] == loan  # never another borrower's record
    token = "".join(ch for ch in query if ch.isprintable())  # a real HTTP header cannot carry control characters
    assert c.get("/api/v1/results", headers={"Authorization": "Bearer " + token}).status_code in (401, 400)

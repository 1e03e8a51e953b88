"""Hostile values in every web route's query and form parameters, signed in as each role: the answer
is a page, a redirect or a clear 4xx, never a 500 (hypothesis, bounded).

Routes come from `app.url_map` (one hypothesis run per endpoint) and the parameter names from
each view's source and the helpers of its module it calls (every `request.args/form.get("...")`,
`form["..."]`, `params.date(request.args, "...")`, f-string families such as `retry_{key}`), mixed
with the templates' `name="..."` fields, so a new route or field is fuzzed without editing this
file. Random search rarely meets a branch that needs three fields right at once (outcome=promise,
a valid date, an amount past SQLite's integers): such finds stay in LISTED below.
The JSON API has its own fuzzer (test_fuzz_api.py).
"""
from __future__ import annotations

import datetime as dt
import importlib
import inspect
import re
import sqlite3
import string
import tempfile
from pathlib import Path

import pytest
from flask.sessions import SecureCookieSessionInterface
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from ivr.db.store import store_of
from ivr.web import sessions
from tests.support.web_app import ROLES, add_users, db_of, make_app, seed
from tests.support.fuzzing import fuzz_settings

WEB = Path(__file__).resolve().parents[2] / "ivr" / "web"
_LITERAL = re.compile(r"""(?:\.get(?:list)?\(|\[|params\.\w+\([^,()]+,)\s*["']([a-z][a-z0-9_]*)["']""")
_FAMILY = re.compile(r"""f["']([a-z][a-z0-9]*_)\{""")
_FIELD = re.compile(r'name="([a-z][a-z0-9_]*)"')

NASTY = ["", " ", "0", "-1", "1", "2", "99", "1e400", "-1e400", "nan", "inf", "-inf", "1.5", "0x10",
         "99999999999999999999999", "-99999999999999999999", "1000000000", "9" * 400,
         "9999-12-31", "9999-12-01", "0001-01-01", "1970-01-01", "2026-02-30", "2026-13-01", "2026-11-30",
         "2027-01-15", "2026-11-30T25:61", "0001-01-01T00:00", "9999-12-31T23:59", "24:00", "07:00", "23:59", "25:99", "::",
         "a-answered", "a-busy", "zh-CN", "ko-KR", "en", "xx", "csv", "xlsx", "pdf", "admin", "agent",
         "supervisor", "start", "pause", "stop", "upload", "batch", "due", "all", "finish", "pass", "fail",
         "' OR 1=1 --", "<script>", "%00", "\x00", "\u202e", "名字", "/", "//evil.example", "http://[", "../../etc/passwd"]
VALUE = st.sampled_from(NASTY) | st.text(max_size=30) | st.integers(-10**25, 10**25).map(str) | \
    st.floats(allow_nan=True, allow_infinity=True).map(repr) | \
    st.dates().map(str) | st.dates(dt.date(2020, 1, 1), dt.date(2035, 12, 31)).map(str) | st.datetimes().map(lambda d: d.isoformat(timespec="minutes"))
PATH_INT = st.sampled_from(["1", "2", "0", "999999", "99999999999999999999999"]) | st.integers(0, 10**30).map(str)
PATH_TEXT = st.sampled_from(["a-answered", "a-busy", "nope", "csv", "xlsx", "json", "%2e%2e", "名字"]) | \
    st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=30)


def template_fields() -> list[str]:
    fields = set()
    for path in WEB.glob("templates/*.html"):
        fields |= set(_FIELD.findall(path.read_text(encoding="utf-8")))
    return sorted(fields - {"csrf_token"})


def view_source(view) -> tuple[str, object]:
    """The view's source and that of the functions of its module it calls (one level)."""
    view = inspect.unwrap(view)
    module = importlib.import_module(view.__module__)
    source = inspect.getsource(view)
    for name, fn in vars(module).items():
        if inspect.isfunction(fn) and fn.__module__ == module.__name__ and fn is not view \
                and re.search(rf"\b{name}\(", source):
            source += inspect.getsource(fn)
    return source, module


def param_names(app) -> dict[str, list[str]]:
    """For each endpoint: the names its code reads, the members of f-string families included."""
    out = {}
    for endpoint, view in app.view_functions.items():
        source, module = view_source(view)
        names = set(_LITERAL.findall(source))
        for prefix in _FAMILY.findall(source):
            for value in vars(module).values():  # a module constant listing the family's members
                if isinstance(value, (tuple, list, dict)) and all(isinstance(v, str) for v in value):
                    names |= {prefix + v for v in value}
        out[endpoint] = sorted(names)
    return out


_state: dict = {}


def state():
    """One app for the whole run; its seeded database is kept in memory and put back before every
    example, so each one starts from an open escalation of the agent, a QA review to do, every user
    active with their role (an earlier example may have closed, finished, disabled or reset them).
    SQLite only: the snapshot is sqlite3's backup (hypothesis runs on one engine; the routes' SQL on
    both engines is tested by each module's own tests)."""
    if not _state:
        tmp = Path(tempfile.mkdtemp(prefix="fuzz-web-"))
        app = make_app(tmp, WTF_CSRF_ENABLED=False)  # CSRF is checked in test_web_security
        add_users(app)
        ids = seed(app)
        db = store_of(db_of(app))
        db.execute("UPDATE escalations SET agent = 'agent1' WHERE id = :id", {"id": ids["escalation_id"]})
        db.insert("qa_reviews", {"attempt_id": "a-answered", "sampled_reason": "random",
                                 "sampled_at": "2026-11-30T03:00:00.000+00:00"})
        snapshot = sqlite3.connect(":memory:", check_same_thread=False)
        db.driver_connection.backup(snapshot)
        users = {r["role"]: r for r in db.query("SELECT * FROM users")}
        db.close()
        rules = [r for r in app.url_map.iter_rules()
                 if r.endpoint != "static" and not r.rule.startswith("/api/")]
        _state.update(app=app, users=users, rules=rules, names=param_names(app), snapshot=snapshot,
                      serializer=SecureCookieSessionInterface().get_signing_serializer(app))
    return _state


def signed_in(role: str):
    """A client with a fresh session of `role`'s user, on the seeded database."""
    s = state()
    db = store_of(db_of(s["app"]))
    s["snapshot"].backup(db.driver_connection)
    sid = sessions.create(db, s["users"][role]["id"])
    db.close()
    client = s["app"].test_client()
    client.set_cookie("huifang_session", s["serializer"].dumps({"sid": sid, "_permanent": True}))
    return client


def url_for_rule(rule, draw) -> str:
    url = rule.rule
    for arg, conv in rule._converters.items():
        kind = type(conv).__name__
        value = draw(PATH_INT if kind == "IntegerConverter" else PATH_TEXT)
        url = re.sub(rf"<[^>]*\b{arg}>", value, url)
    return url


def module_choices(app, endpoint: str) -> list[str]:
    """Every string in the endpoint's module's constant tuples (outcomes, sources, checklist
    items...), so a value that unlocks a branch (outcome=promise) meets hostile values elsewhere."""
    out = set()
    for value in vars(importlib.import_module(app.view_functions[endpoint].__module__)).values():
        if isinstance(value, (tuple, list, frozenset)) and value and all(isinstance(v, str) for v in value):
            out |= set(value)
    return sorted(out)


def request_for(rule):
    """Requests to one route: a role, a method, its path filled in, up to 8 of its parameters."""
    s = state()
    own, fields = s["names"][rule.endpoint], template_fields()
    names = st.sampled_from(own) | st.sampled_from(own) | st.sampled_from(fields) if own else st.sampled_from(fields)
    value = VALUE | st.sampled_from(module_choices(s["app"], rule.endpoint) or [""])

    @st.composite
    def build(draw):
        method = draw(st.sampled_from(sorted(rule.methods - {"HEAD", "OPTIONS"})))
        params = draw(st.dictionaries(names, value, max_size=8))
        return draw(st.sampled_from(ROLES)), method, url_for_rule(rule, draw), params
    return build()


def send(role, method, url, params):
    client = signed_in(role)
    if method == "GET":
        return client.get(url, query_string=params)
    return client.post(url, data=params)


@pytest.mark.parametrize("endpoint", sorted({r.endpoint for r in state()["rules"]}))
def test_no_web_route_answers_500(endpoint):
    for rule in [r for r in state()["rules"] if r.endpoint == endpoint]:
        @fuzz_settings(25, suppress_health_check=list(HealthCheck))
        @given(req=request_for(rule))
        def route(req):
            role, method, url, params = req
            r = send(role, method, url, params)
            assert r.status_code < 500, (role, method, url, params, r.status_code)
        route()


# the inputs the audit listed (each was a 500 or stored a value above its hard limit)
LISTED = [
    ("auditor", "GET", "/reports", {"since": "9999-12-01"}),
    ("admin", "GET", "/reports", {"until": "0001-01-01"}),
    ("auditor", "GET", "/compliance", {"since": "0001-01-01"}),
    ("auditor", "GET", "/compliance", {"until": "9999-12-31"}),
    ("supervisor", "POST", "/campaigns/new", {"name": "x", "source": "all", "max_cps": "nan"}),
    ("supervisor", "POST", "/campaigns/new", {"name": "x", "source": "all", "retry_busy": "1e400"}),
    ("admin", "POST", "/compliance/retention", {"days": "1000000000"}),
    ("admin", "GET", "/audit", {"before": "99999999999999999999999"}),
    ("admin", "GET", "/campaigns/99999999999999999999999", {}),
    ("admin", "GET", "/reports", {"campaign": "99999999999999999999999"}),
    ("agent", "POST", "/agent/escalations/1/outcome", {"outcome": "promise", "promise_date": "2026-12-20",
                                                        "promise_amount": "99999999999999999999999"}),
    ("agent", "POST", "/agent/escalations/1/outcome", {"outcome": "callback", "callback_at": "0001-01-01T00:00"}),
]


def test_the_listed_inputs_get_a_clear_answer_not_a_500():
    for role, method, url, params in LISTED:
        r = send(role, method, url, params)
        assert r.status_code < 500, (role, method, url, params, r.status_code)
    # the purge still works after someone tried to keep recordings for a billion days
    assert send("admin", "POST", "/compliance/purge", {}).status_code == 302


HEADER_VALUE = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40) | st.sampled_from(
    ["bytes=1-", "bytes=0-0,5-", "bytes=-0", "bytes=9999999999999999999999-", "bytes=a-b", "http://[", "::1",
     "Thu, 01 Jan 1970 00:00:00 GMT", "W/\"x\"", "1.2.3.4, ::1, 999.1.1.1"])


@fuzz_settings(150, suppress_health_check=list(HealthCheck))
@given(role=st.sampled_from(ROLES),
       target=st.sampled_from([("GET", "/recordings/a-answered"), ("POST", "/language"), ("GET", "/"),
                               ("GET", "/reports/export.csv")]),
       headers=st.dictionaries(st.sampled_from(["Range", "If-Range", "Referer", "If-None-Match", "X-Forwarded-For",
                                                "If-Modified-Since", "Accept-Language"]), HEADER_VALUE, max_size=4))
def test_hostile_headers_get_no_500(role, target, headers):
    method, url = target
    client = signed_in(role)
    r = client.get(url, headers=headers) if method == "GET" else client.post(url, data={"lang": "en"}, headers=headers)
    assert r.status_code < 500, (role, method, url, headers, r.status_code)

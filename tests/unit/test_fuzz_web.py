"""Hostile values in every web route's query and form parameters, signed in as each role: the answer
is a page, a redirect or a clear 4xx, never a 500 (hypothesis, bounded).

Routes come from `app.url_map` and the parameter names from the view modules' sources (every
`request.args/form/values.get("...")`, `form["..."]`, `params.date(request.args, "...")`, f-string
families such as `retry_{key}`) and the templates' `name="..."` fields, so a new route or field is
fuzzed without editing this file.
The JSON API has its own fuzzer (test_fuzz_api.py).
"""
from __future__ import annotations

import importlib
import re
import string
import tempfile
from pathlib import Path

from flask.sessions import SecureCookieSessionInterface
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.web import sessions
from ivr.web.testing import ROLES, add_users, db_of, make_app, seed

WEB = Path(__file__).resolve().parents[2] / "ivr" / "web"
_LITERAL = re.compile(r"""(?:\.get(?:list)?\(|\[|params\.\w+\([^,()]+,)\s*["']([a-z][a-z0-9_]*)["']""")
_FAMILY = re.compile(r"""f["']([a-z][a-z0-9]*_)\{""")
_FIELD = re.compile(r'name="([a-z][a-z0-9_]*)"')

NASTY = ["", " ", "0", "-1", "1", "2", "99", "1e400", "-1e400", "nan", "inf", "-inf", "1.5", "0x10",
         "99999999999999999999999", "-99999999999999999999", "1000000000", "9" * 400,
         "9999-12-31", "9999-12-01", "0001-01-01", "1970-01-01", "2026-02-30", "2026-13-01", "2026-11-30",
         "2026-11-30T25:61", "0001-01-01T00:00", "9999-12-31T23:59", "24:00", "07:00", "23:59", "25:99", "::",
         "a-answered", "a-busy", "zh-CN", "ko-KR", "en", "xx", "csv", "xlsx", "pdf", "admin", "agent",
         "supervisor", "start", "pause", "stop", "upload", "batch", "due", "all", "finish", "pass", "fail",
         "' OR 1=1 --", "<script>", "%00", "\x00", "\u202e", "名字", "/", "//evil.example", "../../etc/passwd"]
VALUE = st.sampled_from(NASTY) | st.text(max_size=30) | st.integers(-10**25, 10**25).map(str) | \
    st.floats(allow_nan=True, allow_infinity=True).map(repr) | \
    st.dates().map(str) | st.datetimes().map(lambda d: d.isoformat(timespec="minutes"))
PATH_INT = st.sampled_from(["1", "2", "0", "999999", "99999999999999999999999"]) | st.integers(0, 10**30).map(str)
PATH_TEXT = st.sampled_from(["a-answered", "a-busy", "nope", "csv", "xlsx", "json", "%2e%2e", "名字"]) | \
    st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=30)


def param_names(app) -> dict[str, list[str]]:
    """For each endpoint: the names its module reads and every template field name."""
    fields = set()
    for path in WEB.glob("templates/*.html"):
        fields |= set(_FIELD.findall(path.read_text(encoding="utf-8")))
    out = {}
    for endpoint, view in app.view_functions.items():
        module = importlib.import_module(view.__module__)
        source = Path(module.__file__).read_text(encoding="utf-8")
        names = set(_LITERAL.findall(source))
        for prefix in _FAMILY.findall(source):
            for value in vars(module).values():  # a module constant listing the family's members
                if isinstance(value, (tuple, list, dict)) and all(isinstance(v, str) for v in value):
                    names |= {prefix + v for v in value}
        out[endpoint] = sorted(names | fields - {"csrf_token"})
    return out


_state: dict = {}


def state():
    """One app for the whole run (a fresh DB per example would dominate the time)."""
    if not _state:
        tmp = Path(tempfile.mkdtemp(prefix="fuzz-web-"))
        app = make_app(tmp, WTF_CSRF_ENABLED=False)  # CSRF is checked in test_web_security
        add_users(app)
        seed(app)
        db = db_of(app)
        db["qa_reviews"].insert({"attempt_id": "a-answered", "sampled_reason": "random",
                                 "sampled_at": "2026-11-30T03:00:00.000+00:00"})
        users = {r["role"]: dict(r) for r in db.query("SELECT * FROM users")}
        rules = [r for r in app.url_map.iter_rules()
                 if r.endpoint != "static" and not r.rule.startswith("/api/")]
        _state.update(app=app, users=users, rules=rules, names=param_names(app),
                      serializer=SecureCookieSessionInterface().get_signing_serializer(app))
    return _state


def signed_in(role: str):
    """A client with a fresh session of `role`'s user, restored first if an earlier example changed
    it (password reset, disabled, role changed)."""
    s = state()
    db = db_of(s["app"])
    u = s["users"][role]
    db.execute("UPDATE users SET password_hash = ?, role = ?, active = 1, agent_ext = ? WHERE id = ?",
               [u["password_hash"], u["role"], u["agent_ext"], u["id"]])
    sid = sessions.create(db, u["id"])
    db.conn.close()
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


@st.composite
def requests(draw):
    s = state()
    rule = draw(st.sampled_from(s["rules"]))
    method = draw(st.sampled_from(sorted(rule.methods - {"HEAD", "OPTIONS"})))
    names = s["names"][rule.endpoint]
    params = draw(st.dictionaries(st.sampled_from(names), VALUE, max_size=8)) if names else {}
    return draw(st.sampled_from(ROLES)), method, url_for_rule(rule, draw), params


def send(role, method, url, params):
    client = signed_in(role)
    if method == "GET":
        return client.get(url, query_string=params)
    return client.post(url, data=params)


SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(req=requests())
def test_no_web_route_answers_500(req):
    role, method, url, params = req
    r = send(role, method, url, params)
    assert r.status_code < 500, (role, method, url, params, r.status_code)


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
]


def test_the_listed_inputs_get_a_clear_answer_not_a_500():
    for role, method, url, params in LISTED:
        r = send(role, method, url, params)
        assert r.status_code < 500, (role, method, url, params, r.status_code)
    # the purge still works after someone tried to keep recordings for a billion days
    assert send("admin", "POST", "/compliance/purge", {}).status_code == 302

"""Form refusals are in the user's language, never the server's English or Python text: user
administration (name, role, short password, existing user), webhook address, and bad query values."""
from __future__ import annotations

import pytest

from tests.support.web_app import Client, add_users, make_app


@pytest.fixture
def admin(tmp_path):
    app = make_app(tmp_path)
    add_users(app, ["admin", "supervisor"])
    c = Client(app)
    c.login("admin")
    return c


@pytest.mark.parametrize("form, expected", [
    ({"username": "a b", "password": "x" * 12, "role": "qa"}, "用户名须为 1–64 个字符，且不含空格"),
    ({"username": "new", "password": "x" * 12, "role": "boss"}, "角色必须是"),
    ({"username": "new", "password": "short", "role": "qa"}, "密码至少需要 10 个字符"),
    ({"username": "supervisor", "password": "x" * 12, "role": "qa"}, "用户 supervisor 已存在"),
])
def test_user_form_errors_in_chinese(admin, form, expected):
    page = admin.post("/admin/users", form, follow_redirects=True).get_data(as_text=True)
    assert expected in page
    for english in ("must be", "characters", "exists"):
        assert english not in page


def test_webhook_error_in_korean(admin):
    admin.post("/language", {"lang": "ko-KR"})
    page = admin.post("/admin/webhooks", {"url": "http://example.com/hook"}, follow_redirects=True).get_data(as_text=True)
    assert "주소는 https여야 합니다" in page and "must be https" not in page


@pytest.mark.parametrize("url", ["/reports?since=2026-13-01", "/reports?campaign=abc", "/compliance?since=yesterday"])
def test_bad_query_values_answer_in_the_users_language(tmp_path, url):
    app = make_app(tmp_path)
    add_users(app, ["supervisor", "auditor"])
    c = Client(app)
    c.login("auditor" if "compliance" in url else "supervisor")
    resp = c.get(url)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert "invalid literal" not in page and "isoformat" not in page and "Traceback" not in page
    assert "不是" in page     # “…”不是有效日期 / 不是整数

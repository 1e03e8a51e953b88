"""Every UI string goes through the catalogues: each catalogue has every key, every key used in a
template or view exists, the language is chosen per session and per user."""
from __future__ import annotations

import re
from pathlib import Path

from ivr.web import i18n
from tests.support.web_app import Client, add_users, db_of, make_app

WEB = Path(i18n.__file__).parent


def test_catalogues_have_the_same_keys_and_no_empty_text():
    zh = i18n.catalogue("zh-CN")
    for lang in i18n.LANGUAGES:
        cat = i18n.catalogue(lang)
        assert set(cat) == set(zh), lang
        assert all(v.strip() for v in cat.values()), lang
        for k, v in cat.items():  # the same {placeholders} in every language
            assert set(re.findall(r"{(\w+)}", v)) == set(re.findall(r"{(\w+)}", zh[k])), (lang, k)


def test_every_key_used_exists():
    used = set()
    for path in list(WEB.glob("templates/*.html")) + list(WEB.glob("*.py")):
        used |= set(re.findall(r"\bt\(['\"]([a-z_]+\.[a-z_.0-9]+[a-z0-9_])['\"]", path.read_text()))
    missing = sorted(k for k in used if k not in i18n.catalogue("zh-CN"))
    assert not missing and len(used) > 250


def test_no_chinese_text_hard_coded_in_templates():
    for path in WEB.glob("templates/*.html"):
        text = re.sub(r"<option[^>]*>[^<]*</option>", "", path.read_text())  # language names in pickers
        assert not re.search(r"[\u4e00-\u9fff\uac00-\ud7af]", text), path.name


def test_language_switch_per_session_and_saved_per_user(tmp_path):
    app = make_app(tmp_path)
    add_users(app, ["supervisor"])
    c = Client(app)
    assert "登录" in c.get("/login").get_data(as_text=True)
    c.post("/language", {"lang": "ko-KR", "next": "/login"})
    assert "로그인" in c.get("/login").get_data(as_text=True)
    c.login("supervisor")
    assert "캠페인" in c.get("/campaigns").get_data(as_text=True)
    c.post("/language", {"lang": "en"})
    assert "Campaigns" in c.get("/campaigns").get_data(as_text=True)
    assert list(db_of(app).query("SELECT locale FROM users"))[0]["locale"] == "en"
    again = Client(app)
    again.login("supervisor")
    assert "New campaign" in again.get("/campaigns").get_data(as_text=True)
    assert c.post("/language", {"lang": "xx"}).status_code == 400

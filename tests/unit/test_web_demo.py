"""`serve_dashboard`: demo accounts for every role and the app on 127.0.0.1 in a thread, on the
settings' database (either engine: `database_url` wins over the SQLite file ivr/demo.py passes)."""
from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
import urllib.request

from ivr import config
from ivr.db.store import open_store
from ivr.web.demo import serve_dashboard


def test_serve_dashboard(tmp_path, engine_url):
    s = config.load(env={}).replace(cache_dir=tmp_path, instance="web-dev", port_base=33000, database_url=engine_url)
    url, logins, stop = serve_dashboard(s, tmp_path / "not-this.db", port=0)
    try:
        assert url.startswith("http://127.0.0.1:")
        assert set(logins) == {"admin", "supervisor", "agent", "agent2", "qa", "auditor"}
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(url + "/login").read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({"username": "supervisor", "password": logins["supervisor"],
                                       "csrf_token": token, "next": "/campaigns"}).encode()
        home = opener.open(url + "/login", data=data).read().decode()
        assert "外呼任务" in home and 'id="new-campaign"' in home   # signed in, as a supervisor
    finally:
        stop()
    store = open_store(engine_url)
    try:
        agents = store.query("SELECT username, agent_ext FROM users WHERE role = 'agent' ORDER BY username")
        assert agents == [{"username": "agent", "agent_ext": "agent1"}, {"username": "agent2", "agent_ext": "agent2"}]
    finally:
        store.close()
    assert not (tmp_path / "not-this.db").exists()

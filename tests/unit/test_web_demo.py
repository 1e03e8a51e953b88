"""`serve_dashboard`: demo accounts for every role and the app on 127.0.0.1 in a thread."""
from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
import urllib.request

from ivr import config
from ivr.web.demo import serve_dashboard


def test_serve_dashboard(tmp_path):
    s = config.load(env={}).replace(cache_dir=tmp_path, instance="web-dev", port_base=33000)
    url, logins, stop = serve_dashboard(s, tmp_path / "demo.db", port=0)
    try:
        assert url.startswith("http://127.0.0.1:")
        assert set(logins) == {"admin", "supervisor", "agent", "agent2", "qa", "auditor"}
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(url + "/login").read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({"username": "supervisor", "password": logins["supervisor"],
                                       "csrf_token": token}).encode()
        home = opener.open(url + "/login", data=data).read().decode()
        assert "今日概况" in home
    finally:
        stop()

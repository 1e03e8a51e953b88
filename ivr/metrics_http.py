"""/metrics and /healthz of one long-running process, on its own 127.0.0.1 port.

Why it looks like this:

* Every long-running process (dialer, dialog server, notifier, web app) starts one
  `OpsEndpoint` from its entry point (never from a library class, so tests that build a
  Controller or a DialogServer in-process open no port). The port is per process
  (`Settings.metrics_port(process)`), the address is `Settings.bind` (127.0.0.1): Prometheus
  scrapes on the box, nothing is exposed to the network.
* The web app serves its figures here too, on a listener of its own, not under a path of the
  public app: behind the reverse proxy the app's port is reachable by users, and a separate
  loopback listener needs no login and cannot leak through a proxy rule.
* A health check is a named callable that returns None when its part is up, else a short reason
  (or raises: the exception text is the reason). `/healthz` runs every check: 200 and
  {"status": "ok", ...} when all pass, 503 with the first failure as "reason" and every check's
  state otherwise. Checks run in the HTTP thread: they must be cheap and must not touch an
  asyncio loop's objects except to read simple attributes.
* The database check opens the SQLite file read-only with sqlite3 (cheap, never creates or migrates
  it); on PostgreSQL (`database_url`) it asks a short-lived Store for `SELECT 1`.
* Each scrape of /metrics also evaluates the checks into `huifang_health_check{check}` (1/0), so
  Prometheus alone can alert on health without probing /healthz.
* A plain `http.server` in a daemon thread: no framework, and a scrape never waits on the event
  loop that paces every call's audio.
"""
from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy.engine import url as sa_url

from .metrics import HEALTH_CHECK, registry_for

if TYPE_CHECKING:
    from .config import Settings

log = logging.getLogger(__name__)

Check = Callable[[], "str | None"]


def evaluate(process: str, checks: Mapping[str, Check]) -> tuple[int, dict]:
    """Run every check: (HTTP status, JSON body). 200 when all are up, else 503 with a reason."""
    states: dict[str, str] = {}
    reason = None
    for name, check in list(checks.items()):   # the demo adds checks while serving
        try:
            problem = check()
        except Exception as exc:  # a failing check is a down part, never a 500
            problem = f"{type(exc).__name__}: {exc}"
        states[name] = "ok" if problem is None else str(problem)
        if problem is not None and reason is None:
            reason = f"{name}: {problem}"
    if reason is None:
        return 200, {"process": process, "status": "ok", "checks": states}
    return 503, {"process": process, "status": "unavailable", "reason": reason, "checks": states}


def database_check(where: Settings | str | Path, timeout_s: float = 1.0) -> Check:
    """Up when the database answers a query within about `timeout_s`. `where`: the process's settings
    (`database_url`, else its SQLite file), a database URL or an SQLite file. SQLite: the file opened
    read-only with sqlite3 (never created, no migration, no engine); PostgreSQL: a short-lived Store."""
    from .config import Settings
    from .db.migrate import sqlite_path
    if isinstance(where, Settings):
        where = where.database_url_effective
    path = Path(where) if isinstance(where, Path) or "://" not in where else sqlite_path(where)
    if path is not None:
        return _sqlite_check(path, timeout_s)
    return _store_check(str(where), timeout_s)


def _sqlite_check(path: Path, timeout_s: float) -> Check:
    def check() -> str | None:
        if not path.exists():
            return f"database {path} does not exist"
        conn = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True, timeout=timeout_s)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
        return None
    return check


def _store_check(url: str, timeout_s: float) -> Check:
    from .db.migrate import shown
    from .db.store import open_store
    # libpq's connect_timeout is whole seconds (and at least 2): a server that does not answer fails the
    # check instead of holding the HTTP thread
    parsed = sa_url.make_url(url)
    if "connect_timeout" not in parsed.query:
        parsed = parsed.update_query_dict({"connect_timeout": str(max(2, math.ceil(timeout_s)))})
    target = parsed.render_as_string(hide_password=False)

    def check() -> str | None:
        try:
            store = open_store(target)
        except Exception as exc:   # unreachable, refused, no such database: the reason without a password
            return f"database {shown(url)} unreachable: {_first_line(exc)}"
        try:
            store.scalar("SELECT 1")
        finally:
            store.close()
        return None
    return check


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _Handler(BaseHTTPRequestHandler):
    endpoint: "OpsEndpoint"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            _, body = evaluate(self.endpoint.process, self.endpoint.checks)
            for name, state in body["checks"].items():   # so Prometheus can alert on health alone
                HEALTH_CHECK.labels(name).set(1 if state == "ok" else 0)
            self._send(200, CONTENT_TYPE_LATEST, generate_latest(self.endpoint.registry))
        elif path == "/healthz":
            status, body = evaluate(self.endpoint.process, self.endpoint.checks)
            self._send(status, "application/json", json.dumps(body, ensure_ascii=False).encode())
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found: try /metrics or /healthz\n")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args) -> None:  # scrapes every 15 s: not worth a log line each
        log.debug("%s %s", self.address_string(), fmt % args)


class OpsEndpoint:
    """`/metrics` and `/healthz` for `process` on bind:port, served from a daemon thread."""

    def __init__(self, process: str, bind: str, port: int, checks: Mapping[str, Check] | None = None,
                 registry: CollectorRegistry | None = None):
        self.process = process
        self.bind, self.port = bind, port
        self.checks: dict[str, Check] = dict(checks or {})
        self.registry = registry or registry_for(process)   # only what this process records
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.bind}:{self.port}"

    def start(self) -> "OpsEndpoint":
        handler = type("Handler", (_Handler,), {"endpoint": self})
        try:
            self._server = ThreadingHTTPServer((self.bind, self.port), handler)
        except OSError as exc:
            raise OSError(f"{self.process}: cannot serve /metrics on {self.bind}:{self.port}: {exc.strerror or exc}"
                          f" (set {self.process}_metrics_port)") from None
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]   # port 0: the one the system chose
        threading.Thread(target=self._server.serve_forever, name=f"ops-{self.process}", daemon=True).start()
        log.debug("%s: metrics on %s/metrics, health on %s/healthz", self.process, self.url, self.url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

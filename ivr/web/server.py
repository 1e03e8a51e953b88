"""Serving the app on 127.0.0.1 with werkzeug's threaded server, in the foreground or a thread.
A background thread does the app's periodic work: every 5 s it queues new call results for the
lender's webhooks into the outbox (the notifier, `ivr notify run`, delivers them: one delivery path
for every event), and once a day the recording retention purge (each removed file logged in
`recording_purges`)."""
from __future__ import annotations

import logging
import threading
import time

from werkzeug.serving import make_server

from ..db.store import store_of

log = logging.getLogger(__name__)
PURGE_EVERY_S = 24 * 3600


class Server:
    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, *, webhooks: bool = True):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the web app binds to the loopback only; put a TLS reverse proxy in front of it")
        self.app = app
        self.httpd = make_server(host, port, app, threaded=True)
        self.host, self.port = host, self.httpd.server_port
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.webhooks = webhooks

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _webhook_loop(self) -> None:
        from . import open_db, retention
        from .api import queue_webhooks
        last_purge = 0.0
        while not self._stop.wait(5.0):
            try:
                db = open_db(self.app)   # a connection of the app's pool, given back below
                try:
                    queue_webhooks(db)
                    if time.monotonic() - last_purge > PURGE_EVERY_S:
                        last_purge = time.monotonic()
                        days = retention.retention_days(db, self.app.config["RETENTION_DAYS"])
                        removed = retention.purge(db, self.app.config["RECORDINGS_DIR"], days, actor="system")
                        if removed:
                            log.info("retention: removed %d recording(s) older than %d days", len(removed), days)
                finally:
                    store_of(db).close()
            except Exception:  # the loop must survive a bad round
                log.exception("web background round failed")

    def start(self) -> "Server":
        t = threading.Thread(target=self.httpd.serve_forever, name="huifang-web", daemon=True)
        t.start()
        self._threads.append(t)
        if self.webhooks:
            w = threading.Thread(target=self._webhook_loop, name="huifang-webhooks", daemon=True)
            w.start()
            self._threads.append(w)
        return self

    def serve_forever(self) -> None:
        if self.webhooks:
            threading.Thread(target=self._webhook_loop, name="huifang-webhooks", daemon=True).start()
        try:
            self.httpd.serve_forever()
        finally:
            self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        for t in self._threads:
            t.join(5)

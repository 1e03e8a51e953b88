"""The dashboard at the end of `ivr demo`: demo accounts (one per role, fresh random passwords)
and the app served on 127.0.0.1 in a background thread, on the demo's database (its SQLite file,
or `database_url` when the settings name one)."""
from __future__ import annotations

import secrets
from pathlib import Path

from .. import config
from ..db.connect import open_database
from ..db.store import store_of
from . import create_app, security
from .server import Server

DEMO_USERS = (("admin", "admin"), ("supervisor", "supervisor"), ("agent", "agent"), ("agent2", "agent"),
              ("qa", "qa"), ("auditor", "auditor"))
# the simulated agents' phones (ivr/stack.py SIMULATED_AGENTS): each demo agent sees the calls
# their phone answered
DEMO_PHONES = {"agent": "agent1", "agent2": "agent2"}


def ensure_demo_users(where: config.Settings | str | Path) -> dict[str, str]:
    """{username: password} for one account per role; existing demo accounts get a new password.
    `where`: the settings, a database URL or an SQLite file (as `open_database` takes them)."""
    db = open_database(where)
    s = store_of(db)
    logins = {}
    try:
        for username, role in DEMO_USERS:
            password = "demo-" + secrets.token_urlsafe(9)
            row = s.one("SELECT id FROM users WHERE username = :u", {"u": username})
            if row:
                security.set_password(db, row["id"], password)
            else:
                security.add_user(db, username, password, role, display_name=f"demo {username}",
                                  agent_ext=DEMO_PHONES.get(username))
            logins[username] = password
    finally:
        s.close()
    return logins


def serve_dashboard(settings: config.Settings, db_path=None, port: int | None = None):
    """-> (url, {username: password}, stop_fn). Binds 127.0.0.1:(port or settings.web_port_effective).
    The database is the settings' (`database_url` wins over the SQLite file `db_path`)."""
    if db_path is not None:
        settings = settings.replace(db_path=str(db_path))
    logins = ensure_demo_users(settings)
    app = create_app(settings)
    server = Server(app, "127.0.0.1", settings.web_port_effective if port is None else port).start()
    return server.url, logins, server.stop

"""The dashboard at the end of `ivr demo`: demo accounts (one per role, fresh random passwords)
and the app served on 127.0.0.1 in a background thread."""
from __future__ import annotations

import secrets

from .. import config
from ..db.connect import connect
from . import create_app, security
from .server import Server

DEMO_USERS = (("admin", "admin"), ("supervisor", "supervisor"), ("agent", "agent"), ("agent2", "agent"),
              ("qa", "qa"), ("auditor", "auditor"))
# the simulated agents' phones (ivr/stack.py SIMULATED_AGENTS): each demo agent sees the calls
# their phone answered
DEMO_PHONES = {"agent": "agent1", "agent2": "agent2"}


def ensure_demo_users(db_path) -> dict[str, str]:
    """{username: password} for one account per role; existing demo accounts get a new password."""
    db = connect(db_path)
    logins = {}
    try:
        for username, role in DEMO_USERS:
            password = "demo-" + secrets.token_urlsafe(9)
            row = next(iter(db.query("SELECT id FROM users WHERE username = ?", [username])), None)
            if row:
                security.set_password(db, row["id"], password)
            else:
                security.add_user(db, username, password, role, display_name=f"demo {username}",
                                  agent_ext=DEMO_PHONES.get(username))
            logins[username] = password
    finally:
        db.conn.close()
    return logins


def serve_dashboard(settings: config.Settings, db_path, port: int | None = None):
    """-> (url, {username: password}, stop_fn). Binds 127.0.0.1:(port or settings.web_port_effective)."""
    settings = settings.replace(db_path=str(db_path))
    logins = ensure_demo_users(db_path)
    app = create_app(settings)
    server = Server(app, "127.0.0.1", settings.web_port_effective if port is None else port).start()
    return server.url, logins, server.stop

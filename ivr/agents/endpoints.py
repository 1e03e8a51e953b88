"""The agent_endpoints table (0008) and the link user -> endpoint (users.agent_ext).

`create` and `reset` return the new password: the caller shows it once (web admin page, `ivr agent`)
and it is gone; only its md5_cred is stored. An endpoint belongs to at most one web account, so the
escalation assigned to an endpoint (by the queue's AgentConnect event) is visible to one agent.
Every function takes the handle `open_database` gives (the sqlite-utils handle with `.store`, or a
Store on PostgreSQL) and works through the Store.
"""
from __future__ import annotations

import logging

from ..db.clock import now_iso
from ..db.store import HasStore, Store, store_of
from .credentials import REALM, CredentialError, check_name, md5_cred, new_password, sip_username

log = logging.getLogger(__name__)

Db = Store | HasStore   # what `ivr.db.connect.open_database` returns: runs on SQLite and PostgreSQL


def get(db: Db, name: str) -> dict | None:
    return store_of(db).get("agent_endpoints", name)


def active(db: Db) -> list[dict]:
    """Every endpoint Asterisk should know, with the web account linked to it (if any)."""
    return store_of(db).query("SELECT e.*, u.username FROM agent_endpoints e LEFT JOIN users u ON u.agent_ext = e.name "
                              "WHERE e.active = 1 ORDER BY e.name")


def _store(db: Db, name: str, password: str, by: str | None, *, new: bool) -> None:
    now = now_iso()
    cred = md5_cred(sip_username(name), REALM, password)
    if new:
        store_of(db).insert("agent_endpoints", {"name": name, "realm": REALM, "md5_cred": cred, "active": 1,
                                                "created_by": by, "created_at": now, "credentials_at": now})
    else:
        store_of(db).update("agent_endpoints", name,
                            {"realm": REALM, "md5_cred": cred, "active": 1, "credentials_at": now})


def create(db: Db, name: str, *, by: str | None = None, user_id: int | None = None) -> str:
    """A new endpoint (and optionally its web account's link); returns the password, shown once."""
    name = check_name(name)
    password = new_password()
    with store_of(db).transaction():
        if get(db, name) is not None:
            raise CredentialError(f"agent endpoint {name} exists (reset its password instead)")
        _store(db, name, password, by, new=True)
        if user_id is not None:
            _link(db, name, user_id)
    log.info("agent endpoint %s created by %s", name, by)
    return password


def reset(db: Db, name: str, *, by: str | None = None) -> str:
    """A new password for an existing endpoint; the old one stops working at the next reload."""
    name = check_name(name)
    if get(db, name) is None:
        raise CredentialError(f"no agent endpoint {name}")
    password = new_password()
    _store(db, name, password, by, new=False)
    log.info("agent endpoint %s: credentials reset by %s", name, by)
    return password


def ensure(db: Db, name: str, *, by: str | None = None) -> str:
    """Create or reset: a fresh password either way (the simulator's phones at each start)."""
    return reset(db, name, by=by) if get(db, name) is not None else create(db, name, by=by)


def deactivate(db: Db, name: str) -> None:
    store_of(db).execute("UPDATE agent_endpoints SET active = 0 WHERE name = :name", {"name": check_name(name)})


def _link(db: Db, name: str, user_id: int) -> None:
    s = store_of(db)
    other = s.one("SELECT username FROM users WHERE agent_ext = :name AND id != :uid", {"name": name, "uid": user_id})
    if other:
        raise CredentialError(f"agent endpoint {name} already belongs to {other['username']}")
    s.execute("UPDATE users SET agent_ext = :name, updated_at = :now WHERE id = :uid",
              {"name": name, "now": now_iso(), "uid": user_id})


def link(db: Db, name: str | None, user_id: int) -> None:
    """Tie a web account to an endpoint (None: untie). The endpoint must exist and be nobody else's."""
    if name is None:
        store_of(db).execute("UPDATE users SET agent_ext = NULL, updated_at = :now WHERE id = :uid",
                             {"now": now_iso(), "uid": user_id})
        return
    name = check_name(name)
    if get(db, name) is None:
        raise CredentialError(f"no agent endpoint {name}: create it first")
    _link(db, name, user_id)

"""The agent_endpoints table (0008) and the link user -> endpoint (users.agent_ext).

`create` and `reset` return the new password: the caller shows it once (web admin page, `ivr agent`)
and it is gone; only its md5_cred is stored. An endpoint belongs to at most one web account, so the
escalation assigned to an endpoint (by the queue's AgentConnect event) is visible to one agent.
"""
from __future__ import annotations

import logging

from ..db.clock import now_iso
from .credentials import REALM, CredentialError, check_name, md5_cred, new_password, sip_username

log = logging.getLogger(__name__)


def get(db, name: str) -> dict | None:
    rows = list(db.query("SELECT * FROM agent_endpoints WHERE name = ?", [name]))
    return rows[0] if rows else None


def active(db) -> list[dict]:
    """Every endpoint Asterisk should know, with the web account linked to it (if any)."""
    if "agent_endpoints" not in db.table_names():
        return []
    return list(db.query("SELECT e.*, u.username FROM agent_endpoints e LEFT JOIN users u ON u.agent_ext = e.name "
                         "WHERE e.active = 1 ORDER BY e.name"))


def _store(db, name: str, password: str, by: str | None, *, new: bool) -> None:
    now = now_iso()
    cred = md5_cred(sip_username(name), REALM, password)
    if new:
        db["agent_endpoints"].insert({"name": name, "realm": REALM, "md5_cred": cred, "active": 1,
                                      "created_by": by, "created_at": now, "credentials_at": now})
    else:
        db["agent_endpoints"].update(name, {"realm": REALM, "md5_cred": cred, "active": 1, "credentials_at": now})


def create(db, name: str, *, by: str | None = None, user_id: int | None = None) -> str:
    """A new endpoint (and optionally its web account's link); returns the password, shown once."""
    name = check_name(name)
    if get(db, name) is not None:
        raise CredentialError(f"agent endpoint {name} exists (reset its password instead)")
    password = new_password()
    with db.conn:
        db.execute("BEGIN IMMEDIATE")
        _store(db, name, password, by, new=True)
        if user_id is not None:
            _link(db, name, user_id)
    log.info("agent endpoint %s created by %s", name, by)
    return password


def reset(db, name: str, *, by: str | None = None) -> str:
    """A new password for an existing endpoint; the old one stops working at the next reload."""
    name = check_name(name)
    if get(db, name) is None:
        raise CredentialError(f"no agent endpoint {name}")
    password = new_password()
    _store(db, name, password, by, new=False)
    log.info("agent endpoint %s: credentials reset by %s", name, by)
    return password


def ensure(db, name: str, *, by: str | None = None) -> str:
    """Create or reset: a fresh password either way (the simulator's phones at each start)."""
    return reset(db, name, by=by) if get(db, name) is not None else create(db, name, by=by)


def deactivate(db, name: str) -> None:
    db.execute("UPDATE agent_endpoints SET active = 0 WHERE name = ?", [check_name(name)])


def _link(db, name: str, user_id: int) -> None:
    other = list(db.query("SELECT username FROM users WHERE agent_ext = ? AND id != ?", [name, user_id]))
    if other:
        raise CredentialError(f"agent endpoint {name} already belongs to {other[0]['username']}")
    db.execute("UPDATE users SET agent_ext = ?, updated_at = ? WHERE id = ?", [name, now_iso(), user_id])


def link(db, name: str | None, user_id: int) -> None:
    """Tie a web account to an endpoint (None: untie). The endpoint must exist and be nobody else's."""
    if name is None:
        db.execute("UPDATE users SET agent_ext = NULL, updated_at = ? WHERE id = ?", [now_iso(), user_id])
        return
    name = check_name(name)
    if get(db, name) is None:
        raise CredentialError(f"no agent endpoint {name}: create it first")
    _link(db, name, user_id)

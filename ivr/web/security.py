"""Accounts, roles, password hashing (argon2id), the signed-in user and access control
(sessions: sessions.py; login throttling: throttle.py).

Roles: admin (everything), supervisor (campaigns, monitor, borrowers, reports), agent (the
escalations they take, and only the borrower on their current escalation), qa (review queue, masked
borrower data), auditor (read-only: reports, compliance, audit log; masked unless permitted).
"""
from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import abort, current_app, g, redirect, request, session, url_for

from ..db.clock import now_iso
from ..db.store import HasStore, Store, store_of
from . import sessions

ROLES = ("admin", "supervisor", "agent", "qa", "auditor")
_hasher = PasswordHasher()
# a hash to verify against when the user does not exist, so timing does not tell
_DUMMY = _hasher.hash(secrets.token_hex(16))
# POST endpoints a read-only auditor may still use
AUDITOR_POSTS = {"auth.login", "auth.logout", "auth.language", "auth.password", "compliance.export"}
MIN_PASSWORD = 10


class UserError(ValueError):
    """A refused user setting: the English text (CLI), `key` and `params` name the message in the
    web app's catalogues (`admin.err.<key>`)."""

    def __init__(self, message: str, key: str, **params):
        super().__init__(message)
        self.key = key
        self.params = params


def use_hasher(hasher: PasswordHasher) -> None:
    """Tests use cheap argon2 parameters; production keeps argon2-cffi's defaults (RFC 9106 low-memory)."""
    global _hasher, _DUMMY
    _hasher = hasher
    _DUMMY = hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def add_user(db: Store | HasStore, username: str, password: str, role: str, *, display_name: str | None = None,
             locale: str = "zh-CN", can_unmask: bool = False, agent_ext: str | None = None) -> int:
    username = username.strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise UserError("user name must be 1-64 characters without spaces", "username")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}", "role", roles=", ".join(ROLES))
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password must be at least {MIN_PASSWORD} characters", "password_short", n=MIN_PASSWORD)
    s = store_of(db)
    if s.one("SELECT id FROM users WHERE username = :u", {"u": username}):
        raise UserError(f"user {username} exists", "user_exists", username=username)
    now = now_iso()
    return s.insert("users", {"username": username, "display_name": display_name or username,
                               "password_hash": hash_password(password), "role": role, "locale": locale,
                               "can_unmask": int(can_unmask), "agent_ext": agent_ext or None, "active": 1,
                               "created_at": now, "updated_at": now})


def set_password(db: Store | HasStore, user_id: int, password: str) -> None:
    """A new password; every session of the user ends (the caller may start a fresh one)."""
    if len(password) < MIN_PASSWORD:
        raise UserError(f"password must be at least {MIN_PASSWORD} characters", "password_short", n=MIN_PASSWORD)
    store_of(db).update("users", user_id, {"password_hash": hash_password(password), "updated_at": now_iso()})
    sessions.revoke_user(db, user_id, "password_change")


def authenticate(db: Store | HasStore, username: str, password: str) -> dict | None:
    s = store_of(db)
    user = s.one("SELECT * FROM users WHERE username = :u AND active = 1", {"u": username})
    if not check_password(user["password_hash"] if user else None, password):
        return None
    if _hasher.check_needs_rehash(user["password_hash"]):
        s.update("users", user["id"], {"password_hash": hash_password(password)})
    return user


# ---- the signed-in user -------------------------------------------------------------------------
def _load_user():
    g.user = None
    sid = session.get("sid")
    if sid is None:
        return
    from . import get_db
    user = sessions.user_of(get_db(), sid)
    if user is None:
        session.pop("sid", None)  # expired, revoked (logout, password change, disabled) or unknown
        return
    g.user = user


def _read_only_auditor():
    user = g.get("user")
    if user and user["role"] == "auditor" and request.method not in ("GET", "HEAD", "OPTIONS") \
            and request.endpoint not in AUDITOR_POSTS:
        abort(403)


def init_app(app) -> None:
    app.before_request(_load_user)
    app.before_request(_read_only_auditor)

    @app.context_processor
    def inject_user():
        return {"user": g.get("user"), "can": can}


def start_session(db: Store | HasStore, user: dict, ip: str | None = None) -> None:
    """A fresh server-side session (no session fixation); the cookie gets only its random id."""
    lang = session.get("lang")
    session.clear()
    session.permanent = True
    session["sid"] = sessions.create(db, user["id"], ip=ip,
                                     lifetime=current_app.config["PERMANENT_SESSION_LIFETIME"])
    if lang:
        session["lang"] = lang


def end_session(db: Store | HasStore, reason: str = "logout") -> None:
    sessions.revoke(db, session.get("sid"), reason)
    session.clear()


# ---- access rules per area ------------------------------------------------------------------------
AREAS = {
    "dashboard": set(ROLES),
    "calls": {"admin", "supervisor", "qa", "auditor"},
    "campaigns": {"admin", "supervisor", "auditor"},
    "campaigns.write": {"admin", "supervisor"},
    "monitor": {"admin", "supervisor"},
    "announcements": {"admin", "supervisor"},
    "borrowers": {"admin", "supervisor", "qa", "auditor"},
    "agent": {"admin", "supervisor", "agent"},
    "qa": {"admin", "qa", "auditor"},
    "qa.write": {"admin", "qa"},
    "reports": {"admin", "supervisor", "qa", "auditor"},
    "compliance": {"admin", "auditor"},
    "retention": {"admin"},
    "admin": {"admin"},
    "audit": {"admin", "auditor"},
}


def can(area: str, user: dict | None = None) -> bool:
    user = user if user is not None else g.get("user")
    return bool(user) and user["role"] in AREAS[area]


def require(area: str):
    """View decorator: signed in, and the user's role may use `area` (else 403)."""
    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            if g.get("user") is None:
                if request.method == "GET" and not request.path.endswith(".json"):
                    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
                abort(401)
            if not can(area):
                abort(403)
            return view(*args, **kwargs)
        return inner
    return wrap

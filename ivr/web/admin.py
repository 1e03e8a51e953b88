"""Administration: users and roles, API tokens for the loan system, result webhooks; and the
audit log (admins and auditors)."""
from __future__ import annotations

import hashlib
import logging
import secrets

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

from ..agents import endpoints as agent_endpoints
from ..agents.credentials import REALM, CredentialError, sip_username
from ..db.clock import now_iso
from ..db.store import HasStore, Store, store_of
from . import audit, get_db, i18n, params, security, sessions
from .api import encode_cursor
from .common import by_id
from .i18n import translate as t

bp = Blueprint("admin", __name__)
log = logging.getLogger(__name__)


def new_token(db: Store | HasStore, name: str, by: str, scopes: str = "push,pull") -> str:
    """Create an API token; only its SHA-256 is stored, the token is shown once."""
    token = "hf_" + secrets.token_urlsafe(32)
    store_of(db).insert("api_tokens", {"name": name, "prefix": token[:9],
                                       "token_hash": hashlib.sha256(token.encode()).hexdigest(),
                                       "scopes": scopes, "created_by": by, "created_at": now_iso()})
    return token


@bp.get("/admin/users")
@security.require("admin")
def users(sip: dict | None = None):
    rows = store_of(get_db()).query("SELECT * FROM users ORDER BY id")
    return render_template("admin_users.html", rows=rows, roles=security.ROLES, sip=sip)


def _phone(db, user_id: int, name: str | None) -> dict | None:
    """Tie the account to the agent phone `name`; a phone that does not exist yet is created and its
    credentials returned (shown once on the page, never stored). Raises CredentialError."""
    current = store_of(db).one("SELECT agent_ext FROM users WHERE id = :id", {"id": user_id})
    if name == (current or {}).get("agent_ext"):
        return None
    if name is None or agent_endpoints.get(db, name) is not None:
        agent_endpoints.link(db, name, user_id)
        audit.log(db, "agent_endpoint_link", "user", user_id, {"endpoint": name})
        return None
    password = agent_endpoints.create(db, name, by=g.user["username"], user_id=user_id)
    audit.log(db, "agent_endpoint_add", "agent_endpoint", name, {"user_id": user_id})
    return _show_once(name, password)


def _show_once(name: str, password: str) -> dict:
    from ..agents.apply import apply
    settings = current_app.config["SETTINGS"]
    # the app's database, whichever engine: database_url wins over db_path (settings.database_url_effective)
    applied = apply(settings.replace(db_path=current_app.config["DATABASE"],
                                     database_url=current_app.config["DATABASE_URL"]))
    return {"name": name, "username": sip_username(name), "password": password, "realm": REALM,
            "registrar": f"{settings.bind}:{settings.sip_port}", "applied": applied}


@bp.post("/admin/users/<int:user_id>/phone-password")
@security.require("admin")
def reset_phone(user_id: int):
    """A new SIP password for the account's phone (the old one stops working), shown once."""
    db = get_db()
    u = by_id(db, "users", user_id)
    if u is None or not u["agent_ext"] or agent_endpoints.get(db, u["agent_ext"]) is None:
        abort(404)
    password = agent_endpoints.reset(db, u["agent_ext"], by=g.user["username"])
    audit.log(db, "agent_endpoint_reset", "agent_endpoint", u["agent_ext"], {"user_id": user_id})
    return users(sip=_show_once(u["agent_ext"], password))


@bp.post("/admin/users")
@security.require("admin")
def add_user():
    db = get_db()
    f = request.form
    try:
        uid = security.add_user(db, f.get("username", ""), f.get("password", ""), f.get("role", ""),
                                display_name=f.get("display_name") or None,
                                locale=f.get("locale") if f.get("locale") in i18n.LANGUAGES else "zh-CN",
                                can_unmask=bool(f.get("can_unmask")))
    except security.UserError as exc:
        flash(t("admin.user_error", reason=t(f"admin.err.{exc.key}", **exc.params)), "error")
        return redirect(url_for("admin.users"))
    audit.log(db, "user_add", "user", uid, {"username": f.get("username"), "role": f.get("role"),
                                            "can_unmask": bool(f.get("can_unmask"))})
    flash(t("admin.user_added"), "ok")
    try:
        sip = _phone(db, uid, f.get("agent_ext", "").strip() or None)
    except CredentialError as exc:
        flash(t("admin.sip_error", reason=str(exc)), "error")
        return redirect(url_for("admin.users"))
    return users(sip=sip) if sip else redirect(url_for("admin.users"))


@bp.post("/admin/users/<int:user_id>")
@security.require("admin")
def update_user(user_id: int):
    db = get_db()
    u = by_id(db, "users", user_id)
    if u is None:
        abort(404)
    f = request.form
    changes = {}
    if f.get("role") in security.ROLES:
        changes["role"] = f["role"]
    changes["active"] = int(bool(f.get("active")))
    changes["can_unmask"] = int(bool(f.get("can_unmask")))
    phone = f.get("agent_ext", "").strip() or None
    if user_id == g.user["id"] and (changes.get("role", "admin") != "admin" or not changes["active"]):
        flash(t("admin.not_self"), "error")
        return redirect(url_for("admin.users"))
    try:
        sip = _phone(db, user_id, phone)
    except CredentialError as exc:
        flash(t("admin.sip_error", reason=str(exc)), "error")
        return redirect(url_for("admin.users"))
    changes["updated_at"] = now_iso()
    store_of(db).update("users", user_id, changes)
    if not changes["active"]:
        sessions.revoke_user(db, user_id, "user_disabled")
    elif changes.get("role", u["role"]) != u["role"]:
        sessions.revoke_user(db, user_id, "role_change")  # signs in again with the new role's menus
    if f.get("password"):
        try:
            security.set_password(db, user_id, f["password"])
        except security.UserError as exc:
            flash(t("admin.user_error", reason=t(f"admin.err.{exc.key}", **exc.params)), "error")
            return redirect(url_for("admin.users"))
    audit.log(db, "user_update", "user", user_id,
              {**{k: v for k, v in changes.items() if k != "updated_at"}, "agent_ext": phone,
               "password_reset": bool(f.get("password"))})
    flash(t("admin.user_saved"), "ok")
    return users(sip=sip) if sip else redirect(url_for("admin.users"))


@bp.get("/admin/tokens")
@security.require("admin")
def tokens():
    return _tokens_page(get_db(), token=None)


def _tokens_page(db: Store | HasStore, token: str | None):
    s = store_of(db)
    return render_template("admin_tokens.html", rows=s.query("SELECT * FROM api_tokens ORDER BY id DESC"),
                           hooks=s.query("SELECT id, url, active, cursor, created_at FROM webhooks ORDER BY id"),
                           token=token)


@bp.post("/admin/tokens")
@security.require("admin")
def create_token():
    db = get_db()
    name = request.form.get("name", "").strip()[:80]
    if not name:
        flash(t("admin.token_name"), "error")
        return redirect(url_for("admin.tokens"))
    scopes = ",".join(s for s in ("push", "pull") if request.form.get(f"scope_{s}")) or "pull"
    token = new_token(db, name, g.user["username"], scopes)
    audit.log(db, "token_create", "api_token", token[:9], {"name": name, "scopes": scopes})
    return _tokens_page(db, token=token)


@bp.post("/admin/tokens/<int:token_id>/revoke")
@security.require("admin")
def revoke_token(token_id: int):
    db = get_db()
    store_of(db).execute("UPDATE api_tokens SET revoked_at = :at WHERE id = :id AND revoked_at IS NULL",
                         {"at": now_iso(), "id": token_id})
    audit.log(db, "token_revoke", "api_token", token_id)
    return redirect(url_for("admin.tokens"))


@bp.post("/admin/webhooks")
@security.require("admin")
def add_webhook():
    db = get_db()
    from ..notify.webhook import WebhookSender
    url = request.form.get("url", "").strip()
    secret = request.form.get("secret", "").strip() or secrets.token_hex(16)
    try:
        WebhookSender(url, secret)  # same rules as the dialer's notifier: https, or http to loopback
    except ValueError as exc:
        log.info("webhook refused: %s", exc)
        flash(t("admin.webhook_error", reason=t("admin.err.webhook_url")), "error")
        return redirect(url_for("admin.tokens"))
    hook_id = store_of(db).insert("webhooks", {"url": url, "secret": secret, "created_by": g.user["username"],
                                               "created_at": now_iso(),
                                               "cursor": encode_cursor(now_iso(), "")})  # results from now on
    audit.log(db, "webhook_add", "webhook", hook_id, {"url": url})
    flash(t("admin.webhook_added", secret=secret), "ok")
    return redirect(url_for("admin.tokens"))


@bp.post("/admin/webhooks/<int:hook_id>/toggle")
@security.require("admin")
def toggle_webhook(hook_id: int):
    db = get_db()
    store_of(db).execute("UPDATE webhooks SET active = 1 - active WHERE id = :id", {"id": hook_id})
    audit.log(db, "webhook_toggle", "webhook", hook_id)
    return redirect(url_for("admin.tokens"))


@bp.get("/audit")
@security.require("audit")
def audit_log():
    db = get_db()
    where, values = [], {}
    for key in ("actor", "action", "object_type"):  # column names, each a parameter of its own name
        if request.args.get(key):
            where.append(f"{key} = :{key}")
            values[key] = request.args[key]
    before = params.integer(request.args, "before")
    if before:
        where.append("id < :before")
        values["before"] = before
    rows = store_of(db).query(f"SELECT * FROM audit_log {'WHERE ' + ' AND '.join(where) if where else ''} "
                              f"ORDER BY id DESC LIMIT 200", values)
    return render_template("audit.html", rows=rows, args=request.args)

"""Sign in (throttled per client address and per user, throttle.py), sign out (the server-side
session ends, sessions.py), the language switch, one's own password."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for

from ..db.clock import now_iso
from ..db.store import store_of
from . import audit, get_db, i18n, security, sessions, throttle
from .i18n import translate as t

bp = Blueprint("auth", __name__)


def _referrer_path() -> str | None:
    try:
        return urlsplit(request.referrer).path if request.referrer else None
    except ValueError:  # e.g. "http://[" (not a URL)
        return None


def _safe_next(target: str | None) -> str:
    if not target:
        return url_for("dashboard.index")
    try:
        parts = urlsplit(target)
    except ValueError:
        return url_for("dashboard.index")
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("dashboard.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""))
    db = get_db()
    username = request.form.get("username", "").strip()[:64]
    password = request.form.get("password", "")
    ip = throttle.client_address()
    block = throttle.blocked(db, ip, username)
    if block:
        audit.log(db, "login_blocked", "user", username, {"scope": block.scope}, actor=username or "?")
        page = render_template("login.html", error=t("login.blocked"), next=request.form.get("next", ""))
        return page, 429, {"Retry-After": str(block.retry_after_s)}
    user = security.authenticate(db, username, password)
    throttle.record(db, ip, username, user is not None)
    if user is None:
        audit.log(db, "login_failed", "user", username, actor=username or "?")
        return render_template("login.html", error=t("login.failed"), next=request.form.get("next", "")), 401
    sessions.forget_expired(db)
    security.start_session(db, user, ip)
    store_of(db).update("users", user["id"], {"last_login_at": now_iso()})
    audit.log(db, "login", "user", user["id"], actor=user["username"], role=user["role"])
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
def logout():
    db = get_db()
    if g.get("user"):
        audit.log(db, "logout", "user", g.user["id"])
    security.end_session(db, "logout")
    return redirect(url_for("auth.login"))


@bp.post("/language")
def language():
    lang = request.form.get("lang", "")
    if lang not in i18n.LANGUAGES:
        abort(400)
    session["lang"] = lang
    if g.get("user"):
        store_of(get_db()).update("users", g.user["id"], {"locale": lang})
    return redirect(_safe_next(request.form.get("next") or _referrer_path()))


@bp.route("/account", methods=["GET", "POST"], endpoint="password")
@security.require("dashboard")
def password():
    if request.method == "POST":
        db = get_db()
        if not security.check_password(g.user["password_hash"], request.form.get("current", "")):
            flash(t("account.wrong_current"), "error")
        elif request.form.get("new") != request.form.get("repeat"):
            flash(t("account.mismatch"), "error")
        else:
            try:
                security.set_password(db, g.user["id"], request.form.get("new", ""))
            except security.UserError:
                flash(t("account.too_short", n=security.MIN_PASSWORD), "error")
            else:
                audit.log(db, "password_change", "user", g.user["id"])
                user = store_of(db).get("users", g.user["id"])
                security.start_session(db, user, throttle.client_address())  # the others ended
                flash(t("account.changed"), "ok")
                return redirect(url_for("auth.password"))
    return render_template("account.html")

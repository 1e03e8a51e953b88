"""The web app for supervisors, agents, QA reviewers, auditors and the lender's loan system.

`create_app(settings)` builds the Flask app: one blueprint per area (auth, dashboard, calls,
campaigns, monitor, borrowers, agent, qa, reports, compliance, admin, api), a per-request database
handle lent by the app's one `ivr.db.connect.Pool` (on PostgreSQL `web_db_pool_size` connections kept
open and pre-pinged; a request that finds the database unreachable gets a 503, not a 500), server-side
sessions (sessions.py) with secure cookie settings, the client address behind
`web_trusted_proxies` reverse proxies (ProxyFix), CSRF protection on every form, security headers and
the UI language (zh-CN by default; en and ko-KR) per user or session.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
from pathlib import Path

import sqlalchemy as sa
from flask import Flask, g, request
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from .. import config
from ..db import outage
from ..db.connect import Pool, open_database
from ..db.store import store_of
from ..dialer import upload_caps
from . import throttle

log = logging.getLogger(__name__)

csrf = CSRFProtect()
POOL = "huifang.database"   # app.extensions key of the app's database Pool
RETRY_AFTER_S = 5           # what a 503 tells the client when the database is unreachable or all connections busy


def secret_key(settings: config.Settings) -> str:
    """The session signing key: generated once per instance, kept in a 0600 file."""
    path = Path(settings.instance_dir) / "web_secret"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def create_app(settings: config.Settings | None = None, **overrides) -> Flask:
    settings = settings or config.load()
    app = Flask(__name__)
    app.config.update(
        SETTINGS=settings,
        DATABASE=str(settings.database),  # the SQLite file (when DATABASE_URL is one): backups, SQLite-only tools
        DATABASE_URL=settings.database_url_effective,
        SECRET_KEY=secret_key(settings),
        SESSION_COOKIE_NAME="huifang_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(getattr(settings, "web_secure_cookies", False)),
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=8),
        WTF_CSRF_TIME_LIMIT=8 * 3600,
        WTF_CSRF_SSL_STRICT=True,
        MAX_CONTENT_LENGTH=upload_caps.MAX_BYTES + upload_caps.REQUEST_OVERHEAD,  # uploads and API bodies
        RECORDINGS_DIR=str(settings.recordings_dir),
        UPLOAD_DIR=str(Path(settings.instance_dir) / "uploads"),
        RETENTION_DAYS=int(getattr(settings, "recordings_retention_days", 180)),
        LOGIN_WINDOW_S=900, LOGIN_MAX_FAILS_USER=5, LOGIN_MAX_FAILS_IP=20,
        DISPLAY_TZ=settings.web_display_tz,
    )
    app.config.update(overrides)
    proxies = throttle.trusted_proxies(getattr(settings, "web_trusted_proxies", 0))
    if proxies:  # the client address and scheme as the trusted proxies saw them
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    store_of(open_database(app.config["DATABASE_URL"])).close()  # migrations applied once, at start-up
    app.extensions[POOL] = Pool(app.config["DATABASE_URL"], settings.web_db_pool_size,
                                application_name="huifang-web")
    app.before_request(_refuse_nul)
    csrf.init_app(app)

    @app.teardown_appcontext
    def close_db(_exc):
        db = g.pop("db", None)
        if db is not None:
            store_of(db).close()

    @app.after_request
    def security_headers(resp):
        resp.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                "img-src 'self' data:; media-src 'self'; frame-ancestors 'none'; form-action 'self'")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        if request.endpoint != "static":
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    from . import common, i18n, import_messages, money, params, security
    app.url_map.converters["int"] = params.IdConverter  # before any route: ids past SQLite's range are 404s
    app.url_map.converters["loan_id"] = params.LoanIdConverter
    app.url_map.merge_slashes = False  # '/x//1' is not '/x/1': a quoted '/' in an id never redirects elsewhere
    i18n.init_app(app)
    import_messages.init_app(app)
    money.init_app(app)
    app.jinja_env.filters["when"] = lambda ts: common.local(ts)                       # display time zone
    app.jinja_env.filters["when_min"] = lambda ts: common.local(ts, fmt="%Y-%m-%d %H:%M")
    security.init_app(app)

    from .admin import bp as admin_bp
    from .agent import bp as agent_bp
    from .announcements import bp as announcements_bp
    from .api import bp as api_bp
    from .auth import bp as auth_bp
    from .borrowers import bp as borrowers_bp
    from .calls import bp as calls_bp
    from .campaigns import bp as campaigns_bp
    from .compliance import bp as compliance_bp
    from .dashboard import bp as dashboard_bp
    from .monitor import bp as monitor_bp
    from .qa import bp as qa_bp
    from .reports import bp as reports_bp
    for bp in (auth_bp, dashboard_bp, calls_bp, campaigns_bp, monitor_bp, borrowers_bp, agent_bp, qa_bp,
               reports_bp, compliance_bp, announcements_bp, admin_bp, api_bp):
        app.register_blueprint(bp)
    csrf.exempt(api_bp)  # token-authenticated JSON, no cookies
    _error_pages(app)
    return app


def _refuse_nul():
    """A NUL character in the path (404: nothing has such a name) or in a parameter (400) ends the
    request before any SQL: PostgreSQL's text cannot hold one (psycopg refuses the statement, which
    was a 500), and on SQLite it would be stored as given. One rule for both engines."""
    from flask import abort
    if "\x00" in request.path:
        abort(404)
    for values in (request.args, request.form):
        if any("\x00" in key or any("\x00" in v for v in values.getlist(key)) for key in values):
            abort(400)


def _error_pages(app: Flask) -> None:
    from flask import jsonify, render_template
    from flask_wtf.csrf import CSRFError

    from . import params
    from .i18n import translate

    def page(code: int, key: str):
        if request.path.startswith("/api/") or request.path.endswith(".json"):
            return jsonify({"error": translate(key, "en")}), code
        return render_template("error.html", code=code, message=translate(key)), code

    app.register_error_handler(CSRFError, lambda e: page(400, "error.csrf"))

    def bad_param(exc: params.BadParam):
        text = params.message(exc)
        if request.path.startswith("/api/") or request.path.endswith(".json"):
            return jsonify({"error": text}), 400
        return render_template("error.html", code=400, message=text), 400

    app.register_error_handler(params.BadParam, bad_param)

    def database_unreachable(exc: Exception):
        """The database went away (a restart, a failover) or every pooled connection is busy: a 503 the
        client may retry, not a 500. Any other database error is the app's bug and stays a 500."""
        if isinstance(exc, sa.exc.DBAPIError) and not outage.connection_lost(exc):
            raise exc
        log.warning("request %s %s: database unavailable (%s)", request.method, request.path,
                    " ".join(str(exc).split())[:200])
        resp, code = page(503, "error.503")
        return resp, code, {"Retry-After": str(RETRY_AFTER_S)}

    app.register_error_handler(sa.exc.DBAPIError, database_unreachable)
    app.register_error_handler(sa.exc.TimeoutError, database_unreachable)   # the pool's wait ran out
    for code, key in ((400, "error.400"), (401, "error.401"), (403, "error.403"), (404, "error.404"),
                      (405, "error.405"), (409, "error.409"), (413, "error.413"), (429, "error.429")):
        app.register_error_handler(code, lambda e, c=code, k=key: page(c, k))


def open_db(app: Flask):
    """A database handle from the app's pool, for work outside a request (close it with
    `store_of(handle).close()`: that gives the connection back)."""
    return app.extensions[POOL].open()


def get_db():
    """One database handle per request, given back at the request's end (close_db)."""
    from flask import current_app
    if "db" not in g:
        g.db = open_db(current_app)
        if store_of(g.db).dialect == "sqlite":
            store_of(g.db).execute("PRAGMA mmap_size = 268435456")  # reads straight from the OS page cache
    return g.db

"""The web app's commands: `ivr user add`, `ivr web serve`, `ivr purge-recordings`.
`register(subparsers)` adds them to the `ivr` parser (ivr/cli.py); each sets `fn` (ivr/cli.py's
dispatch) and `func` (this module's standalone `main`)."""
from __future__ import annotations

import getpass
import json
import sys

from .. import config


def _settings(args) -> config.Settings:
    return config.load(config_file=getattr(args, "config", None))


def _shown(s: config.Settings) -> str:
    """The settings' database for a message: the SQLite file, or the URL without its password."""
    from ..db.migrate import shown, sqlite_path
    url = s.database_url_effective
    path = sqlite_path(url)
    return str(path) if path is not None else shown(url)


def cmd_user_add(args) -> int:
    from ..db.connect import open_database
    from ..db.store import store_of
    s = _settings(args)
    password = args.password
    if password is None:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("passwords differ", file=sys.stderr)
            return 1
    db = open_database(s)
    try:
        return _user_add(args, s, db, password)
    finally:
        store_of(db).close()


def _user_add(args, s: config.Settings, db, password: str) -> int:
    from . import audit, security
    from ..agents import endpoints
    from ..agents.credentials import CredentialError
    if args.agent_ext and endpoints.get(db, args.agent_ext) is None:
        print(f"error: no agent phone {args.agent_ext}: add the user without --agent-ext, then "
              f"`ivr agent add {args.agent_ext} --user {args.username}` (prints the phone's password once)",
              file=sys.stderr)
        return 1
    try:
        uid = security.add_user(db, args.username, password, args.role, display_name=args.name, locale=args.locale,
                                can_unmask=args.can_unmask)
        if args.agent_ext:
            endpoints.link(db, args.agent_ext, uid)
    except (security.UserError, CredentialError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    audit.log(db, "user_add", "user", uid, {"username": args.username, "role": args.role, "via": "cli"},
              actor="cli")
    print(f"user {args.username} ({args.role}) created in {_shown(s)}")
    return 0


def cmd_web_serve(args) -> int:
    from . import create_app
    from .server import Server
    s = _settings(args)
    app = create_app(s, SESSION_COOKIE_SECURE=args.secure_cookies)
    from .response_metrics import count_responses
    app.wsgi_app = count_responses(app.wsgi_app)   # huifang_web_responses_total{code}
    server = Server(app, "127.0.0.1", args.port or s.web_port_effective)
    print(f"Huifang web app on {server.url} (database {_shown(s)}); Ctrl-C to stop", flush=True)
    from .. import health
    try:   # its own loopback listener, never a path of the app the reverse proxy exposes
        health.serve("web", s, health.web_checks(s, server.url))
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def cmd_purge(args) -> int:
    from ..db.connect import open_database
    from ..db.store import store_of
    s = _settings(args)
    db = open_database(s)
    try:
        return _purge(args, s, db)
    finally:
        store_of(db).close()


def _purge(args, s: config.Settings, db) -> int:
    from . import retention
    days = args.days or retention.retention_days(db, int(getattr(s, "recordings_retention_days", 180)))
    try:
        removed = retention.purge(db, s.recordings_dir, days, actor="cli", dry_run=args.dry_run)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for item in removed:
        print(json.dumps(item, ensure_ascii=False))
    print(f"{'would remove' if args.dry_run else 'removed'} {len(removed)} recording(s) older than {days} day(s), "
          f"{sum(i['bytes'] for i in removed)} bytes", file=sys.stderr)
    return 0


def register(subparsers) -> None:
    user = subparsers.add_parser("user", help="web app accounts")
    user_sub = user.add_subparsers(dest="user_action", required=True)
    add = user_sub.add_parser("add", help="create an account (e.g. the first admin)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=("admin", "supervisor", "agent", "qa", "auditor"))
    add.add_argument("--password", help="default: asked on the terminal")
    add.add_argument("--name", help="display name")
    add.add_argument("--locale", default="zh-CN", choices=("zh-CN", "en", "ko-KR"))
    add.add_argument("--can-unmask", action="store_true", help="auditors: may see unmasked borrower data")
    add.add_argument("--agent-ext", help="the agent's phone (an existing `ivr agent` endpoint) this account answers on")
    add.set_defaults(fn=cmd_user_add)

    web = subparsers.add_parser("web", help="the web app")
    web_sub = web.add_subparsers(dest="web_action", required=True)
    serve = web_sub.add_parser("serve", help="serve the web app on 127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="default: port_base + 500")
    serve.add_argument("--secure-cookies", action="store_true",
                       help="mark the session cookie Secure (behind a TLS reverse proxy)")
    serve.set_defaults(fn=cmd_web_serve)

    purge = subparsers.add_parser("purge-recordings", help="delete recordings past the retention period")
    purge.add_argument("--days", type=int, default=0, help="default: the retention set in the web app (180)")
    purge.add_argument("--dry-run", action="store_true")
    purge.set_defaults(fn=cmd_purge)

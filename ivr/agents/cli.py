"""`ivr agent add|reset|link|list|conf`: agents' SIP endpoints from the command line.

The password is printed once, on stdout, and is not kept anywhere: give it to the agent (or type it
into their phone) and let them forget it with the terminal's scroll-back.
"""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from .. import config


@contextlib.contextmanager
def _open(args) -> Iterator[tuple]:
    """The settings and the database of this install (`database_url`, else the SQLite file)."""
    from ..db.connect import open_database
    from ..db.store import store_of
    s = config.load(config_file=getattr(args, "config", None))
    db = open_database(s)
    try:
        yield s, db
    finally:
        store_of(db).close()


def _show_once(s, name: str, password: str) -> None:
    from .apply import apply
    from .credentials import REALM, sip_username
    print(f"agent endpoint {name}: SIP user {sip_username(name)}, password {password}, realm {REALM}, "
          f"registrar {s.bind}:{s.sip_port} (UDP)")
    print("the password is shown this once; `ivr agent reset` makes a new one", file=sys.stderr)
    print(apply(s), file=sys.stderr)


def _user_id(db, username: str | None) -> int | None:
    from ..db.store import store_of
    if not username:
        return None
    uid = store_of(db).scalar("SELECT id FROM users WHERE username = :name", {"name": username})
    if uid is None:
        raise ValueError(f"no web account {username}")
    return int(uid)


def cmd_add(args) -> int:
    from ..web import audit
    from . import endpoints
    with _open(args) as (s, db):
        password = endpoints.create(db, args.name, by="cli", user_id=_user_id(db, args.user))
        audit.log(db, "agent_endpoint_add", "agent_endpoint", args.name, {"user": args.user, "via": "cli"},
                  actor="cli")
    _show_once(s, args.name, password)
    return 0


def cmd_reset(args) -> int:
    from ..web import audit
    from . import endpoints
    with _open(args) as (s, db):
        password = endpoints.reset(db, args.name, by="cli")
        audit.log(db, "agent_endpoint_reset", "agent_endpoint", args.name, {"via": "cli"}, actor="cli")
    _show_once(s, args.name, password)
    return 0


def cmd_link(args) -> int:
    from ..web import audit
    from . import endpoints
    with _open(args) as (_, db):
        uid = _user_id(db, args.user)
        endpoints.link(db, None if args.name == "-" else args.name, uid)
        audit.log(db, "agent_endpoint_link", "user", uid, {"endpoint": args.name, "via": "cli"}, actor="cli")
    print(f"{args.user} -> {args.name}")
    return 0


def cmd_list(args) -> int:
    from . import endpoints
    with _open(args) as (_, db):
        agents = endpoints.active(db)
    for e in agents:
        print(f"{e['name']:<16} user={e['username'] or '-':<16} credentials_at={e['credentials_at']}")
    return 0


def cmd_conf(args) -> int:
    from .apply import conf_text
    s = config.load(config_file=getattr(args, "config", None))
    sys.stdout.write(conf_text(s))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("agent", help="agents' phones: SIP endpoints with their own credentials")
    sub = p.add_subparsers(dest="agent_cmd", required=True)
    add = sub.add_parser("add", help="create an endpoint; prints its password once")
    add.add_argument("name", help="endpoint name, e.g. agent1 (the phone registers as huifang-<name>)")
    add.add_argument("--user", help="the web account (role agent) that answers on this phone")
    add.set_defaults(fn=cmd_add)
    reset = sub.add_parser("reset", help="a new password for an endpoint; prints it once")
    reset.add_argument("name")
    reset.set_defaults(fn=cmd_reset)
    link = sub.add_parser("link", help="tie a web account to an endpoint ('-' unties)")
    link.add_argument("user")
    link.add_argument("name")
    link.set_defaults(fn=cmd_link)
    sub.add_parser("list", help="the endpoints and their web accounts").set_defaults(fn=cmd_list)
    sub.add_parser("conf", help="the pjsip/queue sections an external Asterisk needs").set_defaults(fn=cmd_conf)

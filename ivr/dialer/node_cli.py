"""`ivr node list`: the telephony nodes sharing this database, their capacity, load and heartbeat.

  ivr node list           one line per node: state, calls up / capacity, AMI address, last beat
  ivr node list --json    the same as JSON (for monitoring scripts)
"""
from __future__ import annotations

import argparse
import json

from .. import config
from . import nodes


def cmd_list(args: argparse.Namespace) -> int:
    from ..db.connect import open_database
    from ..db.store import store_of
    s = config.load(config_file=getattr(args, "config", None))
    db = open_database(s)
    try:
        rows = nodes.listing(db)
    finally:
        store_of(db).close()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, default=str))
        return 0
    if not rows:
        print("no node has registered yet (a node registers when its dialer controller runs)")
        return 0
    print(f"{'node':<20} {'state':<9} {'calls':>11}  {'AMI':<22} {'last beat':>10}  controller")
    for r in rows:
        age = "never" if r["age_s"] == float("inf") else f"{r['age_s']:.0f} s ago"
        print(f"{r['name']:<20} {r['state']:<9} {r['load']:>5} / {r['capacity']:<4} "
              f"{r['ami_host'] + ':' + str(r['ami_port']):<22} {age:>10}  {r['controller'] or '-'}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("node", help="the telephony nodes sharing this database")
    sub = p.add_subparsers(dest="node_action", required=True)
    ls = sub.add_parser("list", help="nodes, their capacity, load and heartbeat age")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(fn=cmd_list)

"""`ivr announcements ...`: the carrier-announcement library from the command line.

  ivr announcements cluster                 file new early media into clusters (as the web page does)
  ivr announcements list                    the clusters, unlabelled first
  ivr announcements label ID LABEL          label a cluster (LABEL "none" removes the label)
  ivr announcements import FILE --label L   learn a recording the carrier gave you (8 kHz mono WAV / .sln)

For lenders who script their set-up, or who got their carrier's announcement files directly.
Each command opens the database its settings name (`open_database`: SQLite or PostgreSQL) and closes it.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from .. import config
from ..db.connect import Database, open_database
from ..db.store import Store, store_of
from . import announcement_library as library


@contextlib.contextmanager
def _db(args: argparse.Namespace) -> Iterator[tuple[config.Settings, Database | Store]]:
    s = config.load(config_file=getattr(args, "config", None))
    db = open_database(s)
    try:
        yield s, db
    finally:
        store_of(db).close()


def cmd_cluster(args: argparse.Namespace) -> int:
    with _db(args) as (s, db):
        stats = library.cluster_pending(db, s.recordings_dir, limit=args.limit)
    print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in stats.items()))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with _db(args) as (_, db):
        rows = store_of(db).query("SELECT id, label, members, seconds, first_seen, last_seen, source "
                                  "FROM announcement_clusters ORDER BY label IS NOT NULL, members DESC, id DESC")
    if not rows:
        print("no clusters yet (run `ivr announcements cluster` after some failed calls)")
    for r in rows:
        name = f"{r['label']} ({library.LABEL_NAMES_ZH[r['label']]})" if r["label"] else "-- unlabelled --"
        print(f"{r['id']:>5}  {name:<28} {r['members']:>5} captures  {r['seconds']:>5.1f} s  "
              f"last {r['last_seen'][:16]}  {r['source']}")
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    from ..web import audit
    value = None if args.label == "none" else args.label
    with _db(args) as (_, db):
        try:
            library.label(db, args.id, value, "cli")
        except (ValueError, LookupError) as exc:
            print(f"error: {exc.args[0]}", file=sys.stderr)
            return 1
        audit.log(db, "label_announcement", "announcement_cluster", str(args.id), {"label": value}, actor="cli")
    print(f"cluster {args.id}: {value or 'label removed'}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    with _db(args) as (_, db):
        try:
            cluster_id = library.import_recording(db, Path(args.file), args.label, "cli", locale=args.locale)
        except (OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    print(f"{args.file}: learned as cluster {cluster_id} ({args.label})")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("announcements", help="the carrier announcement library (learned from calls)")
    sub = p.add_subparsers(dest="announcements_action", required=True)
    c = sub.add_parser("cluster", help="file new early media into clusters")
    c.add_argument("--limit", type=int, default=5000)
    c.set_defaults(fn=cmd_cluster)
    sub.add_parser("list", help="the clusters, unlabelled first").set_defaults(fn=cmd_list)
    lab = sub.add_parser("label", help="label a cluster")
    lab.add_argument("id", type=int)
    lab.add_argument("label", choices=[*library.LABELS, "none"])
    lab.set_defaults(fn=cmd_label)
    imp = sub.add_parser("import", help="learn a recording of a carrier announcement")
    imp.add_argument("file", help="8 kHz mono 16-bit WAV, or raw 8 kHz signed-linear .sln")
    imp.add_argument("--label", required=True, choices=[l for l in library.LABELS if l != library.NOT_ANNOUNCEMENT])
    imp.add_argument("--locale", default=None)
    imp.set_defaults(fn=cmd_import)

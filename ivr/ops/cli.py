"""The operations commands: `ivr service install`, `ivr backup DEST`, `ivr restore SRC`.
Wired into `ivr.cli` by `register(subparsers)`; each prints what it did, and a clear one-line
error (exit 2) for anything an operator can fix."""
from __future__ import annotations

import json
import os
import sys

from .. import config


def _settings(args) -> config.Settings:
    """The settings the services use: with --env-file, the installed EnvironmentFile's IVR_* lines."""
    env = dict(os.environ)
    if getattr(args, "env_file", None):
        env.update(read_env_file(args.env_file))
    return config.load(env=env, config_file=getattr(args, "config", None))


def read_env_file(path: str) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile has them (# comments, optional quotes)."""
    values = {}
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"{path}:{number}: expected KEY=VALUE")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[key.strip()] = value
    return values


def cmd_service_install(args) -> int:
    from . import units
    try:
        done = units.install(_settings(args), prefix=args.prefix, user=args.user, config_dir=args.config_dir,
                             state_dir=args.state_dir, ivr=args.ivr, dry_run=args.dry_run)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path, action, text in done:
        if action == "dry-run":
            print(f"### {path}\n{text}")
        else:
            print(f"{action:5} {path}")
    if not args.dry_run:
        print(f"""
next steps (as root):
  useradd --system --home-dir {args.state_dir} --shell /usr/sbin/nologin {args.user}
  install -d -o {args.user} -g {args.user} -m 0750 {args.state_dir}
  chgrp {args.user} {args.config_dir}/huifang.env {args.config_dir}/notify.toml
  systemctl daemon-reload && systemctl enable --now {units.TARGET}""")
    return 0


def cmd_backup(args) -> int:
    from .backup import BackupError, backup, database_file
    try:
        s = _settings(args)
        result = backup(database_file(s.database_url_effective, "backup"), args.dest,
                        recordings_dir=s.recordings_dir if args.with_recordings else None)
    except (BackupError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False))
    if not args.with_recordings:
        print(f"note: recordings are not in the database; back up {s.recordings_dir} too "
              "(or pass --with-recordings)", file=sys.stderr)
    return 0


def cmd_restore(args) -> int:
    from .backup import BackupError, database_file, restore
    try:
        s = _settings(args)
        result = restore(args.src, database_file(s.database_url_effective, "restore"), force=args.force)
    except (BackupError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False))
    return 0


def register(sub) -> None:
    p = sub.add_parser("service", help="run Huifang under systemd: `ivr service install`")
    p.add_argument("action", choices=["install"])
    p.add_argument("--user", default="huifang", help="the one unprivileged account every process runs as")
    p.add_argument("--prefix", default="/etc/systemd/system", help="where the unit files go")
    p.add_argument("--config-dir", default="/etc/huifang",
                   help="huifang.env (IVR_* settings) and notify.toml; existing files are kept")
    p.add_argument("--state-dir", default="/var/lib/huifang",
                   help="the only writable directory: database, Asterisk rootfs and recordings, models")
    p.add_argument("--ivr", help="the ivr command in ExecStart (default: this virtualenv's ivr)")
    p.add_argument("--dry-run", action="store_true", help="print the files instead of writing them")
    p.set_defaults(fn=cmd_service_install)

    p = sub.add_parser("backup", help="copy the live database (online, consistent) to DEST")
    p.add_argument("dest", help="a new file, or a directory to put huifang-<UTC time>.db in")
    p.add_argument("--with-recordings", action="store_true", help="also write the recordings as DEST.recordings.tar")
    p.add_argument("--env-file", help="read IVR_* settings from this file, e.g. /etc/huifang/huifang.env")
    p.set_defaults(fn=cmd_backup)

    p = sub.add_parser("restore", help="replace the database with a backup, after checking it")
    p.add_argument("src", help="a file written by `ivr backup`")
    p.add_argument("--force", action="store_true", help="even while another process has the database open")
    p.add_argument("--env-file", help="read IVR_* settings from this file, e.g. /etc/huifang/huifang.env")
    p.set_defaults(fn=cmd_restore)

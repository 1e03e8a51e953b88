"""Online backup and checked restore of the Huifang database.

Why it looks like this: the dialer, dialog server and web app write the database all day, so a backup
must not stop them and must still be one consistent moment. SQLite's online backup API copies every
page inside one read transaction when asked for all pages in one step; in WAL mode that reader does
not block the writers, and what it copies is exactly the database as of the moment it began, so the
copy holds a prefix of the committed writes, never half a transaction. (Copying in small steps would
restart whenever another connection writes, possibly forever under a busy dialer.)

A restore is the dangerous direction, so it checks before it touches anything: the source passes
`PRAGMA integrity_check`, it is a Huifang database whose migrations (legacy SQL files, Alembic
revisions) this code knows (a newer one would be silently misread), and no other process has the target open (SQLite's WAL-index lock says
so, with the holder's pid) unless --force. The database it replaces is kept beside it.

Recordings live outside the database (Settings.recordings_dir); `--with-recordings` adds them as a
tar next to the backup.

All of this is about an SQLite file. An install whose `database_url` is PostgreSQL backs up with
PostgreSQL's own tools (pg_dump / pg_restore, or its continuous archiving): `database_file` refuses
such a URL with the commands to use instead, rather than copying a file the services do not use.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import sqlite3
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from ..db import migrate
from ..db.migrations import migrations

log = logging.getLogger(__name__)

# SQLite's unix VFS: every connection to a WAL database holds a shared lock on this byte of the -shm
# file while it is open (the "DMS" byte: 120 + SQLITE_SHM_NLOCK)
SHM_DMS_BYTE = 128


class BackupError(Exception):
    """A backup or restore that must not go ahead; the message says why and what to do."""


@dataclass
class Check:
    integrity: str
    applied: list[str]
    pending: list[str]
    unknown: list[str]
    rows: dict[str, int]


def database_file(url: str, command: str) -> Path:
    """The SQLite file `ivr backup` / `ivr restore` works on, from the effective database URL; a
    PostgreSQL URL is refused with what to run instead (the URL shown without its password)."""
    path = migrate.sqlite_path(url)
    if path is not None:
        return path
    parsed = sa.engine.make_url(url)
    libpq = sa.engine.URL.create("postgresql", username=parsed.username, host=parsed.host, port=parsed.port,
                                 database=parsed.database, query=parsed.query).render_as_string(hide_password=False)
    how = (f"pg_dump --format=custom --file=DEST '{libpq}'" if command == "backup"
           else f"pg_restore --clean --if-exists --dbname='{libpq}' SRC (with the services stopped)")
    raise BackupError(f"`ivr {command}` copies an SQLite database file, but database_url is PostgreSQL "
                      f"({libpq}); use PostgreSQL's tools instead: {how}. The password comes from "
                      "PGPASSWORD or ~/.pgpass; recordings are files outside the database, back them up too")


def _utc_stamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def check_database(path: Path) -> Check:
    """Integrity and migration level of a database file, opened read-only.

    The level is the legacy SQL files applied (an old file's `_sqlite_migrations`) followed by the
    Alembic revisions up to the one in `alembic_version` (see ivr/db/migrate.py)."""
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            integrity = "; ".join(r[0] for r in conn.execute("PRAGMA integrity_check").fetchall())
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if migrate.LEGACY_TABLE not in tables and "alembic_version" not in tables:
                raise BackupError(f"{path}: not a Huifang database (no migration history)")
            legacy = [r[0] for r in conn.execute(
                f"SELECT name FROM {migrate.LEGACY_TABLE} WHERE migration_set = ? ORDER BY applied_at, name",
                [migrations.name])] if migrate.LEGACY_TABLE in tables else []
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone() \
                if "alembic_version" in tables else None
            rows = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
                    for t in ("borrowers", "campaigns", "attempts", "outbox") if t in tables}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not a readable SQLite database ({exc})") from None
    known_legacy = [m.name for m in migrations._migrations]
    revisions = migrate.known_revisions()
    current = row[0] if row else None
    unknown = [n for n in legacy if n not in known_legacy]
    if current is None:        # a legacy file: what it lacks, then every revision (the baseline by stamp)
        applied, pending = legacy, [n for n in known_legacy if n not in legacy] + revisions
    elif current in revisions:
        at = revisions.index(current) + 1
        applied, pending = legacy + revisions[:at], revisions[at:]
    else:
        applied, pending = legacy + [current], []
        unknown.append(current)
    return Check(integrity=integrity, applied=applied, pending=pending, unknown=unknown, rows=rows)


def holders(db_path: Path) -> list[int]:
    """Pids of other processes that have the database open (empty: none, or not in WAL mode)."""
    shm = Path(str(db_path) + "-shm")
    try:
        fd = os.open(shm, os.O_RDONLY)
    except FileNotFoundError:
        return []
    try:
        # F_GETLK asks "could I take a write lock here?" without taking it; struct flock on Linux
        probe = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, SHM_DMS_BYTE, 1, 0)
        l_type, _, _, _, pid = struct.unpack("hhqqi4x", fcntl.fcntl(fd, fcntl.F_GETLK, probe))
    finally:
        os.close(fd)
    return [] if l_type == fcntl.F_UNLCK else [pid]


def _copy(src: Path, dest: Path) -> None:
    """The whole database in one step of the online backup API, into `dest` (which must not exist)."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=15)
    target = sqlite3.connect(str(dest))
    try:
        source.execute("PRAGMA busy_timeout = 15000")
        source.backup(target)          # pages=-1: one read transaction, one consistent snapshot
        target.execute("PRAGMA journal_mode = DELETE")   # a single self-contained file
    finally:
        target.close()
        source.close()


def backup(db_path: Path, dest: Path, *, recordings_dir: Path | None = None) -> dict:
    """Copy the live database to `dest` (a file, or a directory to put a time-stamped file in)."""
    db_path = Path(db_path)
    if not db_path.is_file():
        raise BackupError(f"no database at {db_path}; check --config / IVR_DB_PATH / IVR_CACHE_DIR")
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / f"huifang-{_utc_stamp()}.db"
    if dest.exists():
        raise BackupError(f"{dest} exists; choose a new name (a backup never overwrites one)")
    if not dest.parent.is_dir():
        raise BackupError(f"{dest.parent}: no such directory")
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    _copy(db_path, partial)
    check = check_database(partial)
    if check.integrity != "ok":
        partial.unlink()
        raise BackupError(f"the copy fails integrity_check: {check.integrity}")
    with open(partial, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(partial, dest)
    result = {"backup": str(dest), "database": str(db_path), "bytes": dest.stat().st_size, "migrations": len(check.applied), **check.rows}
    if recordings_dir is not None:
        result["recordings"] = _tar_recordings(Path(recordings_dir), dest.with_name(dest.stem + ".recordings.tar"))
    log.info("backup of %s written to %s", db_path, dest)
    return result


def _tar_recordings(recordings_dir: Path, tar_path: Path) -> dict:
    files = sorted(p for p in recordings_dir.rglob("*") if p.is_file()) if recordings_dir.is_dir() else []
    with tarfile.open(tar_path, "w") as tar:
        for p in files:
            tar.add(p, arcname=str(p.relative_to(recordings_dir)))
    return {"tar": str(tar_path), "files": len(files)}


def _same_owner(path: Path, like: Path) -> None:
    """Give the restored file the owner and mode of what it replaces (a root restore stays writable
    by the service user)."""
    st = like.stat()
    if like.is_file():
        os.chmod(path, st.st_mode & 0o777)
    if os.geteuid() == 0:
        os.chown(path, st.st_uid, st.st_gid)


def restore(src: Path, db_path: Path, *, force: bool = False) -> dict:
    """Replace the database at `db_path` with the backup `src`, after checking both."""
    src, db_path = Path(src), Path(db_path)
    check = check_database(src)
    if check.integrity != "ok":
        raise BackupError(f"{src} fails integrity_check: {check.integrity}")
    if check.unknown:
        raise BackupError(f"{src} was written by a newer Huifang (migrations {', '.join(check.unknown)} "
                          "are unknown here); upgrade this install before restoring it")
    if db_path.exists() and not force:
        pids = holders(db_path)
        if pids:
            raise BackupError(f"{db_path} is in use by pid {', '.join(map(str, pids))}; stop the services "
                              "(systemctl stop huifang.target) first, or pass --force")
    db_path.parent.mkdir(parents=True, exist_ok=True)
    incoming = db_path.with_name(db_path.name + ".restoring")
    incoming.unlink(missing_ok=True)
    _copy(src, incoming)
    _same_owner(incoming, db_path if db_path.exists() else db_path.parent)
    if check_database(incoming).integrity != "ok":
        incoming.unlink()
        raise BackupError(f"the restored copy of {src} fails integrity_check; {db_path} left as it was")
    kept = None
    if db_path.exists():
        if not holders(db_path):
            last = sqlite3.connect(str(db_path))   # the last connection checkpoints and removes the WAL
            last.execute("SELECT count(*) FROM sqlite_master").fetchone()
            last.close()
        kept = db_path.with_name(f"{db_path.name}.before-restore-{_utc_stamp()}")
        os.replace(db_path, kept)
        for suffix in ("-wal", "-shm"):   # never leave the old WAL beside the new file
            side = Path(str(db_path) + suffix)
            if side.exists():
                os.replace(side, Path(str(kept) + suffix))
    os.replace(incoming, db_path)
    log.info("restored %s into %s (previous kept as %s)", src, db_path, kept)
    return {"restored": str(db_path), "from": str(src), "previous": str(kept) if kept else None,
            "migrations_to_apply": check.pending, **check.rows}

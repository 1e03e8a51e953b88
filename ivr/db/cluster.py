"""A throwaway PostgreSQL cluster: Debian's server binaries, a directory of its own, 127.0.0.1 only.

Why it looks like this: the tests, the benches and `ivr demo --postgres` each need a real PostgreSQL
they start themselves on a fresh machine (issue 12), without touching the cluster Debian's package
creates (15/main, which stays down here: no systemd). One module knows how, so all three start it the
same way; the tests add nothing but their choice of settings (tests/support/postgres.py).

`initdb` refuses to run as root, so as root the cluster's directory is given to the `postgres` user and
every server binary runs through `runuser -u postgres --`. The server listens on 127.0.0.1 at a free
port and on a unix socket in its directory; clients use TCP with trust authentication as the role
`huifang` (nobody but local processes can reach it; it is never a production server).

`settings` are written into postgresql.conf over `BASE_SETTINGS`. `NO_DURABILITY` (fsync,
synchronous_commit and full_page_writes off: a crash loses the cluster) suits tests;
`LIKE_SQLITE_WAL` (commits not waited for, fsync on) is what our SQLite connections do with WAL and
synchronous=NORMAL, so a bench comparing the two engines compares like with like.
"""
from __future__ import annotations

import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import psycopg

log = logging.getLogger(__name__)

PG_BIN_GLOB = "usr/lib/postgresql/*/bin"
ROLE = "huifang"
# a unix socket path may not be longer than this (sun_path, less the socket's own name)
MAX_SOCKET_DIR = 90
BASE_SETTINGS: dict[str, str] = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "100",
    "shared_buffers": "'32MB'",
}
NO_DURABILITY: dict[str, str] = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
LIKE_SQLITE_WAL: dict[str, str] = {"synchronous_commit": "off"}


class PostgresUnavailable(RuntimeError):
    """PostgreSQL's server binaries are missing or the cluster did not start; the message says why."""


def pg_bin_dir() -> Path:
    """The newest installed PostgreSQL's bin directory ($IVR_PG_BIN overrides)."""
    if os.environ.get("IVR_PG_BIN"):
        return Path(os.environ["IVR_PG_BIN"])
    found = sorted(Path("/").glob(PG_BIN_GLOB),
                   key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    if not found or not (found[-1] / "initdb").exists():
        raise PostgresUnavailable("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin: install Debian's "
                                  "`postgresql` package (scripts/setup.sh does)")
    return found[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _blocking_ancestor(directory: Path, uid: int) -> Path | None:
    """The first directory from / down to `directory` that user `uid` (not in its group) cannot enter."""
    for d in [*reversed(directory.parents), directory]:
        st = d.stat()
        if not (st.st_mode & 0o001 or (st.st_uid == uid and st.st_mode & 0o100)):
            return d
    return None


def _setting_lines(settings: Mapping[str, str]) -> str:
    for key, value in settings.items():
        if not key.replace("_", "").isalnum() or "\n" in value:
            raise ValueError(f"PostgreSQL setting {key!r} = {value!r}: not a plain name and one-line value")
    return "".join(f"{k} = {v}\n" for k, v in settings.items())


class PostgresCluster:
    """One running cluster in its own directory; `stop()` ends it and removes the directory.
    Also a context manager: `with PostgresCluster.start() as cluster: ...`."""

    def __init__(self, root: Path, port: int, bin_dir: Path, as_user: list[str]) -> None:
        self.root, self.port, self.bin_dir, self._as_user = root, port, bin_dir, as_user
        self.data = root / "data"
        self._running = False

    @classmethod
    def start(cls, parent: str | Path | None = None, *,
              settings: Mapping[str, str] | None = None) -> PostgresCluster:
        """initdb and start a cluster in a new directory under `parent` (default: the temp dir)."""
        bin_dir = pg_bin_dir()
        lines = _setting_lines({**BASE_SETTINGS, **(settings or {})})
        if parent is not None:
            Path(parent).mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix="huifang-pg-", dir=parent)).resolve()
        if len(str(root)) > MAX_SOCKET_DIR:
            shutil.rmtree(root, ignore_errors=True)
            raise PostgresUnavailable(f"{root}: too long a path for the server's unix socket; "
                                      f"start the cluster under a shorter directory")
        as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                pg = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(root, ignore_errors=True)
                raise PostgresUnavailable("running as root and there is no `postgres` user to run initdb as") from None
            blocked = _blocking_ancestor(root.parent, pg.pw_uid)
            if blocked is not None:
                shutil.rmtree(root, ignore_errors=True)
                raise PostgresUnavailable(f"{blocked} (mode {blocked.stat().st_mode & 0o777:o}) cannot be entered by "
                                          f"the postgres user the server runs as: start the cluster under a "
                                          f"directory every user may traverse")
            os.chown(root, pg.pw_uid, pg.pw_gid)
            as_user = ["runuser", "-u", "postgres", "--"]
        cluster = cls(root, _free_port(), bin_dir, as_user)
        try:
            cluster._init(lines)
            cluster._start()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def __enter__(self) -> PostgresCluster:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _run(self, *args: str) -> None:
        try:
            result = subprocess.run([*self._as_user, *args], capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PostgresUnavailable(f"{' '.join(args)}: {exc}") from exc
        if result.returncode != 0:
            log_file = self.root / "server.log"
            server_log = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
            raise PostgresUnavailable(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}\n"
                                      f"{server_log}")

    def _init(self, setting_lines: str) -> None:
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", ROLE, "-E", "UTF8",
                  "--locale=C", "--no-sync", "--no-instructions")
        own = {"port": str(self.port), "unix_socket_directories": f"'{self.root}'"}
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# huifang throwaway cluster (ivr/db/cluster.py)\n" + setting_lines + _setting_lines(own))

    def _start(self) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-w", "-t", "60", "start")
        self._running = True
        log.info("throwaway PostgreSQL up on 127.0.0.1:%d (%s)", self.port, self.root)

    @property
    def running(self) -> bool:
        return self._running

    def halt(self) -> None:
        """Shut the server down (fast: sessions are ended) and keep its data, as a restart or a failover
        would; `resume()` starts it again on the same port."""
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        self._running = False

    def resume(self) -> None:
        self._start()

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory; safe to call twice."""
        if self._running:
            self._running = False
            try:
                self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
            except PostgresUnavailable as exc:
                log.warning("stopping the throwaway PostgreSQL: %s", exc)
        shutil.rmtree(self.root, ignore_errors=True)

    # ---- databases ---------------------------------------------------------------------------------
    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL (psycopg 3) for `database` in this cluster."""
        return f"postgresql+psycopg://{ROLE}@127.0.0.1:{self.port}/{database}"

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(host="127.0.0.1", port=self.port, user=ROLE, dbname="postgres", autocommit=True)

    def create_database(self, prefix: str = "t_", *, template: str | None = None) -> str:
        """A new database, empty or a copy of `template` (which nobody may be connected to); returns its
        name (`prefix` + 16 hex digits)."""
        if not prefix.replace("_", "").isalnum():
            raise ValueError(f"database name prefix {prefix!r}: letters, digits and '_' only")
        name = prefix + uuid.uuid4().hex[:16]
        with self._admin() as conn:
            # FILE_COPY: a copy of the template's files, ~0.15 s here against 1-2 s for the default
            # WAL_LOG strategy, which pays per block
            conn.execute(f'CREATE DATABASE "{name}"'
                         + (f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""))
        return name

    def drop_database(self, name: str) -> None:
        """Drop `name`, ending any connection left open on it."""
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

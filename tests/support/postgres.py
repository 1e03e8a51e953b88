"""A throwaway PostgreSQL cluster for the tests: Debian's binaries, a temp dir, 127.0.0.1 only.

Why it looks like this: the tests must run against a real PostgreSQL started by themselves on a fresh
machine (issue 12), without touching the cluster Debian's package creates (15/main, down here). One
cluster per test session (initdb + start take about a second); each test that wants one gets its own
database, created and dropped around it. Durability is switched off (fsync, synchronous_commit,
full_page_writes): a crash loses a test database, nothing else.

`initdb` refuses to run as root, so as root the temp dir is given to the `postgres` user and every
server binary runs through `runuser -u postgres --`. The server listens on 127.0.0.1 at a free port and
on a unix socket in the temp dir; clients use TCP with trust authentication as the role `huifang`.
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
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)

PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"
ROLE = "huifang"
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    "shared_buffers": "'32MB'",
}


class PostgresUnavailable(RuntimeError):
    """PostgreSQL's server binaries are missing or the cluster did not start; the message says why."""


def pg_bin_dir() -> Path:
    """The newest installed PostgreSQL's bin directory ($IVR_PG_BIN overrides)."""
    if os.environ.get("IVR_PG_BIN"):
        return Path(os.environ["IVR_PG_BIN"])
    found = sorted(Path("/").glob(PG_BIN_GLOB.lstrip("/")), key=lambda p: int(p.parent.name)
                   if p.parent.name.isdigit() else 0)
    if not found or not (found[-1] / "initdb").exists():
        raise PostgresUnavailable("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin: install Debian's "
                                  "`postgresql` package (scripts/setup.sh does)")
    return found[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresCluster:
    """One running cluster in a temp dir; `stop()` ends it and removes the dir."""

    def __init__(self, root: Path, port: int, bin_dir: Path, as_user: list[str]) -> None:
        self.root, self.port, self.bin_dir, self._as_user = root, port, bin_dir, as_user
        self.data = root / "data"
        self._running = False

    @classmethod
    def start(cls) -> "PostgresCluster":
        bin_dir = pg_bin_dir()
        root = Path(tempfile.mkdtemp(prefix="huifang-pg-"))
        as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                pg = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable("running as root and there is no `postgres` user to run initdb as") from None
            os.chown(root, pg.pw_uid, pg.pw_gid)
            as_user = ["runuser", "-u", "postgres", "--"]
        cluster = cls(root, _free_port(), bin_dir, as_user)
        try:
            cluster._init()
            cluster._start()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self._as_user, *args], capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            log_file = self.root / "server.log"
            server_log = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
            raise PostgresUnavailable(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}\n"
                                      f"{server_log}")

    def _init(self) -> None:
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", ROLE, "-E", "UTF8",
                  "--locale=C", "--no-sync", "--no-instructions")
        settings = {**SERVER_SETTINGS, "port": str(self.port), "unix_socket_directories": f"'{self.root}'"}
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# huifang test cluster\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))

    def _start(self) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-w", "-t", "30", "start")
        self._running = True
        log.info("test PostgreSQL up on 127.0.0.1:%d (%s)", self.port, self.root)

    def stop(self) -> None:
        if self._running:
            self._running = False
            try:
                self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
            except PostgresUnavailable as exc:
                log.warning("stopping the test PostgreSQL: %s", exc)
        shutil.rmtree(self.root, ignore_errors=True)

    # ---- databases ---------------------------------------------------------------------------------
    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL (psycopg 3) for `database` in this cluster."""
        return f"postgresql+psycopg://{ROLE}@127.0.0.1:{self.port}/{database}"

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(host="127.0.0.1", port=self.port, user=ROLE, dbname="postgres", autocommit=True)

    def create_database(self, template: str | None = None) -> str:
        """A new database, empty or a copy of `template` (which nobody may be connected to); its name."""
        name = "t_" + uuid.uuid4().hex[:16]
        with self._admin() as conn:
            # FILE_COPY: a copy of the template's files, ~0.15 s here against 1-2 s for the default
            # WAL_LOG strategy (which pays per block; durability is off in this cluster anyway)
            conn.execute(f'CREATE DATABASE "{name}"'
                         + (f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""))
        return name

    def drop_database(self, name: str) -> None:
        """Drop `name`, ending any connection a test left open."""
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

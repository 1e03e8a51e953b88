"""The tests' PostgreSQL: a throwaway cluster from ivr/db/cluster.py, with durability switched off.

Why it looks like this: starting a cluster is product code now (`ivr demo --postgres` and the benches
need one too); what is the tests' own is the choice of settings — fsync, synchronous_commit and
full_page_writes off (a crash loses a test database, nothing else) — and one cluster per test session,
each test getting its own database (tests/conftest.py uses `PostgresCluster.start()` from here).

`log_mark()` / `errors_since(mark)`: what the server itself logged as an ERROR while a test ran. A
client that catches a failed statement and carries on leaves nothing else behind; a real stack on
PostgreSQL asserts (`fail_on_errors`) the server saw none from its start to its stop (one worker runs
one module's tests at a time, so the lines are its own).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from ivr.db import cluster

PostgresUnavailable = cluster.PostgresUnavailable
pg_bin_dir = cluster.pg_bin_dir

__all__ = ["PostgresCluster", "PostgresUnavailable", "pg_bin_dir"]


class PostgresCluster(cluster.PostgresCluster):
    """ivr.db.cluster.PostgresCluster, started with durability off unless told otherwise."""

    @classmethod
    def start(cls, parent: str | Path | None = None, *,
              settings: Mapping[str, str] | None = None) -> "PostgresCluster":
        started = super().start(parent, settings=cluster.NO_DURABILITY if settings is None else settings)
        assert isinstance(started, PostgresCluster)
        return started

    @property
    def server_log(self) -> Path:
        return self.root / "server.log"

    def log_mark(self) -> int:
        """Where the server's log ends now (for `errors_since`)."""
        return self.server_log.stat().st_size if self.server_log.exists() else 0

    def errors_since(self, mark: int) -> list[str]:
        """Each ERROR or PANIC the server logged after `mark`, with the DETAIL and STATEMENT lines that
        follow it (FATAL is left out: a client killed on purpose ends its session with one)."""
        with open(self.server_log, "rb") as f:
            f.seek(mark)
            lines = f.read().decode("utf-8", errors="replace").splitlines()
        found: list[str] = []
        for line in lines:
            if _SEVERITY.search(line):
                found.append(line)
            elif found and _FOLLOW_UP.search(line):
                found[-1] += "\n" + line
        return found


_SEVERITY = re.compile(r"\b(ERROR|PANIC):  ")
_FOLLOW_UP = re.compile(r"\b(DETAIL|STATEMENT|HINT|CONTEXT):  ")


def fail_on_errors(errors: list[str], what: str) -> None:
    """Fail naming what the server logged (the first 20 entries) if it logged anything."""
    assert not errors, f"PostgreSQL logged {len(errors)} error(s) during {what}:\n" + "\n".join(errors[:20])

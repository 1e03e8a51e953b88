"""The tests' PostgreSQL: a throwaway cluster from ivr/db/cluster.py, with durability switched off.

Why it looks like this: starting a cluster is product code now (`ivr demo --postgres` and the benches
need one too); what is the tests' own is the choice of settings — fsync, synchronous_commit and
full_page_writes off (a crash loses a test database, nothing else) — and one cluster per test session,
each test getting its own database (tests/conftest.py uses `PostgresCluster.start()` from here).
"""
from __future__ import annotations

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

"""The legacy numbered SQL migrations (schema/NNNN_name.sql, applied in name order, each in its own
transaction): frozen since the schema moved to Alembic (issue 12).

They still finish an SQLite file made by an older Huifang before `ivr.db.migrate` stamps it at the
Alembic baseline, and they are the independent reference the baseline is tested against. Never edit
or add a file here: a schema change is a new Alembic revision (ivr/db/alembic/versions/).
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

SCHEMA_DIR = Path(__file__).with_name("schema")
migrations = Migrations("huifang")


def _register(path: Path) -> None:
    sql = path.read_text(encoding="utf-8")

    def apply(db: Database) -> None:
        # executescript would COMMIT the migration's transaction: run statement by statement
        for statement in split_statements(sql):
            db.execute(statement)

    apply.__name__ = path.stem
    migrations(name=path.stem)(apply)


def split_statements(sql: str) -> list[str]:
    """Split a migration file into whole statements, as SQLite itself would parse them.

    A line ending in ';' ends a statement only when `sqlite3.complete_statement` agrees, so a
    trigger body (`BEGIN ... ; ... END;`) or a ';' inside a string stays in one statement.
    Comment-only chunks are dropped.
    """
    out: list[str] = []
    current: list[str] = []
    for line in sql.splitlines():
        if not current and (not line.strip() or line.strip().startswith("--")):
            continue
        current.append(line)
        candidate = "\n".join(current).strip()
        if sqlite3.complete_statement(candidate):
            if _has_code(candidate):
                out.append(candidate)
            current = []
    rest = "\n".join(current).strip()
    if rest and _has_code(rest):
        out.append(rest)
    return out


def _has_code(statement: str) -> bool:
    """False for a chunk that is only comments and semicolons."""
    code = "\n".join(line.split("--", 1)[0] for line in statement.splitlines())
    return bool(code.replace(";", "").strip())


for _path in sorted(SCHEMA_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql")):
    _register(_path)

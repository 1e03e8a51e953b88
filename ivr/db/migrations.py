"""Numbered schema migrations, applied at start-up, each in its own transaction.

Each migration is one SQL file in schema/, named NNNN_name.sql and applied in name order.
Never edit a migration that has shipped: add a new file.
"""
from __future__ import annotations

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
    """Split a migration file on ';' at line ends (our files keep one statement per ';'-line)."""
    out, current = [], []
    for line in sql.splitlines():
        if line.strip().startswith("--") and not current:
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            statement = "\n".join(current).strip()
            if statement.rstrip(";").strip():
                out.append(statement)
            current = []
    if "\n".join(current).strip():
        out.append("\n".join(current).strip())
    return out


for _path in sorted(SCHEMA_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql")):
    _register(_path)

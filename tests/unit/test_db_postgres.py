"""The Alembic history on a real PostgreSQL (tests/support/postgres.py): it creates every table of
ivr/db/schema.py with its columns and constraints, SQLite ends up the same table by table, integer ids
autoincrement, and rows go in and out through SQLAlchemy Core with foreign keys and guards enforced.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ivr.db import migrate, schema
from ivr.db.engine import engine_for

WORKTREE = Path(__file__).resolve().parents[2]


def _family(type_: Any) -> str:
    if isinstance(type_, sa.Integer):
        return "integer"
    if isinstance(type_, (sa.Float, sa.Double, sa.REAL)):
        return "real"
    if isinstance(type_, sa.String):
        return "text"
    if isinstance(type_, sa.LargeBinary):
        return "blob"
    raise AssertionError(f"unexpected column type {type_!r}")


def _default(value: str | None) -> str | None:
    """A server default as both engines report it: 'zh-CN'::text and (1.0) are 'zh-CN' and 1.0."""
    if value is None or value.startswith("nextval("):
        return None
    value = value.split("::")[0]
    return value[1:-1] if value.startswith("(") and value.endswith(")") else value


def _expected() -> dict[str, dict[str, Any]]:
    """What ivr/db/schema.py says each table must look like, in the shape `_inspected` reports."""
    out = {}
    for table in schema.metadata.tables.values():
        out[table.name] = {
            "columns": [(c.name, _family(c.type), c.nullable,
                         None if c.server_default is None else _default(
                             str(c.server_default.arg) if isinstance(c.server_default.arg, sa.TextClause)
                             else f"'{c.server_default.arg}'"))
                        for c in table.columns],
            "pk": [c.name for c in table.primary_key.columns],
            "fks": sorted((tuple(c.name for c in fk.columns), fk.referred_table.name,
                           tuple(e.column.name for e in fk.elements), fk.name) for fk in table.foreign_key_constraints),
            "uniques": sorted((u.name, tuple(c.name for c in u.columns)) for u in table.constraints
                              if isinstance(u, sa.UniqueConstraint)),
            "indexes": sorted((i.name, tuple(c.name for c in i.columns), bool(i.unique)) for i in table.indexes),
            "checks": sorted(c.name for c in table.constraints if isinstance(c, sa.CheckConstraint)),
        }
    return out


def _inspected(conn: sa.Connection) -> dict[str, dict[str, Any]]:
    inspector = sa.inspect(conn)
    out = {}
    for name in inspector.get_table_names():
        if name == "alembic_version":
            continue
        out[name] = {
            "columns": [(c["name"], _family(c["type"]), c["nullable"], _default(c["default"]))
                        for c in inspector.get_columns(name)],
            "pk": inspector.get_pk_constraint(name)["constrained_columns"],
            "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]), f["name"])
                          for f in inspector.get_foreign_keys(name)),
            "uniques": sorted((u["name"], tuple(u["column_names"])) for u in inspector.get_unique_constraints(name)),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in inspector.get_indexes(name) if "duplicates_constraint" not in i),
            "checks": sorted(c["name"] for c in inspector.get_check_constraints(name)),
        }
    return out


def _upgraded(url: str) -> sa.Engine:
    assert migrate.upgrade(url) == migrate.head()
    return engine_for(url)


def test_alembic_on_postgresql_creates_the_schema_and_sqlite_agrees(postgres_url, tmp_path):
    expected = _expected()
    pg, lite = _upgraded(postgres_url), _upgraded(f"sqlite:///{tmp_path / 'h.db'}")
    try:
        with pg.connect() as pg_conn, lite.connect() as lite_conn:
            on_pg, on_sqlite = _inspected(pg_conn), _inspected(lite_conn)
            assert set(on_pg) == set(expected) == set(on_sqlite)
            for table in expected:
                assert on_pg[table] == expected[table], f"PostgreSQL: {table}"
                assert on_sqlite[table] == expected[table], f"SQLite: {table}"
            for conn in (pg_conn, lite_conn):     # Alembic itself sees nothing to migrate on either engine
                context = MigrationContext.configure(conn, opts={"compare_type": True})
                assert compare_metadata(context, schema.metadata) == []
            serials = {(t, c["name"]) for t in expected for c in sa.inspect(pg_conn).get_columns(t)
                       if str(c.get("default") or "").startswith("nextval(")}
            integer_ids = {(t.name, "id") for t in schema.metadata.tables.values()
                           if [c.name for c in t.primary_key.columns] == ["id"] and _family(t.c.id.type) == "integer"}
            assert serials == integer_ids and len(integer_ids) == 24
            triggers = {r[0]: r[1] for r in pg_conn.execute(sa.text(
                "SELECT tgname, tgrelid::regclass::text FROM pg_trigger WHERE NOT tgisinternal"))}
            assert triggers == {name: table for name, table, *_ in schema.GUARDS}
    finally:
        pg.dispose()
        lite.dispose()


def test_round_trip_on_postgresql_with_foreign_keys_and_guards(postgres_url):
    engine = _upgraded(postgres_url)
    t = schema.metadata.tables
    now = "2026-12-03T10:00:00.000Z"
    try:
        with engine.begin() as conn:
            borrower = conn.execute(t["borrowers"].insert().values(
                loan_id="L1", name="张三", created_at=now, updated_at=now).returning(t["borrowers"].c.id)).scalar_one()
            second = conn.execute(t["borrowers"].insert().values(
                loan_id="L2", name="李四", created_at=now, updated_at=now).returning(t["borrowers"].c.id)).scalar_one()
            contact = conn.execute(t["contacts"].insert().values(
                borrower_id=borrower, phone="13800000001", created_at=now).returning(t["contacts"].c.id)).scalar_one()
            campaign = conn.execute(t["campaigns"].insert().values(
                name="十二月", created_at=now, updated_at=now).returning(t["campaigns"].c.id)).scalar_one()
            conn.execute(t["campaign_targets"].insert().values(
                campaign_id=campaign, borrower_id=borrower, next_at=now, updated_at=now))
            conn.execute(t["attempts"].insert().values(
                id="5b0c0a9e-0000-4000-8000-000000000001", borrower_id=borrower, contact_id=contact,
                campaign_id=campaign, number="13800000001", locale="zh-CN", state="queued", created_at=now))
        assert (borrower, second) == (1, 2)
        with engine.connect() as conn:
            row = conn.execute(
                sa.select(t["borrowers"].c.name, t["contacts"].c.kind, t["contacts"].c.position,
                          t["campaigns"].c.max_cps, t["campaigns"].c.caller_id_pool, t["campaign_targets"].c.status,
                          t["attempts"].c.flow)
                .select_from(t["attempts"].join(t["borrowers"]).join(t["contacts"])
                             .join(t["campaigns"], t["campaigns"].c.id == t["attempts"].c.campaign_id)
                             .join(t["campaign_targets"], t["campaign_targets"].c.campaign_id == t["campaigns"].c.id))
            ).one()
            assert tuple(row) == ("张三", "mobile", 1, 1.0, "{}", "pending", "followup")   # server defaults
        violations = [
            t["contacts"].insert().values(borrower_id=999, phone="1", created_at=now),
            t["attempts"].insert().values(id="x", borrower_id=999, number="1", locale="zh-CN", state="queued",
                                          created_at=now),
            t["contacts"].insert().values(borrower_id=borrower, phone="13800000001", created_at=now),   # unique
            t["users"].insert().values(username="u", password_hash="h", role="boss", created_at=now,
                                       updated_at=now),                                              # check
        ]
        for statement in violations:
            with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
                conn.execute(statement)
        with engine.begin() as conn:
            conn.execute(t["audit_log"].insert().values(at=now, action="login"))
        for statement in (t["audit_log"].update().values(action="nothing"), t["audit_log"].delete()):
            with pytest.raises(sa.exc.IntegrityError, match="audit_log is append-only"), engine.begin() as conn:
                conn.execute(statement)
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(t["contacts"])).scalar_one() == 1
    finally:
        engine.dispose()


def test_processes_starting_together_migrate_postgresql_once(postgres_url):
    code = "import sys; from ivr.db.migrate import upgrade; print(upgrade(sys.argv[1]))"
    procs = [subprocess.Popen([sys.executable, "-c", code, postgres_url], cwd=WORKTREE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    engine = engine_for(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == [migrate.head()]
    finally:
        engine.dispose()


def test_an_unreachable_postgresql_is_a_clear_error(postgres_cluster):
    url = postgres_cluster.url("no_such_database")
    with pytest.raises(migrate.MigrationError, match="cannot migrate the database at .*no_such_database"):
        migrate.upgrade(url)

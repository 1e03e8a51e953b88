"""Alembic revisions of the Huifang schema, oldest first (r0001_baseline is the legacy end state)."""

"""Alembic's script directory for the Huifang schema (env.py, revisions in versions/); run by ivr.db.migrate."""

"""Baseline: the schema the legacy SQL files ivr/db/schema/0001..0012 leave behind, on both engines.

Revision ID: 0001
Revises:
Create Date: 2026-12-03

An SQLite file made by those files is stamped at this revision instead of running it (ivr.db.migrate).
Differences from that legacy DDL, on purpose: primary key columns are NOT NULL; constraints are named
(see ivr.db.schema.NAMING_CONVENTION); REAL is DOUBLE PRECISION on PostgreSQL. The four guard triggers
(append-only audit log, locked QA reviews) are written per engine below; both raise an integrity error.
Tables and columns are written out here, as Alembic recommends: this revision must not change when
ivr/db/schema.py moves on.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# REAL on SQLite as the legacy files declared it; PostgreSQL's REAL is 4 bytes, so DOUBLE PRECISION there
REAL: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")

TABLES = (   # in creation order
    "borrowers", "contacts", "attempts", "events", "answers", "dialogs", "recordings", "import_batches",
    "batch_borrowers", "payments", "campaigns", "campaign_targets", "commands", "dial_refusals", "dnc",
    "outbox", "deliveries", "promises", "callbacks", "escalations", "users", "login_attempts", "audit_log",
    "qa_reviews", "api_tokens", "webhooks", "webhook_deliveries", "web_settings", "recording_purges",
    "report_days", "agent_endpoints", "announcement_clusters", "early_media", "web_sessions",
    "controller_heartbeats",
)

SQLITE_GUARDS = (
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER qa_reviews_locked BEFORE UPDATE ON qa_reviews WHEN OLD.finished_at IS NOT NULL "
    "BEGIN SELECT RAISE(ABORT, 'qa review is finished and locked'); END",
    "CREATE TRIGGER qa_reviews_no_delete BEFORE DELETE ON qa_reviews WHEN OLD.finished_at IS NOT NULL "
    "BEGIN SELECT RAISE(ABORT, 'qa review is finished and locked'); END",
)
# SQLSTATE 23000 (integrity_constraint_violation), as SQLite's RAISE(ABORT) is a constraint error
PG_GUARDS = (
    "CREATE FUNCTION huifang_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = '23000'; END $$",
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log FOR EACH ROW "
    "EXECUTE FUNCTION huifang_refuse('audit_log is append-only')",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log FOR EACH ROW "
    "EXECUTE FUNCTION huifang_refuse('audit_log is append-only')",
    "CREATE TRIGGER qa_reviews_locked BEFORE UPDATE ON qa_reviews FOR EACH ROW WHEN (OLD.finished_at IS NOT NULL) "
    "EXECUTE FUNCTION huifang_refuse('qa review is finished and locked')",
    "CREATE TRIGGER qa_reviews_no_delete BEFORE DELETE ON qa_reviews FOR EACH ROW WHEN (OLD.finished_at IS NOT NULL) "
    "EXECUTE FUNCTION huifang_refuse('qa review is finished and locked')",
)


def upgrade() -> None:
    op.create_table(
        "borrowers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("id_last4", sa.Text(), nullable=True),
        sa.Column("amount_due", sa.Integer(), nullable=True),
        sa.Column("due_date", sa.Text(), nullable=True),
        sa.Column("locale", sa.Text(), server_default="zh-CN", nullable=False),
        sa.Column("timezone", sa.Text(), server_default="Asia/Shanghai", nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_borrowers")),
        sa.UniqueConstraint("loan_id", name=op.f("uq_borrowers_loan_id")),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("borrower_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), server_default="mobile", nullable=False),
        sa.Column("relation", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default="ok", nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("position", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("status_at", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.ForeignKeyConstraint(["borrower_id"], ["borrowers.id"], name=op.f("fk_contacts_borrower_id_borrowers")),
        sa.UniqueConstraint("borrower_id", "phone", name=op.f("uq_contacts_borrower_id_phone")),
        sa.Index("contacts_phone", "phone"),
    )
    op.create_table(
        "attempts",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("borrower_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("locale", sa.Text(), nullable=False),
        sa.Column("flow", sa.Text(), server_default="followup", nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("disposition", sa.Text(), nullable=True),
        sa.Column("cause", sa.Integer(), nullable=True),
        sa.Column("cause_txt", sa.Text(), nullable=True),
        sa.Column("dial_status", sa.Text(), nullable=True),
        sa.Column("sip_code", sa.Integer(), nullable=True),
        sa.Column("originate_reason", sa.Integer(), nullable=True),
        sa.Column("recording_path", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("originated_at", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.Text(), nullable=True),
        sa.Column("ended_at", sa.Text(), nullable=True),
        sa.Column("announcement", sa.Text(), nullable=True),
        sa.Column("caller_id", sa.Text(), nullable=True),
        sa.Column("trunk", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attempts")),
        sa.ForeignKeyConstraint(["borrower_id"], ["borrowers.id"], name=op.f("fk_attempts_borrower_id_borrowers")),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_attempts_contact_id_contacts")),
        sa.Index("attempts_state", "state"),
        sa.Index("attempts_campaign_disposition", "campaign_id", "disposition"),
        sa.Index("attempts_number", "number", "created_at"),
        sa.Index("attempts_contact", "contact_id"),
        sa.Index("attempts_created", "created_at"),
        sa.Index("attempts_borrower", "borrower_id", "created_at"),
        sa.Index("attempts_ended", "ended_at", "id"),
        sa.Index("attempts_campaign", "campaign_id", "borrower_id"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Text(), nullable=False),
        sa.Column("at", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), server_default="{}", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.ForeignKeyConstraint(["attempt_id"], ["attempts.id"], name=op.f("fk_events_attempt_id_attempts")),
        sa.Index("events_attempt", "attempt_id", "id"),
    )
    op.create_table(
        "answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("step", sa.Text(), nullable=False),
        sa.Column("node", sa.Text(), nullable=False),
        sa.Column("try", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("prompt_text", sa.Text(), nullable=True),
        sa.Column("via", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("confidence", REAL, nullable=True),
        sa.Column("intent", sa.Text(), nullable=False),
        sa.Column("slots", sa.Text(), server_default="{}", nullable=False),
        sa.Column("digits", sa.Text(), nullable=True),
        sa.Column("barge_in", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("prompt_started_at", sa.Text(), nullable=True),
        sa.Column("prompt_ended_at", sa.Text(), nullable=True),
        sa.Column("speech_started_at", sa.Text(), nullable=True),
        sa.Column("speech_ended_at", sa.Text(), nullable=True),
        sa.Column("result_at", sa.Text(), nullable=True),
        sa.Column("reply_audio_at", sa.Text(), nullable=True),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("confirmed_by", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answers")),
        sa.ForeignKeyConstraint(["attempt_id"], ["attempts.id"], name=op.f("fk_answers_attempt_id_attempts")),
        sa.UniqueConstraint("attempt_id", "seq", name=op.f("uq_answers_attempt_id_seq")),
    )
    op.create_table(
        "dialogs",
        sa.Column("attempt_id", sa.Text(), nullable=False),
        sa.Column("started_at", sa.Text(), nullable=False),
        sa.Column("ended_at", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("last_node", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("played", sa.Text(), server_default="[]", nullable=False),
        sa.Column("announcement", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("attempt_id", name=op.f("pk_dialogs")),
        sa.ForeignKeyConstraint(["attempt_id"], ["attempts.id"], name=op.f("fk_dialogs_attempt_id_attempts")),
    )
    op.create_table(
        "recordings",
        sa.Column("attempt_id", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("attempt_id", name=op.f("pk_recordings")),
        sa.ForeignKeyConstraint(["attempt_id"], ["attempts.id"], name=op.f("fk_recordings_attempt_id_attempts")),
    )
    op.create_table(
        "import_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("rows_total", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("updated", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("unchanged", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("rejected", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("errors", sa.Text(), server_default="[]", nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_batches")),
    )
    op.create_table(
        "batch_borrowers",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("borrower_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("change", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "borrower_id", name=op.f("pk_batch_borrowers")),
        sa.ForeignKeyConstraint(["batch_id"], ["import_batches.id"], name=op.f("fk_batch_borrowers_batch_id_import_batches")),
        sa.ForeignKeyConstraint(["borrower_id"], ["borrowers.id"], name=op.f("fk_batch_borrowers_borrower_id_borrowers")),
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("borrower_id", sa.Integer(), nullable=False),
        sa.Column("paid_amount", sa.Integer(), nullable=False),
        sa.Column("paid_at", sa.Text(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.ForeignKeyConstraint(["borrower_id"], ["borrowers.id"], name=op.f("fk_payments_borrower_id_borrowers")),
        sa.ForeignKeyConstraint(["batch_id"], ["import_batches.id"], name=op.f("fk_payments_batch_id_import_batches")),
        sa.UniqueConstraint("borrower_id", "paid_at", "paid_amount", name=op.f("uq_payments_borrower_id_paid_at_paid_amount")),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), server_default="draft", nullable=False),
        sa.Column("flow", sa.Text(), server_default="followup", nullable=False),
        sa.Column("locale_default", sa.Text(), server_default="zh-CN", nullable=False),
        sa.Column("selection", sa.Text(), server_default="{}", nullable=False),
        sa.Column("schedule_start", sa.Text(), nullable=True),
        sa.Column("schedule_end", sa.Text(), nullable=True),
        sa.Column("max_concurrent", sa.Integer(), server_default=sa.text("4"), nullable=False),
        sa.Column("max_cps", REAL, server_default=sa.text("1.0"), nullable=False),
        sa.Column("max_attempts", sa.Integer(), server_default=sa.text("6"), nullable=False),
        sa.Column("retry_policy", sa.Text(), server_default="{}", nullable=False),
        sa.Column("policy", sa.Text(), server_default="{}", nullable=False),
        sa.Column("fallback", sa.Text(), server_default="{}", nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.Column("started_at", sa.Text(), nullable=True),
        sa.Column("ended_at", sa.Text(), nullable=True),
        sa.Column("caller_id", sa.Text(), server_default="", nullable=False),
        sa.Column("caller_id_pool", sa.Text(), server_default="{}", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_table(
        "campaign_targets",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("borrower_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("next_at", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("retry", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("fails_in_row", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_attempt_id", sa.Text(), nullable=True),
        sa.Column("last_disposition", sa.Text(), nullable=True),
        sa.Column("done_reason", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "borrower_id", name=op.f("pk_campaign_targets")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], name=op.f("fk_campaign_targets_campaign_id_campaigns")),
        sa.ForeignKeyConstraint(["borrower_id"], ["borrowers.id"], name=op.f("fk_campaign_targets_borrower_id_borrowers")),
        sa.Index("campaign_targets_due", "campaign_id", "status", "retry", "next_at", "borrower_id"),
        sa.Index("campaign_targets_done", "campaign_id", "status", "done_reason"),
        sa.Index("campaign_targets_borrower", "borrower_id", "status"),
    )
    op.create_table(
        "commands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("processed_at", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commands")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], name=op.f("fk_commands_campaign_id_campaigns")),
        sa.Index("commands_pending", "processed_at", "id"),
    )
    op.create_table(
        "dial_refusals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.Text(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("borrower_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("number", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("until", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dial_refusals")),
        sa.Index("dial_refusals_borrower", "borrower_id", "reason", "at"),
        sa.Index("dial_refusals_at", "at"),
        sa.Index("dial_refusals_campaign", "campaign_id", "reason"),
    )
    op.create_table(
        "dnc",
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("added_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_dnc")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("borrower_id", sa.Integer(), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("to_address", sa.Text(), nullable=False),
        sa.Column("locale", sa.Text(), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("params", sa.Text(), server_default="{}", nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="queued", nullable=False),
        sa.Column("tries", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_try_at", sa.Text(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("provider_id", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.ForeignKeyConstraint(["borrower_id"], ["borrowers.id"], name=op.f("fk_outbox_borrower_id_borrowers")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_idempotency_key")),
        sa.Index("outbox_borrower", "borrower_id"),
        sa.Index("outbox_due", "status", "next_try_at"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.Text(), nullable=False),
        sa.Column("notifier", sa.Text(), nullable=False),
        sa.Column("ok", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("provider_id", sa.Text(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], name=op.f("fk_deliveries_outbox_id_outbox")),
    )
    op.create_table(
        "promises",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Text(), nullable=False),
        sa.Column("borrower_id", sa.Integer(), nullable=True),
        sa.Column("promise_date", sa.Text(), nullable=True),
        sa.Column("amount", sa.Integer(), nullable=True),
        sa.Column("confirmed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("source", sa.Text(), server_default="ivr", nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promises")),
        sa.ForeignKeyConstraint(["attempt_id"], ["attempts.id"], name=op.f("fk_promises_attempt_id_attempts")),
        sa.ForeignKeyConstraint(["borrower_id"], ["borrowers.id"], name=op.f("fk_promises_borrower_id_borrowers")),
        sa.Index("promises_borrower", "borrower_id", "promise_date"),
        sa.Index("promises_attempt", "attempt_id"),
        sa.Index("promises_created", "created_at"),
    )
    op.create_table(
        "callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Text(), nullable=False),
        sa.Column("borrower_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_date", sa.Text(), nullable=True),
        sa.Column("requested_time", sa.Text(), nullable=True),
        sa.Column("due_at", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("done_at", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callbacks")),
        sa.ForeignKeyConstraint(["attempt_id"], ["attempts.id"], name=op.f("fk_callbacks_attempt_id_attempts")),
        sa.ForeignKeyConstraint(["borrower_id"], ["borrowers.id"], name=op.f("fk_callbacks_borrower_id_borrowers")),
        sa.Index("callbacks_due", "done_at", "due_at"),
        sa.Index("callbacks_borrower", "borrower_id"),
    )
    op.create_table(
        "escalations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Text(), nullable=False),
        sa.Column("borrower_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("context", sa.Text(), server_default="{}", nullable=False),
        sa.Column("queued_at", sa.Text(), nullable=False),
        sa.Column("agent", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.Text(), nullable=True),
        sa.Column("agent_channel", sa.Text(), nullable=True),
        sa.Column("assigned_at", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalations")),
        sa.ForeignKeyConstraint(["attempt_id"], ["attempts.id"], name=op.f("fk_escalations_attempt_id_attempts")),
        sa.ForeignKeyConstraint(["borrower_id"], ["borrowers.id"], name=op.f("fk_escalations_borrower_id_borrowers")),
        sa.UniqueConstraint("attempt_id", name=op.f("uq_escalations_attempt_id")),
        sa.Index("escalations_open", "closed_at", "agent"),
        sa.Index("escalations_queued", "queued_at"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("locale", sa.Text(), server_default="zh-CN", nullable=False),
        sa.Column("can_unmask", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("agent_ext", sa.Text(), nullable=True),
        sa.Column("active", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.Column("last_login_at", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.CheckConstraint("role IN ('admin', 'supervisor', 'agent', 'qa', 'auditor')", name=op.f("ck_users_role")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.Text(), nullable=False),
        sa.Column("ip", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("ok", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
        sa.Index("login_attempts_ip", "ip", "at"),
        sa.Index("login_attempts_fail_ip", "ip", "ok", "at"),
        sa.Index("login_attempts_user", "username", "at"),
        sa.Index("login_attempts_fail_user", "username", "ok", "at"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=True),
        sa.Column("role", sa.Text(), nullable=True),
        sa.Column("ip", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("object_type", sa.Text(), nullable=True),
        sa.Column("object_id", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), server_default="{}", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sa.Index("audit_log_at", "at"),
        sa.Index("audit_log_object", "object_type", "object_id"),
    )
    op.create_table(
        "qa_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Text(), nullable=False),
        sa.Column("sampled_reason", sa.Text(), nullable=False),
        sa.Column("sampled_at", sa.Text(), nullable=False),
        sa.Column("sampled_by", sa.Text(), nullable=True),
        sa.Column("reviewer", sa.Text(), nullable=True),
        sa.Column("checklist", sa.Text(), server_default="{}", nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("tags", sa.Text(), server_default="[]", nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("started_at", sa.Text(), nullable=True),
        sa.Column("finished_at", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_reviews")),
        sa.ForeignKeyConstraint(["attempt_id"], ["attempts.id"], name=op.f("fk_qa_reviews_attempt_id_attempts")),
        sa.UniqueConstraint("attempt_id", name=op.f("uq_qa_reviews_attempt_id")),
        sa.Index("qa_reviews_open", "finished_at", "sampled_at"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("scopes", sa.Text(), server_default="push,pull", nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("last_used_at", sa.Text(), nullable=True),
        sa.Column("revoked_at", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("active", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("cursor", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="queued", nullable=False),
        sa.Column("tries", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_try_at", sa.Text(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.ForeignKeyConstraint(["webhook_id"], ["webhooks.id"], name=op.f("fk_webhook_deliveries_webhook_id_webhooks")),
        sa.UniqueConstraint("webhook_id", "attempt_id", name=op.f("uq_webhook_deliveries_webhook_id_attempt_id")),
        sa.Index("webhook_deliveries_due", "status", "next_try_at"),
    )
    op.create_table(
        "web_settings",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_web_settings")),
    )
    op.create_table(
        "recording_purges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.Text(), nullable=True),
        sa.Column("purged_at", sa.Text(), nullable=False),
        sa.Column("purged_by", sa.Text(), nullable=True),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_purges")),
        sa.Index("recording_purges_attempt", "attempt_id"),
    )
    op.create_table(
        "report_days",
        sa.Column("day", sa.Text(), nullable=False),
        sa.Column("zone", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("computed_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("day", "zone", name=op.f("pk_report_days")),
    )
    op.create_table(
        "agent_endpoints",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("realm", sa.Text(), nullable=False),
        sa.Column("md5_cred", sa.Text(), nullable=False),
        sa.Column("active", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("credentials_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_agent_endpoints")),
    )
    op.create_table(
        "announcement_clusters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(), nullable=False),
        sa.Column("seconds", REAL, nullable=False),
        sa.Column("locale", sa.Text(), nullable=True),
        sa.Column("sample_attempt", sa.Text(), nullable=True),
        sa.Column("members", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("first_seen", sa.Text(), nullable=False),
        sa.Column("last_seen", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("labelled_by", sa.Text(), nullable=True),
        sa.Column("labelled_at", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), server_default="calls", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_announcement_clusters")),
        sa.Index("announcement_clusters_label", "label"),
    )
    op.create_table(
        "early_media",
        sa.Column("attempt_id", sa.Text(), nullable=False),
        sa.Column("seconds", REAL, nullable=False),
        sa.Column("recognized", sa.Text(), nullable=True),
        sa.Column("cluster_id", sa.Integer(), nullable=True),
        sa.Column("coverage", REAL, nullable=True),
        sa.Column("seen_at", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("attempt_id", name=op.f("pk_early_media")),
        sa.ForeignKeyConstraint(["attempt_id"], ["attempts.id"], name=op.f("fk_early_media_attempt_id_attempts")),
        sa.ForeignKeyConstraint(["cluster_id"], ["announcement_clusters.id"], name=op.f("fk_early_media_cluster_id_announcement_clusters")),
        sa.Index("early_media_cluster", "cluster_id"),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Text(), nullable=False),
        sa.Column("last_seen_at", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Text(), nullable=False),
        sa.Column("revoked_at", sa.Text(), nullable=True),
        sa.Column("revoked_reason", sa.Text(), nullable=True),
        sa.Column("ip", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_web_sessions_user_id_users")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_sessions_token_hash")),
        sa.Index("web_sessions_user", "user_id", "revoked_at"),
    )
    op.create_table(
        "controller_heartbeats",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("host", sa.Text(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.Text(), nullable=False),
        sa.Column("beat_at", sa.Text(), nullable=False),
        sa.Column("ami_connected", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("stopped_at", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_controller_heartbeats")),
    )

    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in PG_GUARDS if postgresql else SQLITE_GUARDS:
        op.execute(statement)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)    # its triggers go with it
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION huifang_refuse()")

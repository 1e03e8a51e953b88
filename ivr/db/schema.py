"""The whole Huifang schema as one SQLAlchemy `MetaData`, for SQLite and PostgreSQL alike.

Why it looks like this: the database is the bus between the controller, the dialog server and the web
app, and from issue 12 on it may be SQLite (one box) or PostgreSQL (several telephony nodes). One
description of the tables serves both engines: Alembic compares it with a live database when a new
revision is written, and the data-access layer builds its statements from it. This module describes the
*current* schema; how a database gets there is `ivr/db/alembic/` (revisions never import this module).

It is the end state of the legacy numbered SQL files (`ivr/db/schema/0001..0012`), column for column,
in the same column order (columns added later by ALTER TABLE come last, as they do in an old file):
- timestamps stay ISO-8601 TEXT, booleans stay INTEGER 0/1, JSON stays TEXT: the code reads them so;
- integer primary keys autoincrement: a rowid alias on SQLite (no AUTOINCREMENT, as before), SERIAL on
  PostgreSQL; attempts.id is the TEXT uuid that is also the AMI ChannelId;
- REAL is `DOUBLE PRECISION` on PostgreSQL (its own REAL is 4 bytes) and stays REAL on SQLite;
- primary key columns are NOT NULL (SQLite let a TEXT primary key be NULL as a historical quirk);
- constraints carry names from `NAMING_CONVENTION`, so later revisions can drop them on both engines;
- the append-only audit log and the locked QA review were SQLite triggers; `GUARDS` has them for
  both engines, and both raise an integrity error (SQLite RAISE(ABORT), PostgreSQL SQLSTATE 23000);
- every default is a constant (the legacy files have no `datetime('now')`: the code writes each time).
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

NAMING_CONVENTION = {
    "pk": "pk_%(table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

Real: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")


def _id() -> sa.Column[Any]:
    return sa.Column("id", sa.Integer, primary_key=True)


def _text(name: str, default: str | None = None, *, null: bool = False) -> sa.Column[Any]:
    """A TEXT column, NOT NULL unless `null`, with a constant default if given."""
    return sa.Column(name, sa.Text, nullable=null, server_default=default)


def _int(name: str, default: int | None = None, *, null: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.Integer, nullable=null,
                     server_default=None if default is None else sa.text(str(default)))


def _opt(name: str, type_: sa.types.TypeEngine[Any] | None = None) -> sa.Column[Any]:
    """A nullable column without a default (TEXT unless `type_`)."""
    return sa.Column(name, type_ if type_ is not None else sa.Text())


def _fk(name: str, target: str, *, null: bool = True, type_: type[sa.types.TypeEngine[Any]] = sa.Integer,
        primary_key: bool = False) -> sa.Column[Any]:
    return sa.Column(name, type_, sa.ForeignKey(target), nullable=null and not primary_key,
                     primary_key=primary_key)


# ---- 0001 calls ----------------------------------------------------------------------------------
borrowers = sa.Table(
    "borrowers", metadata, _id(),
    _text("loan_id"), _text("name"), _opt("id_last4"), _opt("amount_due", sa.Integer()), _opt("due_date"),
    _text("locale", "zh-CN"), _text("timezone", "Asia/Shanghai"), _text("created_at"), _text("updated_at"),
    sa.UniqueConstraint("loan_id"),
)
contacts = sa.Table(
    "contacts", metadata, _id(),
    _fk("borrower_id", "borrowers.id", null=False), _text("phone"), _text("kind", "mobile"), _opt("relation"),
    _text("status", "ok"), _opt("status_reason"), _text("created_at"),
    _opt("name"), _int("position", 1), _opt("status_at"),                        # 0002
    sa.UniqueConstraint("borrower_id", "phone"),
    sa.Index("contacts_phone", "phone"),
)
attempts = sa.Table(
    "attempts", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    _fk("borrower_id", "borrowers.id"), _fk("contact_id", "contacts.id"), _opt("campaign_id", sa.Integer()),
    _text("number"), _text("locale"), _text("flow", "followup"), _text("state"), _opt("outcome"),
    _opt("disposition"), _opt("cause", sa.Integer()), _opt("cause_txt"), _opt("dial_status"),
    _opt("sip_code", sa.Integer()), _opt("originate_reason", sa.Integer()), _opt("recording_path"),
    _text("created_at"), _opt("originated_at"), _opt("answered_at"), _opt("ended_at"),
    _opt("announcement"),                                                        # 0005
    _opt("caller_id"), _opt("trunk"),                                            # 0007
    _opt("node"),                                                                # r0002
    sa.Index("attempts_borrower", "borrower_id", "created_at"),
    sa.Index("attempts_state", "state"),
    sa.Index("attempts_number", "number", "created_at"),
    sa.Index("attempts_campaign", "campaign_id", "borrower_id"),
    sa.Index("attempts_contact", "contact_id"),
    sa.Index("attempts_created", "created_at"),
    sa.Index("attempts_ended", "ended_at", "id"),
    sa.Index("attempts_campaign_disposition", "campaign_id", "disposition"),
    sa.Index("attempts_node_state", "node", "state"),                            # r0002
)
events = sa.Table(
    "events", metadata, _id(),
    _fk("attempt_id", "attempts.id", null=False, type_=sa.Text), _text("at"), _text("source"), _text("name"),
    _text("data", "{}"),
    sa.Index("events_attempt", "attempt_id", "id"),
)
answers = sa.Table(
    "answers", metadata, _id(),
    _fk("attempt_id", "attempts.id", null=False, type_=sa.Text), _int("seq"), _text("step"), _text("node"),
    _int("try", 1), _opt("prompt_text"), _text("via"), _opt("text"), _opt("confidence", Real), _text("intent"),
    _text("slots", "{}"), _opt("digits"), _int("barge_in", 0), _opt("prompt_started_at"),
    _opt("prompt_ended_at"), _opt("speech_started_at"), _opt("speech_ended_at"), _opt("result_at"),
    _opt("reply_audio_at"),                                                      # 0005
    _opt("decision"), _opt("evidence"), _opt("confirmed_by"),                    # 0006
    sa.UniqueConstraint("attempt_id", "seq"),
)
dialogs = sa.Table(
    "dialogs", metadata,
    _fk("attempt_id", "attempts.id", type_=sa.Text, primary_key=True),
    _text("started_at"), _opt("ended_at"), _opt("result"), _opt("last_node"), _opt("error"),
    _text("played", "[]"),                                                       # 0003
    _opt("announcement"),                                                        # 0009
)
recordings = sa.Table(
    "recordings", metadata,
    _fk("attempt_id", "attempts.id", type_=sa.Text, primary_key=True),
    _text("path"), _opt("bytes", sa.Integer()), _text("created_at"),
)

# ---- 0002 dialer ---------------------------------------------------------------------------------
import_batches = sa.Table(
    "import_batches", metadata, _id(),
    _text("kind"), _text("source"), _text("sha256"), _int("rows_total", 0), _int("created", 0),
    _int("updated", 0), _int("unchanged", 0), _int("rejected", 0), _text("errors", "[]"), _text("created_at"),
)
batch_borrowers = sa.Table(
    "batch_borrowers", metadata,
    _fk("batch_id", "import_batches.id", primary_key=True), _fk("borrower_id", "borrowers.id", primary_key=True),
    _int("line"), _text("change"),
)
payments = sa.Table(
    "payments", metadata, _id(),
    _fk("borrower_id", "borrowers.id", null=False), _int("paid_amount"), _text("paid_at"),
    _fk("batch_id", "import_batches.id"), _text("created_at"),
    sa.UniqueConstraint("borrower_id", "paid_at", "paid_amount"),
)
campaigns = sa.Table(
    "campaigns", metadata, _id(),
    _text("name"), _text("state", "draft"), _text("flow", "followup"), _text("locale_default", "zh-CN"),
    _text("selection", "{}"), _opt("schedule_start"), _opt("schedule_end"), _int("max_concurrent", 4),
    sa.Column("max_cps", Real, nullable=False, server_default=sa.text("1.0")), _int("max_attempts", 6),
    _text("retry_policy", "{}"), _text("policy", "{}"), _text("fallback", "{}"), _opt("created_by"),
    _text("created_at"), _text("updated_at"), _opt("started_at"), _opt("ended_at"),
    _text("caller_id", ""), _text("caller_id_pool", "{}"),                       # 0007
)
campaign_targets = sa.Table(
    "campaign_targets", metadata,
    _fk("campaign_id", "campaigns.id", primary_key=True), _fk("borrower_id", "borrowers.id", primary_key=True),
    _text("status", "pending"), _text("next_at"), _int("attempts", 0), _int("retry", 0), _int("fails_in_row", 0),
    _opt("last_attempt_id"), _opt("last_disposition"), _opt("done_reason"), _text("updated_at"),
    sa.Index("campaign_targets_due", "campaign_id", "status", "retry", "next_at", "borrower_id"),
    sa.Index("campaign_targets_borrower", "borrower_id", "status"),
    sa.Index("campaign_targets_done", "campaign_id", "status", "done_reason"),
)
commands = sa.Table(
    "commands", metadata, _id(),
    _fk("campaign_id", "campaigns.id", null=False), _text("command"), _opt("requested_by"), _text("created_at"),
    _opt("processed_at"), _opt("result"),
    sa.Index("commands_pending", "processed_at", "id"),
)
dial_refusals = sa.Table(
    "dial_refusals", metadata, _id(),
    _text("at"), _opt("campaign_id", sa.Integer()), _opt("borrower_id", sa.Integer()),
    _opt("contact_id", sa.Integer()), _opt("number"), _text("reason"), _opt("detail"), _opt("until"),
    sa.Index("dial_refusals_borrower", "borrower_id", "reason", "at"),
    sa.Index("dial_refusals_campaign", "campaign_id", "reason"),
    sa.Index("dial_refusals_at", "at"),
)
dnc = sa.Table(
    "dnc", metadata,
    sa.Column("number", sa.Text, primary_key=True), _opt("reason"), _opt("added_by"), _text("created_at"),
)
outbox = sa.Table(
    "outbox", metadata, _id(),
    _text("idempotency_key"), _text("channel"), _fk("borrower_id", "borrowers.id"),
    _opt("campaign_id", sa.Integer()), _text("to_address"), _text("locale"), _text("template"),
    _text("params", "{}"), _text("body"), _text("status", "queued"), _int("tries", 0), _text("next_try_at"),
    _opt("last_error"), _opt("provider_id"), _text("created_at"), _opt("sent_at"),
    sa.UniqueConstraint("idempotency_key"),
    sa.Index("outbox_due", "status", "next_try_at"),
    sa.Index("outbox_borrower", "borrower_id"),
)
deliveries = sa.Table(
    "deliveries", metadata, _id(),
    _fk("outbox_id", "outbox.id", null=False), _text("at"), _text("notifier"), _int("ok"),
    _opt("status_code", sa.Integer()), _opt("provider_id"), _opt("response"), _opt("error"),
)

# ---- 0003 conversation ---------------------------------------------------------------------------
promises = sa.Table(
    "promises", metadata, _id(),
    _fk("attempt_id", "attempts.id", null=False, type_=sa.Text), _fk("borrower_id", "borrowers.id"),
    _opt("promise_date"), _opt("amount", sa.Integer()), _int("confirmed", 0), _text("source", "ivr"),
    _text("created_at"),
    sa.Index("promises_borrower", "borrower_id", "promise_date"),
    sa.Index("promises_attempt", "attempt_id"),
    sa.Index("promises_created", "created_at"),
)
callbacks = sa.Table(
    "callbacks", metadata, _id(),
    _fk("attempt_id", "attempts.id", null=False, type_=sa.Text), _fk("borrower_id", "borrowers.id"),
    _text("reason"), _opt("requested_date"), _opt("requested_time"), _opt("due_at"), _text("created_at"),
    _opt("done_at"),
    sa.Index("callbacks_due", "done_at", "due_at"),
    sa.Index("callbacks_borrower", "borrower_id"),
)
escalations = sa.Table(
    "escalations", metadata, _id(),
    _fk("attempt_id", "attempts.id", null=False, type_=sa.Text), _fk("borrower_id", "borrowers.id"),
    _text("reason"), _text("context", "{}"), _text("queued_at"), _opt("agent"), _opt("answered_at"),
    _opt("outcome"), _opt("note"), _opt("closed_at"),
    _opt("agent_channel"), _opt("assigned_at"),                                  # 0008
    sa.UniqueConstraint("attempt_id"),
    sa.Index("escalations_open", "closed_at", "agent"),
    sa.Index("escalations_queued", "queued_at"),
)

# ---- 0004 web ------------------------------------------------------------------------------------
USER_ROLES = ("admin", "supervisor", "agent", "qa", "auditor")
users = sa.Table(
    "users", metadata, _id(),
    _text("username"), _opt("display_name"), _text("password_hash"), _text("role"), _text("locale", "zh-CN"),
    _int("can_unmask", 0), _opt("agent_ext"), _int("active", 1), _text("created_at"), _text("updated_at"),
    _opt("last_login_at"),
    sa.UniqueConstraint("username"),
    sa.CheckConstraint("role IN ('admin', 'supervisor', 'agent', 'qa', 'auditor')", name="role"),
)
login_attempts = sa.Table(
    "login_attempts", metadata, _id(),
    _text("at"), _text("ip"), _text("username"), _int("ok"),
    sa.Index("login_attempts_ip", "ip", "at"),
    sa.Index("login_attempts_user", "username", "at"),
    sa.Index("login_attempts_fail_user", "username", "ok", "at"),               # 0010
    sa.Index("login_attempts_fail_ip", "ip", "ok", "at"),                       # 0010
)
audit_log = sa.Table(
    "audit_log", metadata, _id(),
    _text("at"), _opt("actor"), _opt("role"), _opt("ip"), _text("action"), _opt("object_type"), _opt("object_id"),
    _text("detail", "{}"),
    sa.Index("audit_log_at", "at"),
    sa.Index("audit_log_object", "object_type", "object_id"),
)
qa_reviews = sa.Table(
    "qa_reviews", metadata, _id(),
    _fk("attempt_id", "attempts.id", null=False, type_=sa.Text), _text("sampled_reason"), _text("sampled_at"),
    _opt("sampled_by"), _opt("reviewer"), _text("checklist", "{}"), _opt("score", sa.Integer()),
    _text("tags", "[]"), _opt("comment"), _opt("started_at"), _opt("finished_at"),
    sa.UniqueConstraint("attempt_id"),
    sa.Index("qa_reviews_open", "finished_at", "sampled_at"),
)
api_tokens = sa.Table(
    "api_tokens", metadata, _id(),
    _text("name"), _text("prefix"), _text("token_hash"), _text("scopes", "push,pull"), _opt("created_by"),
    _text("created_at"), _opt("last_used_at"), _opt("revoked_at"),
    sa.UniqueConstraint("token_hash"),
)
webhooks = sa.Table(
    "webhooks", metadata, _id(),
    _text("url"), _text("secret"), _int("active", 1), _text("cursor", ""), _opt("created_by"), _text("created_at"),
)
webhook_deliveries = sa.Table(
    "webhook_deliveries", metadata, _id(),
    _fk("webhook_id", "webhooks.id", null=False), _text("attempt_id"), _text("payload"), _text("status", "queued"),
    _int("tries", 0), _text("next_try_at"), _opt("status_code", sa.Integer()), _opt("last_error"),
    _text("created_at"), _opt("sent_at"),
    sa.UniqueConstraint("webhook_id", "attempt_id"),
    sa.Index("webhook_deliveries_due", "status", "next_try_at"),
)
web_settings = sa.Table(
    "web_settings", metadata,
    sa.Column("key", sa.Text, primary_key=True), _text("value"), _opt("updated_by"), _text("updated_at"),
)
recording_purges = sa.Table(
    "recording_purges", metadata, _id(),
    _text("attempt_id"), _text("path"), _opt("bytes", sa.Integer()), _opt("recorded_at"), _text("purged_at"),
    _opt("purged_by"), _int("retention_days"),
    sa.Index("recording_purges_attempt", "attempt_id"),
)
report_days = sa.Table(
    "report_days", metadata,
    sa.Column("day", sa.Text, primary_key=True), sa.Column("zone", sa.Text, primary_key=True),
    _text("payload"), _text("computed_at"),
)

# ---- 0008 agent endpoints, 0009 announcement library, 0010 web sessions, 0012 heartbeats -----------
agent_endpoints = sa.Table(
    "agent_endpoints", metadata,
    sa.Column("name", sa.Text, primary_key=True), _text("realm"), _text("md5_cred"), _int("active", 1),
    _opt("created_by"), _text("created_at"), _text("credentials_at"),
)
announcement_clusters = sa.Table(
    "announcement_clusters", metadata, _id(),
    sa.Column("fingerprint", sa.LargeBinary, nullable=False), sa.Column("seconds", Real, nullable=False),
    _opt("locale"), _opt("sample_attempt"), _int("members", 0), _text("first_seen"), _text("last_seen"),
    _opt("label"), _opt("labelled_by"), _opt("labelled_at"), _text("source", "calls"),
    sa.Index("announcement_clusters_label", "label"),
)
early_media = sa.Table(
    "early_media", metadata,
    _fk("attempt_id", "attempts.id", type_=sa.Text, primary_key=True), sa.Column("seconds", Real, nullable=False),
    _opt("recognized"), _fk("cluster_id", "announcement_clusters.id"), _opt("coverage", Real), _text("seen_at"),
    sa.Index("early_media_cluster", "cluster_id"),
)
web_sessions = sa.Table(
    "web_sessions", metadata, _id(),
    _text("token_hash"), _fk("user_id", "users.id", null=False), _text("created_at"), _text("last_seen_at"),
    _text("expires_at"), _opt("revoked_at"), _opt("revoked_reason"), _opt("ip"),
    sa.UniqueConstraint("token_hash"),
    sa.Index("web_sessions_user", "user_id", "revoked_at"),
)
controller_heartbeats = sa.Table(
    "controller_heartbeats", metadata,
    sa.Column("name", sa.Text, primary_key=True), _text("host"), _int("pid"), _text("started_at"),
    _text("beat_at"), _int("ami_connected", 0), _opt("stopped_at"),
)


# ---- r0002 telephony nodes -------------------------------------------------------------------------
nodes = sa.Table(
    "nodes", metadata,
    sa.Column("name", sa.Text, primary_key=True), _text("ami_host"), _int("ami_port"), _int("capacity"),
    _opt("controller"), _text("started_at"), _text("beat_at"), _int("ami_connected", 0), _opt("stopped_at"),
)


# ---- guards that were SQLite triggers ------------------------------------------------------------
# (name, table, event, condition on OLD or None, message)
GUARDS = (
    ("audit_log_no_update", "audit_log", "UPDATE", None, "audit_log is append-only"),
    ("audit_log_no_delete", "audit_log", "DELETE", None, "audit_log is append-only"),
    ("qa_reviews_locked", "qa_reviews", "UPDATE", "OLD.finished_at IS NOT NULL", "qa review is finished and locked"),
    ("qa_reviews_no_delete", "qa_reviews", "DELETE", "OLD.finished_at IS NOT NULL", "qa review is finished and locked"),
)
# one PostgreSQL function raises the message it is given; SQLSTATE 23000 is an integrity error as
# SQLite's RAISE(ABORT) is, so both engines surface sqlalchemy.exc.IntegrityError
PG_REFUSE_FUNCTION = (
    "CREATE FUNCTION huifang_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = '23000'; END $$"
)


def guard_ddl(dialect: str) -> list[str]:
    """CREATE statements for the guards on `dialect` ("sqlite" or "postgresql")."""
    out = [PG_REFUSE_FUNCTION] if dialect == "postgresql" else []
    for name, table, event, condition, message in GUARDS:
        if dialect == "sqlite":
            when = f" WHEN {condition}" if condition else ""
            out.append(f"CREATE TRIGGER {name} BEFORE {event} ON {table}{when} "
                       f"BEGIN SELECT RAISE(ABORT, '{message}'); END")
        else:
            when = f" WHEN ({condition})" if condition else ""
            out.append(f"CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW{when} "
                       f"EXECUTE FUNCTION huifang_refuse('{message}')")
    return out


def _add_guards(target: sa.MetaData, connection: sa.Connection, **_: object) -> None:
    if {"audit_log", "qa_reviews"} <= {t.name for t in target.sorted_tables}:
        for statement in guard_ddl(connection.dialect.name):
            connection.exec_driver_sql(statement)


# metadata.create_all() (tests, tools) makes the guards too; the migrations write their own
sa.event.listen(metadata, "after_create", _add_guards)

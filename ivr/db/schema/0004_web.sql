-- the web app: accounts, login throttling, the append-only audit log, QA reviews, API tokens,
-- result webhooks, recording retention (all written by the web app only)
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT,
    password_hash TEXT NOT NULL,           -- argon2id
    role TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent', 'qa', 'auditor')),
    locale TEXT NOT NULL DEFAULT 'zh-CN',
    can_unmask INTEGER NOT NULL DEFAULT 0, -- auditors: may see unmasked borrower data (every view audited)
    agent_ext TEXT,                        -- the queue member name the dialer writes into escalations.agent
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_login_at TEXT
);
-- every login try, for per-IP and per-user throttling
CREATE TABLE login_attempts (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    ip TEXT NOT NULL,
    username TEXT NOT NULL,
    ok INTEGER NOT NULL
);
CREATE INDEX login_attempts_ip ON login_attempts(ip, at);
CREATE INDEX login_attempts_user ON login_attempts(username, at);
-- who saw or changed what; rows can be added, never changed or removed
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT,                            -- user name, api:<token name>, or system
    role TEXT,
    ip TEXT,
    action TEXT NOT NULL,
    object_type TEXT,
    object_id TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_object ON audit_log(object_type, object_id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
-- quality inspection: one review per sampled call; a finished review is locked
CREATE TABLE qa_reviews (
    id INTEGER PRIMARY KEY,
    attempt_id TEXT NOT NULL UNIQUE REFERENCES attempts(id),
    sampled_reason TEXT NOT NULL,          -- escalation, identity_failed, random
    sampled_at TEXT NOT NULL,
    sampled_by TEXT,
    reviewer TEXT,
    checklist TEXT NOT NULL DEFAULT '{}',  -- JSON {item: pass|fail|na}
    score INTEGER,                         -- 0..100: passed / applicable
    tags TEXT NOT NULL DEFAULT '[]',
    comment TEXT,
    started_at TEXT,
    finished_at TEXT
);
CREATE INDEX qa_reviews_open ON qa_reviews(finished_at, sampled_at);
CREATE TRIGGER qa_reviews_locked BEFORE UPDATE ON qa_reviews WHEN OLD.finished_at IS NOT NULL BEGIN SELECT RAISE(ABORT, 'qa review is finished and locked'); END;
CREATE TRIGGER qa_reviews_no_delete BEFORE DELETE ON qa_reviews WHEN OLD.finished_at IS NOT NULL BEGIN SELECT RAISE(ABORT, 'qa review is finished and locked'); END;
-- tokens for the lender's loan system: only a SHA-256 of the token is kept
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,                  -- first characters, to recognise a token in lists
    token_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL DEFAULT 'push,pull',
    created_by TEXT,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
);
-- where call results are pushed (HMAC-signed JSON POST, see ivr/notify/webhook.py)
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    cursor TEXT NOT NULL DEFAULT '',       -- ended_at|id of the last result queued
    created_by TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY,
    webhook_id INTEGER NOT NULL REFERENCES webhooks(id),
    attempt_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued', -- queued, sent, failed
    tries INTEGER NOT NULL DEFAULT 0,
    next_try_at TEXT NOT NULL,
    status_code INTEGER,
    last_error TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    UNIQUE (webhook_id, attempt_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_try_at);
-- settings changed from the web app (recording retention, ...)
CREATE TABLE web_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_by TEXT,
    updated_at TEXT NOT NULL
);
-- every recording file the retention job removed
CREATE TABLE recording_purges (
    id INTEGER PRIMARY KEY,
    attempt_id TEXT NOT NULL,
    path TEXT NOT NULL,
    bytes INTEGER,
    recorded_at TEXT,
    purged_at TEXT NOT NULL,
    purged_by TEXT,
    retention_days INTEGER NOT NULL
);
CREATE INDEX recording_purges_attempt ON recording_purges(attempt_id);
-- pages that list or report on attempts by time
CREATE INDEX IF NOT EXISTS attempts_created ON attempts(created_at);
CREATE INDEX IF NOT EXISTS attempts_ended ON attempts(ended_at, id);
CREATE INDEX IF NOT EXISTS escalations_open ON escalations(closed_at, agent);
CREATE INDEX IF NOT EXISTS escalations_queued ON escalations(queued_at);
CREATE INDEX IF NOT EXISTS promises_attempt ON promises(attempt_id);
CREATE INDEX IF NOT EXISTS promises_created ON promises(created_at);
-- campaign progress (ivr.dialer.campaigns.status) counts these per campaign: covering indexes
CREATE INDEX IF NOT EXISTS attempts_campaign_disposition ON attempts(campaign_id, disposition);
CREATE INDEX IF NOT EXISTS dial_refusals_campaign ON dial_refusals(campaign_id, reason);
CREATE INDEX IF NOT EXISTS campaign_targets_done ON campaign_targets(campaign_id, status, done_reason);
CREATE INDEX IF NOT EXISTS callbacks_borrower ON callbacks(borrower_id);
CREATE INDEX IF NOT EXISTS dial_refusals_at ON dial_refusals(at);
CREATE INDEX IF NOT EXISTS outbox_borrower ON outbox(borrower_id);
-- report figures of closed days (attempts of a day no longer change two days later): one row per
-- local day of the display time zone, JSON {campaign_id: {attempts, connected, ...}}
CREATE TABLE report_days (
    day TEXT NOT NULL,
    zone TEXT NOT NULL,
    payload TEXT NOT NULL,
    computed_at TEXT NOT NULL,
    PRIMARY KEY (day, zone)
);

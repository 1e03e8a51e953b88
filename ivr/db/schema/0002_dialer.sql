-- the dialer: imports, campaigns and their targets, commands, refusals, do-not-call, payments, fallback messages
CREATE TABLE import_batches (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,            -- borrowers, payments
    source TEXT NOT NULL,          -- file name as given
    sha256 TEXT NOT NULL,
    rows_total INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0,
    errors TEXT NOT NULL DEFAULT '[]',   -- JSON list of {line, loan_id, field, reason}
    created_at TEXT NOT NULL
);
-- every borrower present in an import file (selection "by import batch")
CREATE TABLE batch_borrowers (
    batch_id INTEGER NOT NULL REFERENCES import_batches(id),
    borrower_id INTEGER NOT NULL REFERENCES borrowers(id),
    line INTEGER NOT NULL,
    change TEXT NOT NULL,          -- created, updated, unchanged
    PRIMARY KEY (batch_id, borrower_id)
);
ALTER TABLE contacts ADD COLUMN name TEXT;
ALTER TABLE contacts ADD COLUMN position INTEGER NOT NULL DEFAULT 1;
ALTER TABLE contacts ADD COLUMN status_at TEXT;
CREATE INDEX contacts_phone ON contacts(phone);
CREATE INDEX attempts_number ON attempts(number, created_at);
CREATE INDEX attempts_campaign ON attempts(campaign_id, borrower_id);
CREATE INDEX attempts_contact ON attempts(contact_id);
CREATE TABLE payments (
    id INTEGER PRIMARY KEY,
    borrower_id INTEGER NOT NULL REFERENCES borrowers(id),
    paid_amount INTEGER NOT NULL,
    paid_at TEXT NOT NULL,         -- YYYY-MM-DD or ISO timestamp as imported
    batch_id INTEGER REFERENCES import_batches(id),
    created_at TEXT NOT NULL,
    UNIQUE (borrower_id, paid_at, paid_amount)
);
CREATE TABLE campaigns (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'draft',   -- draft, running, paused, stopped, finished
    flow TEXT NOT NULL DEFAULT 'followup',
    locale_default TEXT NOT NULL DEFAULT 'zh-CN',
    selection TEXT NOT NULL DEFAULT '{}',  -- JSON: {"all": true} | {"batch_id": n} | {"loan_ids": [...]} | {"due_from", "due_to"}
    schedule_start TEXT,                   -- ISO UTC; empty: at once
    schedule_end TEXT,                     -- ISO UTC; empty: until every target is done
    max_concurrent INTEGER NOT NULL DEFAULT 4,
    max_cps REAL NOT NULL DEFAULT 1.0,     -- new calls per second
    max_attempts INTEGER NOT NULL DEFAULT 6,
    retry_policy TEXT NOT NULL DEFAULT '{}',  -- JSON overrides of dispositions.DEFAULT_RULES
    policy TEXT NOT NULL DEFAULT '{}',        -- JSON overrides of policy.Policy
    fallback TEXT NOT NULL DEFAULT '{}',      -- JSON: {"channel": "sms"|"wechat"|"", "template": ...}
    created_by TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    started_at TEXT,
    ended_at TEXT
);
-- one row per borrower of a campaign, materialised when the campaign first starts
CREATE TABLE campaign_targets (
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    borrower_id INTEGER NOT NULL REFERENCES borrowers(id),
    status TEXT NOT NULL DEFAULT 'pending',  -- pending, active, done
    next_at TEXT NOT NULL,                   -- not to be considered before (ISO UTC)
    attempts INTEGER NOT NULL DEFAULT 0,
    retry INTEGER NOT NULL DEFAULT 0,        -- 0 while never attempted (fresh first), then 1
    fails_in_row INTEGER NOT NULL DEFAULT 0, -- consecutive unanswered attempts on own numbers
    last_attempt_id TEXT,
    last_disposition TEXT,
    done_reason TEXT,                        -- completed, exhausted, unreachable, no-retry, stopped
    updated_at TEXT NOT NULL,
    PRIMARY KEY (campaign_id, borrower_id)
);
CREATE INDEX campaign_targets_due ON campaign_targets(campaign_id, status, retry, next_at, borrower_id);
CREATE INDEX campaign_targets_borrower ON campaign_targets(borrower_id, status);
-- written by the web app (and the CLI), processed by the controller
CREATE TABLE commands (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
    command TEXT NOT NULL,         -- start, pause, resume, stop
    requested_by TEXT,
    created_at TEXT NOT NULL,
    processed_at TEXT,
    result TEXT                    -- ok, or the reason it was refused
);
CREATE INDEX commands_pending ON commands(processed_at, id);
-- every time the dialer decided not to dial a due borrower or number, and why
CREATE TABLE dial_refusals (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    campaign_id INTEGER,
    borrower_id INTEGER,
    contact_id INTEGER,
    number TEXT,
    reason TEXT NOT NULL,
    detail TEXT,
    until TEXT                     -- when the reason stops applying, if known
);
CREATE INDEX dial_refusals_borrower ON dial_refusals(borrower_id, reason, at);
CREATE TABLE dnc (
    number TEXT PRIMARY KEY,
    reason TEXT,
    added_by TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,         -- sms, wechat
    borrower_id INTEGER REFERENCES borrowers(id),
    campaign_id INTEGER,
    to_address TEXT NOT NULL,
    locale TEXT NOT NULL,
    template TEXT NOT NULL,
    params TEXT NOT NULL DEFAULT '{}',
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',  -- queued, sent, failed
    tries INTEGER NOT NULL DEFAULT 0,
    next_try_at TEXT NOT NULL,
    last_error TEXT,
    provider_id TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX outbox_due ON outbox(status, next_try_at);
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    outbox_id INTEGER NOT NULL REFERENCES outbox(id),
    at TEXT NOT NULL,
    notifier TEXT NOT NULL,
    ok INTEGER NOT NULL,
    status_code INTEGER,
    provider_id TEXT,
    response TEXT,
    error TEXT
);

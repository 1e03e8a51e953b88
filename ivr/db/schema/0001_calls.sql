-- borrowers, contacts, attempts and what happened in them
CREATE TABLE borrowers (
    id INTEGER PRIMARY KEY,
    loan_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    id_last4 TEXT,
    amount_due INTEGER,            -- minor units are not used: whole yuan / won
    due_date TEXT,                 -- YYYY-MM-DD
    locale TEXT NOT NULL DEFAULT 'zh-CN',
    timezone TEXT NOT NULL DEFAULT 'Asia/Shanghai',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    borrower_id INTEGER NOT NULL REFERENCES borrowers(id),
    phone TEXT NOT NULL,           -- E.164 without '+' for CN mobiles as dialled, e.g. 13800000001
    kind TEXT NOT NULL DEFAULT 'mobile',   -- mobile, home, work, third_party
    relation TEXT,                 -- for third-party contacts
    status TEXT NOT NULL DEFAULT 'ok',     -- ok, invalid, wrong_person, dnc
    status_reason TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (borrower_id, phone)
);
-- one row per dial attempt; id is the AMI ChannelId / Uniqueid / AudioSocket UUID / recording name
CREATE TABLE attempts (
    id TEXT PRIMARY KEY,
    borrower_id INTEGER REFERENCES borrowers(id),
    contact_id INTEGER REFERENCES contacts(id),
    campaign_id INTEGER,
    number TEXT NOT NULL,
    locale TEXT NOT NULL,
    flow TEXT NOT NULL DEFAULT 'followup',
    state TEXT NOT NULL,           -- queued, dialing, ringing, answered, in_dialog, ended
    outcome TEXT,                  -- answered, busy, no-answer, rejected, invalid-number, unreachable, failed
    disposition TEXT,              -- finer-grained, from the conversation
    cause INTEGER,                 -- Q.850 hangup cause
    cause_txt TEXT,
    dial_status TEXT,              -- DIALSTATUS from the dial wrapper
    sip_code INTEGER,
    originate_reason INTEGER,
    recording_path TEXT,
    created_at TEXT NOT NULL,
    originated_at TEXT,
    answered_at TEXT,
    ended_at TEXT
);
CREATE INDEX attempts_borrower ON attempts(borrower_id, created_at);
CREATE INDEX attempts_state ON attempts(state);
-- everything the controller observed about an attempt, in order
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    attempt_id TEXT NOT NULL REFERENCES attempts(id),
    at TEXT NOT NULL,
    source TEXT NOT NULL,          -- ami, controller
    name TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_attempt ON events(attempt_id, id);
-- one row per question asked in the conversation (written by the dialog server)
CREATE TABLE answers (
    id INTEGER PRIMARY KEY,
    attempt_id TEXT NOT NULL REFERENCES attempts(id),
    seq INTEGER NOT NULL,
    step TEXT NOT NULL,            -- identity, digits, plan, confirm, ...
    node TEXT NOT NULL,
    try INTEGER NOT NULL DEFAULT 1,
    prompt_text TEXT,
    via TEXT NOT NULL,             -- voice, keypad, none (no input), hangup
    text TEXT,                     -- transcript
    confidence REAL,
    intent TEXT NOT NULL,
    slots TEXT NOT NULL DEFAULT '{}',
    digits TEXT,
    barge_in INTEGER NOT NULL DEFAULT 0,
    prompt_started_at TEXT,
    prompt_ended_at TEXT,
    speech_started_at TEXT,
    speech_ended_at TEXT,
    result_at TEXT,
    UNIQUE (attempt_id, seq)
);
-- the dialog server's account of the whole conversation (one row per answered call)
CREATE TABLE dialogs (
    attempt_id TEXT PRIMARY KEY REFERENCES attempts(id),
    started_at TEXT NOT NULL,
    ended_at TEXT,
    result TEXT,                   -- completed, transferred, hung_up, wrong_person, ...
    last_node TEXT,
    error TEXT
);
CREATE TABLE recordings (
    attempt_id TEXT PRIMARY KEY REFERENCES attempts(id),
    path TEXT NOT NULL,
    bytes INTEGER,
    created_at TEXT NOT NULL
);

-- what the conversation produced beyond its answers (written by the dialog server)
-- a promise to pay: the dialer checks it against payments (broken-promise risk)
CREATE TABLE promises (
    id INTEGER PRIMARY KEY,
    attempt_id TEXT NOT NULL REFERENCES attempts(id),
    borrower_id INTEGER REFERENCES borrowers(id),
    promise_date TEXT,             -- YYYY-MM-DD
    amount INTEGER,
    confirmed INTEGER NOT NULL DEFAULT 0,   -- read back and confirmed by the borrower
    source TEXT NOT NULL DEFAULT 'ivr',     -- ivr, agent
    created_at TEXT NOT NULL
);
CREATE INDEX promises_borrower ON promises(borrower_id, promise_date);
-- the borrower asked to be called back (or no agent could take the call)
CREATE TABLE callbacks (
    id INTEGER PRIMARY KEY,
    attempt_id TEXT NOT NULL REFERENCES attempts(id),
    borrower_id INTEGER REFERENCES borrowers(id),
    reason TEXT NOT NULL,          -- requested, no_agent
    requested_date TEXT,           -- YYYY-MM-DD as understood
    requested_time TEXT,           -- HH:MM as understood
    due_at TEXT,                   -- ISO local time of the borrower when known
    created_at TEXT NOT NULL,
    done_at TEXT
);
CREATE INDEX callbacks_due ON callbacks(done_at, due_at);
-- a hand-over to a human: what the agent's screen shows when the call is bridged
CREATE TABLE escalations (
    id INTEGER PRIMARY KEY,
    attempt_id TEXT NOT NULL UNIQUE REFERENCES attempts(id),
    borrower_id INTEGER REFERENCES borrowers(id),
    reason TEXT NOT NULL,          -- requested, dispute, hardship, no_match, ...
    context TEXT NOT NULL DEFAULT '{}',     -- JSON: borrower, amounts, what was said
    queued_at TEXT NOT NULL,
    agent TEXT,                    -- set when an agent answers
    answered_at TEXT,
    outcome TEXT,                  -- the agent's result (web app)
    note TEXT,
    closed_at TEXT
);
-- every prompt the borrower heard, in order (JSON list of {node, prompt, text, at}): what was disclosed
ALTER TABLE dialogs ADD COLUMN played TEXT NOT NULL DEFAULT '[]';

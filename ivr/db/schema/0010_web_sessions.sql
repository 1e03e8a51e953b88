-- server-side web sessions: the cookie carries only a random session id; the database keeps its
-- SHA-256, so a copy of this table cannot be replayed. A session ends at expires_at, or when
-- revoked (logout, password change, user disabled): a cookie copied before that stops working.
CREATE TABLE web_sessions (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,       -- SHA-256 (hex) of the id in the cookie
    user_id INTEGER NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT,
    revoked_reason TEXT,                   -- logout, password_change, user_disabled, ...
    ip TEXT
);
CREATE INDEX web_sessions_user ON web_sessions(user_id, revoked_at);
-- login throttling asks per user name and per client address among the failures of a window
CREATE INDEX IF NOT EXISTS login_attempts_fail_user ON login_attempts(username, ok, at);
CREATE INDEX IF NOT EXISTS login_attempts_fail_ip ON login_attempts(ip, ok, at);

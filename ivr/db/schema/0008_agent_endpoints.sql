-- agents' phones as registered SIP endpoints (written by the web app's admin pages and `ivr agent`);
-- the password is shown once and never stored: only what Asterisk's digest check needs
CREATE TABLE agent_endpoints (
    name TEXT PRIMARY KEY,                 -- users.agent_ext and escalations.agent; PJSIP endpoint huifang-<name>
    realm TEXT NOT NULL,
    md5_cred TEXT NOT NULL,                -- md5(username:realm:password), pjsip auth md5_cred
    active INTEGER NOT NULL DEFAULT 1,
    created_by TEXT,
    created_at TEXT NOT NULL,
    credentials_at TEXT NOT NULL           -- when the current password was generated
);
-- which agent phone answered the queue call (from the AgentConnect AMI event, written by the dialer)
ALTER TABLE escalations ADD COLUMN agent_channel TEXT;
ALTER TABLE escalations ADD COLUMN assigned_at TEXT;

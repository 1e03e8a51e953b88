-- every running dialer controller writes its row every few seconds, so the web app can tell a
-- supervisor pressing 开始 that no controller is running (instead of the command waiting forever).
CREATE TABLE controller_heartbeats (
    name TEXT PRIMARY KEY,                 -- host:pid of the controller process
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    beat_at TEXT NOT NULL,                 -- last time its loop ran (UTC, real time, never a demo clock)
    ami_connected INTEGER NOT NULL DEFAULT 0,
    stopped_at TEXT                        -- set on a clean stop
);

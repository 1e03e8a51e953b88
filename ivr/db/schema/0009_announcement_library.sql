-- carrier announcements learned from real calls (ivr/dialer/announcement_library.py): the early media
-- of failed calls, clustered by landmark fingerprint; a supervisor labels a cluster once and from then
-- on the dial wrapper recognizes that recording. Written by the clustering job and the web app only.
CREATE TABLE announcement_clusters (
    id INTEGER PRIMARY KEY,
    fingerprint BLOB NOT NULL,     -- landmarks.Fingerprint of one play of the announcement
    seconds REAL NOT NULL,         -- length of that one play
    locale TEXT,                   -- locale of the call it was first heard on
    sample_attempt TEXT,           -- the capture it was built from (its file may be purged later)
    members INTEGER NOT NULL DEFAULT 0,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    label TEXT,                    -- empty_number powered_off suspended unreachable busy not_announcement; NULL: unlabelled
    labelled_by TEXT,
    labelled_at TEXT,
    source TEXT NOT NULL DEFAULT 'calls'   -- calls, import (ivr announcements import)
);
CREATE INDEX announcement_clusters_label ON announcement_clusters(label);
-- one row per capture the clustering job has looked at
CREATE TABLE early_media (
    attempt_id TEXT PRIMARY KEY REFERENCES attempts(id),
    seconds REAL NOT NULL,
    recognized TEXT,               -- attempts.announcement at call time, if any
    cluster_id INTEGER REFERENCES announcement_clusters(id),
    coverage REAL,                 -- how completely the cluster's fingerprint was found in it
    seen_at TEXT NOT NULL
);
CREATE INDEX early_media_cluster ON early_media(cluster_id);
-- the network answered (200) and played an announcement before the greeting (ivr/dialog/answer_screen.py):
-- the dialog server's word for it (dialogs.result = 'announcement')
ALTER TABLE dialogs ADD COLUMN announcement TEXT;

-- Carrier trunks and caller IDs (issue 10): which number a campaign shows and, per attempt, which
-- trunk carried it and which caller ID it showed.
-- campaigns.caller_id: empty means the default_caller_id setting
-- campaigns.caller_id_pool: JSON {"Guangdong": ["020...", ...]}, English province names (ivr/dialer/caller_id.py)
-- attempts.trunk: the pjsip endpoint of the last leg (huifang-trunk, huifang-trunk2)
ALTER TABLE campaigns ADD COLUMN caller_id TEXT NOT NULL DEFAULT '';
ALTER TABLE campaigns ADD COLUMN caller_id_pool TEXT NOT NULL DEFAULT '{}';
ALTER TABLE attempts ADD COLUMN caller_id TEXT;
ALTER TABLE attempts ADD COLUMN trunk TEXT;

-- carrier announcements (ivr/dialer/announcements.py): what the network said in early media before
-- it failed the call. outcome stays invalid-number / unreachable; this is the precise reason:
-- empty_number (空号), powered_off (关机), suspended (停机), unreachable (暂时无法接通)
ALTER TABLE attempts ADD COLUMN announcement TEXT;
-- turn latency (bench/turn_latency.py): when the first audio frame of the prompt that followed this
-- answer was sent to Asterisk (ISO, ms); with speech_ended_at it is the borrower's wait for a reply
ALTER TABLE answers ADD COLUMN reply_audio_at TEXT;

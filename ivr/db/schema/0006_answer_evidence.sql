-- Every spoken answer is accepted, confirmed or rejected on evidence (issue 9).
-- decision: accept | confirm | reject (NULL for keypad, no input and hangup)
-- evidence: JSON {"nbest": [{"text", "intent", "posterior", "score"}], "word_conf": [...], "reasons": [...]}
-- confirmed_by: for a confirmed answer, how the borrower confirmed it (voice | keypad), NULL otherwise
ALTER TABLE answers ADD COLUMN decision TEXT;
ALTER TABLE answers ADD COLUMN evidence TEXT;
ALTER TABLE answers ADD COLUMN confirmed_by TEXT;

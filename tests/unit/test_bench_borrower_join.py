"""The listening borrower's log joined with the dialog's answers rows: every answer's intent is
checked, and the two views of a spoken answer's turn latency come out of the right fields."""
from bench.borrower_join import join_call


def rec(question, kind=None, start=None, end=None, prompt=(0.0, 1.0), answered=True):
    r = {"question": question, "prompt_start_s": prompt[0], "prompt_end_s": prompt[1], "answered": answered}
    if answered:
        r.update(kind=kind, answer_start_s=start, answer_end_s=end)
    return r


def row(node, via, intent, *, text=None, digits=None, speech_ended=None, reply=None):
    return {"node": node, "via": via, "intent": intent, "text": text, "digits": digits,
            "speech_ended_at": speech_ended, "reply_audio_at": reply}


RECORDS = [
    rec("identity", "say", 11.9, 12.3, prompt=(0.4, 11.4)),
    rec("identity_confirm", "keys", 19.6, 20.4, prompt=(12.9, 19.1)),
    rec("id_check", "keys", 27.5, 28.6, prompt=(20.6, 27.0)),
    rec("plan", "say", 50.5, 50.9, prompt=(28.8, 50.0)),
    rec(None, "keys", 58.0, 58.3, prompt=(51.4, 57.5)),
    rec("goodbye", prompt=(58.8, 67.0), answered=False),
]
ROWS = [
    row("identity", "voice", "confirm", text="네", speech_ended="2026-12-04T12:00:12.300+00:00",
        reply="2026-12-04T12:00:12.800+00:00"),
    row("identity:confirm", "keypad", "confirm", digits="1"),
    row("id_check", "keypad", "digits", digits="1234"),
    row("plan", "voice", "confirm", text="네", speech_ended="2026-12-04T12:00:50.900+00:00",
        reply="2026-12-04T12:00:51.300+00:00"),
    row("plan:confirm", "keypad", "confirm", digits="1"),
]


def test_a_whole_call_understood_with_both_views_of_the_turn():
    joined = join_call(RECORDS, ROWS)
    assert joined["understood"] and joined["problems"] == []
    by_q = {a["question"]: a for a in joined["answers"]}
    assert list(by_q) == ["identity", "identity_confirm", "id_check", "plan", None]
    assert by_q["identity"]["dialog_turn_ms"] == 500.0
    assert by_q["identity"]["borrower_turn_ms"] == 600.0      # 12.3 -> next prompt heard at 12.9
    assert by_q["identity"]["borrower_wait_ms"] == 500.0      # prompt ended 11.4, answered 11.9
    assert by_q["plan"]["dialog_turn_ms"] == 400.0 and by_q["plan"]["borrower_turn_ms"] == 500.0
    assert by_q["id_check"]["dialog_turn_ms"] is None          # keys: the dialog's measure is for voice


def test_keys_landing_in_the_wrong_question_are_not_understood():
    rows = [ROWS[0], row("identity:confirm", "keypad", "confirm", digits="1"),
            row("id_check", "keypad", "digits", digits="234"), *ROWS[3:]]
    joined = join_call(RECORDS, rows)
    assert not joined["understood"]
    assert joined["problems"] == ["id_check: dialog took id_check keypad/digits/234"]


def test_a_missed_turn_and_a_missing_answer_are_problems():
    rows = [ROWS[0], row("identity", "none", "no_input"), *ROWS[1:4]]
    joined = join_call(RECORDS, rows)
    assert not joined["understood"]
    assert "identity: no answer heard (none)" in joined["problems"]
    assert any(p.startswith("borrower answered") for p in joined["problems"])


def test_the_borrower_log_is_found_per_dialed_number_through_the_sipp_log(tmp_path):
    from bench.capacity import borrower_calls
    (tmp_path / "calls.log").write_text("13800000001 36010\n13800000002 36012\n")
    (tmp_path / "borrower.jsonl").write_text(
        '{"call": "127.0.0.1:36012", "question": "identity"}\n{"call": "127.0.0.1:36010", "question": "identity"}\n'
        '{"call": "127.0.0.1:36012", "question": "identity_confirm"}\n')
    calls = borrower_calls(tmp_path)
    assert [r["question"] for r in calls["13800000002"]] == ["identity", "identity_confirm"]
    assert [r["question"] for r in calls["13800000001"]] == ["identity"]

"""No borrower data in log lines: the masking helpers (ivr.redact), the filter every process's
logging installs (ivr.logsetup), and the log lines that used to carry numbers, keys and words."""
from __future__ import annotations

import logging
import re
import threading

import pytest

from ivr import logsetup, redact
from ivr.demo_report import table_lines

NUMBERS = ["13800000002", "+8613800000002", "008613800000002", "01010000001", "+82 10 1000 0001",
           "+82-10-1000-0001", "138-0000-0002", "138 0000 0002", "010-12345678", "02-123-4567", "2125551234"]


@pytest.mark.parametrize("number", NUMBERS)
def test_scrub_leaves_only_the_last_four_digits_of_a_number(number):
    digits = "".join(c for c in number if c.isdigit())
    for text in (f"calling {number} now", f"Local/{number}@huifang-dial-0000000a;1", f"电话{number}已关机",
                 f"{{'number': '{number}'}}", number):
        out = redact.scrub(text)
        assert digits[-7:] not in re.sub(r"[ \-+]", "", out), out
        assert "***" + digits[-4:] in out


@pytest.mark.parametrize("query, last4", [("q=%2B8613800000002", "0002"), ("q=138+0000+0002", "0002"),
                                          ("q=138%200000%200002&page=2", "0002"), ("q=13800000002", "0002"),
                                          # a login redirect's `next`: the '+' encoded twice, '=' once
                                          ("q%3D%252B8601010000001", "0001"), ("q%253D13800000002", "0002")])
def test_scrub_masks_numbers_in_a_logged_url(query, last4):
    line = f'127.0.0.1 - - "GET /borrowers?{query} HTTP/1.1" 302 -'
    out = redact.scrub(line)
    for number in ("13800000002", "01010000001", "1010000001"):
        assert number not in re.sub(r"[+ ]|%(?:25)*(?:20|2B)", "", out), out
    assert f"***{last4}" in out and out.endswith(f'{"&page=2" if "page" in query else ""} HTTP/1.1" 302 -')


@pytest.mark.parametrize("text", [
    "attempt 94594cd9-4f29-41fb-b21f-1e77d161c0d3: ended answered (cause 16)",
    "attempt 12345678-1234-1234-1234-123456789012 is all digits in its groups",
    "uniqueid huifang-demo-1796295555.33 linked 1796295555.34",
    "PJSIP/huifang-trunk-0000000b [C-00000010] Local/x@huifang-dial-00000007;1",
    "2026-12-03 11:00:10,606 due 2026-12-08 at 10:58:42",
    "AMI on 127.0.0.1:31038, SIP 192.168.100.200:5060, pid 4321",
    "posterior 0.93456789, score 112.3456789, took 12.5 s",
    "Asterisk 22.10.1+dfsg built on hex abc1234567890 and 1234567890abc",
])
def test_scrub_keeps_ids_times_addresses_and_measurements(text):
    assert redact.scrub(text) == text


def test_the_value_maskers():
    assert redact.phone("13800000002") == "***0002"
    assert redact.phone("+86 138-0000-0002") == "***0002"
    assert redact.phone("1234") == "***"
    assert redact.phone(None) == redact.phone("") == "-"
    assert redact.keys("1234") == "****"
    assert redact.keys(None) == redact.keys("") == "-"
    assert redact.words("네 제때 낼게요") == "<8 chars>"
    assert redact.words(None) == "-"
    assert redact.scrub(None) == ""


@pytest.fixture
def captured():
    """A logger writing into a list through a handler with the RedactFilter (as logsetup installs it)."""
    lines: list[str] = []

    class ListHandler(logging.Handler):
        def emit(self, record):
            try:
                lines.append(self.format(record))
            except Exception:
                self.handleError(record)

    handler = ListHandler()
    handler.setFormatter(logging.Formatter(logsetup.FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    logsetup.protect_handlers()
    yield lines
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_the_filter_masks_arguments_messages_and_tracebacks_of_any_logger(captured):
    logging.getLogger("ivr.dialer.controller").info("attempt %s: -> %s", "a1", "13800000002")
    logging.getLogger("werkzeug").info('"GET /borrowers?q=%s HTTP/1.1" 200', "%2B8613800000002")
    logging.getLogger("ivr.ami").warning("AMI: unrecognised message ignored: %r",
                                         {"Channel": "Local/01010000001@huifang-dial-00000001;1"})
    try:
        raise ValueError("not a phone number: '138-0000-0002'")
    except ValueError:
        logging.getLogger("ivr.notify").exception("outbox %d failed", 7)
    text = "\n".join(captured)
    for secret in ("13800000002", "8613800000002", "01010000001", "138-0000-0002"):
        assert secret not in text, text
    assert "-> ***0002" in text and "q=***0002" in text and "Local/***0001@" in text
    assert "ValueError: not a phone number: '***0002'" in text and "outbox 7 failed" in text


def test_the_filter_is_installed_once_per_handler_and_survives_bad_format_strings(captured):
    assert logsetup.protect_handlers() == 0  # already there
    bad = logging.LogRecord("x", logging.INFO, __file__, 1, "%d items", ("not a number",), None)
    assert logsetup.RedactFilter().filter(bad) is True  # the handler reports it as logging does; no raise here
    logging.getLogger("x").info("plain %s", "13800000002")
    assert captured[-1].endswith("plain ***0002")


def test_an_uncaught_exception_in_a_thread_is_logged_scrubbed(captured, monkeypatch):
    monkeypatch.setattr(threading, "excepthook", logsetup._log_uncaught_in_thread)

    def boom():
        raise RuntimeError("dial 13800000002 failed")

    t = threading.Thread(target=boom, name="worker-1")
    t.start()
    t.join()
    text = "\n".join(captured)
    assert "uncaught exception in thread worker-1" in text
    assert "RuntimeError: dial ***0002 failed" in text and "13800000002" not in text


def test_the_demo_table_shows_last_four_digits_and_stars_for_id_digits():
    summary = {"calls": [{"number": "13800000002", "outcome": "answered", "cause": 16,
                          "disposition": "answered-completed", "result": "promise", "as_intended": True,
                          "answers": [
                              {"step": "identity", "node": "identity", "intent": "confirm", "via": "keypad",
                               "text": None, "digits": "1", "decision": None},
                              {"step": "digits", "node": "id_check", "intent": "digits", "via": "keypad",
                               "text": None, "digits": "5678", "decision": None},
                              {"step": "plan", "node": "promise_ask", "intent": "promise", "via": "keypad",
                               "text": None, "digits": "1220", "decision": None}]}],
               "as_intended": 1, "checked": 1, "personas": 1}
    text = "\n".join(table_lines(summary))
    assert "13800000002" not in text and "5678" not in text
    assert text.splitlines()[1].startswith("***0002 ")
    assert "identity=confirm (keypad: 1); id_check=digits (keypad: ****); promise_ask=promise (keypad: 1220)" in text


def test_the_dialog_log_says_how_and_what_was_decided_but_not_the_keys_or_the_words(caplog):
    from tests.unit.test_runner_decisions import keys, run, voice
    with caplog.at_level(logging.INFO, logger="ivr.dialog"):
        ctx, store = run([voice(("네 맞아요", 100.0)), keys("1"), keys("1234"), keys("1")])
    assert [r["digits"] for r in store.rows if r["via"] == "keypad"][1] == "1234"  # the database keeps them
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("ivr.dialog")]
    turns = [line for line in lines if " via " in line]
    assert len(turns) == 4, lines
    assert "via voice text=<5 chars> keys=- -> confirm (confirm)" in turns[0]
    assert "id_check try 1 via keypad text=- keys=**** -> digits (keypad)" in turns[2]
    assert not [line for line in lines if "1234" in line or "네" in line or "맞아요" in line]


def test_the_managed_asterisk_writes_no_per_call_lines_and_no_queue_log():
    """Verbose level 2 and up names channels and extensions; the queue log's ENTERQUEUE carries the
    caller's number. What is left: notices, warnings, errors, start-up lines (checked on real calls
    by tests/integration/test_no_pii_in_logs.py)."""
    from ivr.config import REPO_ROOT
    templates = REPO_ROOT / "dialplans" / "templates"
    logger = {}
    section = None
    for raw in (templates / "logger.conf").read_text().splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            logger[(section, key)] = value.lstrip(">").strip()
    assert logger[("general", "queue_log")] == "no"
    channels = {k: v for (s, k), v in logger.items() if s == "logfiles"}
    assert channels, logger
    for name, levels in channels.items():
        verbose = re.search(r"verbose(?:\((\d+)\))?", levels)
        assert verbose is None or (verbose.group(1) is not None and int(verbose.group(1)) <= 1), (name, levels)
    options = (templates / "asterisk.conf").read_text()
    assert int(re.search(r"^verbose\s*=\s*(\d+)", options, re.M).group(1)) <= 1

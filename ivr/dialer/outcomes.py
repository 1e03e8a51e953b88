"""What happened to a call, from everything Asterisk told us about it.

Sources, most precise first: the dial wrapper's DIALSTATUS and the borrower leg's SIP code
(HuifangDial UserEvent), the Q.850 hangup cause, then the OriginateResponse reason
(0 failure, 1 hung up, 3 ring timeout, 4 answered, 5 busy, 8 congestion).
"""
from __future__ import annotations

from .attempt_state import AttemptView

OUTCOMES = ("answered", "busy", "no-answer", "rejected", "invalid-number", "unreachable", "failed")

# SIP final responses to the INVITE that tell us more than the Q.850 mapping
SIP_OUTCOMES = {486: "busy", 600: "busy", 480: "no-answer", 408: "no-answer", 487: "no-answer",
                603: "rejected", 403: "rejected", 404: "invalid-number", 484: "invalid-number",
                410: "invalid-number", 604: "invalid-number", 503: "unreachable", 502: "unreachable",
                500: "failed"}
# Q.850 causes
CAUSE_OUTCOMES = {17: "busy", 19: "no-answer", 18: "no-answer", 21: "rejected", 1: "invalid-number",
                  22: "invalid-number", 28: "invalid-number", 3: "unreachable", 20: "unreachable",
                  27: "unreachable", 38: "unreachable", 34: "unreachable", 41: "failed", 42: "unreachable"}
REASON_OUTCOMES = {3: "no-answer", 5: "busy", 8: "unreachable", 1: "failed", 0: "failed"}
DIALSTATUS_OUTCOMES = {"BUSY": "busy", "NOANSWER": "no-answer", "CONGESTION": "unreachable",
                       "CANCEL": "no-answer"}
# the cause we report when only the outcome is known
DEFAULT_CAUSE = {"answered": 16, "busy": 17, "no-answer": 19, "rejected": 21, "invalid-number": 1,
                 "unreachable": 3}


# a carrier announcement heard in early media (ivr/dialer/announcements.py) says more than the
# generic 404/480/503 that follows it
ANNOUNCEMENT_OUTCOMES = {"empty_number": "invalid-number", "suspended": "invalid-number",
                         "powered_off": "unreachable", "unreachable": "unreachable", "busy": "busy"}
# the disposition (and so the retry rule, dispositions.DEFAULT_RULES) each announcement stands for:
# 空号/停机 mark the number invalid; 关机/无法接通 retry later; 忙 is a busy line
ANNOUNCEMENT_DISPOSITIONS = {"empty_number": "carrier-announcement", "suspended": "carrier-announcement",
                             "powered_off": "unreachable", "unreachable": "unreachable", "busy": "busy"}


def classify(view: AttemptView) -> tuple[str, int | None]:
    """(outcome, Q.850 cause) of a finished attempt."""
    if view.answered:
        return "answered", view.hangup_cause or 16
    cause = view.cause
    if view.announcement in ANNOUNCEMENT_OUTCOMES:
        outcome = ANNOUNCEMENT_OUTCOMES[view.announcement]
    elif view.sip_code in SIP_OUTCOMES:
        outcome = SIP_OUTCOMES[view.sip_code]
    elif view.dial_status in DIALSTATUS_OUTCOMES:
        outcome = DIALSTATUS_OUTCOMES[view.dial_status]
    elif cause in CAUSE_OUTCOMES:
        outcome = CAUSE_OUTCOMES[cause]
    elif view.dial_status == "CHANUNAVAIL":
        outcome = "unreachable"
    elif view.originate_reason in REASON_OUTCOMES:
        outcome = REASON_OUTCOMES[view.originate_reason]
    else:
        outcome = "failed"
    if not cause or cause == 16:
        # 16 (normal clearing) is what a cancelled or timed-out leg reports: not a failure's reason
        cause = DEFAULT_CAUSE.get(outcome, cause)
    return outcome, cause

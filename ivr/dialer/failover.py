"""When a call may move to the failover trunk: only when the first trunk failed, never when the
borrower's side gave a final answer.

Why this is a table and not a guess: re-ringing a borrower who just declined (603) or is busy (486)
is a known complaint about dialers, and a carrier that is down (503, no response) must not cost the
call. The decision is taken in the dialplan right after the first `Dial` (one Originate, one attempt
id, whichever trunk carries it); `dialplan_check` renders the same table as the Gosub
`[huifang-failover-check]`, so this module is the single place the rule lives, and the unit tests
and the two-Asterisk integration test check the two readings of it.

The inputs are what the dial leg reports: `DIALSTATUS`, the SIP final response code
(`HANGUPCAUSE(<chan>,tech)`, e.g. "SIP 503 Service Unavailable"; empty when no response arrived), and
whether the far end sent a provisional 18x (RINGTIME / PROGRESSTIME set: it rang, or played early
media such as a 空号 announcement). The AMI OriginateResponse Reason is not used: we originate a
Local channel, whose reason (0/3/4/5/8) describes our own dial wrapper, not the trunk.

| dial leg reports                                  | failover | why                                        |
|---------------------------------------------------|----------|--------------------------------------------|
| ANSWER                                            | never    | the borrower answered                      |
| any status after 180/183 (rang, early media)      | never    | the borrower's network reached the phone   |
| BUSY, SIP 486 / 600                               | never    | the borrower is busy                       |
| SIP 603 / 607 / 608 decline, rejected             | never    | the borrower (or their network) declined   |
| SIP 404 / 410 / 484 / 604 (no such number)        | never    | final answer about the number              |
| SIP 480 / 487 (unavailable, cancelled)            | never    | the borrower's side, or our own timeout    |
| SIP 403 forbidden                                 | never    | ambiguous (number barred or our account)   |
| SIP 500 / 502 / 503 / 504 (carrier fault)         | yes      | congestion or trunk failure                |
| SIP 408 before any 18x (no final answer in time)  | yes      | the carrier did not answer us              |
| SIP 401 / 407 (our credentials refused)           | yes      | the trunk's account, not the borrower      |
| no SIP response: CHANUNAVAIL / CONGESTION         | yes      | trunk unreachable (qualify) or at its limit|
| no SIP response and no 18x: NOANSWER              | yes      | the carrier never responded                |
| anything else                                     | never    | in doubt, do not ring the borrower twice   |
"""
from __future__ import annotations

from dataclasses import dataclass

FAILOVER_SIP_CODES = frozenset({500, 502, 503, 504, 408, 401, 407})
NO_RESPONSE_STATUSES = frozenset({"CHANUNAVAIL", "CONGESTION", "NOANSWER"})
BORROWER_FINAL_SIP_CODES = frozenset({486, 600, 603, 607, 608, 404, 410, 484, 604, 480, 487, 403})


@dataclass(frozen=True)
class Decision:
    failover: bool
    reason: str


def sip_code(tech_cause: str | None) -> int | None:
    """The SIP response code in a PJSIP tech cause ("SIP 503 Service Unavailable" -> 503)."""
    parts = (tech_cause or "").split()
    if len(parts) >= 2 and parts[0].upper() == "SIP" and parts[1].isdigit():
        return int(parts[1])
    return None


def decide(dial_status: str | None, code: int | None, progressed: bool) -> Decision:
    """Should the call be tried on the next trunk? See the table in the module docstring."""
    status = (dial_status or "").upper()
    if status == "ANSWER":
        return Decision(False, "answered")
    if progressed:
        return Decision(False, "the far end rang or sent early media")
    if status == "BUSY":
        return Decision(False, "busy")
    if code is not None:
        if code in FAILOVER_SIP_CODES:
            return Decision(True, f"SIP {code} from the trunk")
        if code in BORROWER_FINAL_SIP_CODES:
            return Decision(False, f"SIP {code}: a final answer from the borrower's side")
        return Decision(False, f"SIP {code}: not a trunk failure")
    if status in NO_RESPONSE_STATUSES:
        return Decision(True, f"{status} without a SIP response")
    return Decision(False, f"{status or 'no status'}: not a trunk failure")


def dialplan_check() -> str:
    """The same table as a dialplan Gosub: ARG1 = DIALSTATUS, ARG2 = SIP code or empty, ARG3 = 1 if
    the far end sent 18x. Returns (GOSUB_RETVAL) `yes` or `no`."""
    codes = " | ".join(f'"${{ARG2}}" = "{c}"' for c in sorted(FAILOVER_SIP_CODES))
    statuses = " | ".join(f'"${{ARG1}}" = "{s}"' for s in sorted(NO_RESPONSE_STATUSES))
    return "\n".join([
        "[huifang-failover-check]",
        "; rendered from ivr/dialer/failover.py: try the next trunk only when this one failed",
        'exten => s,1,GotoIf($["${ARG1}" = "ANSWER" | "${ARG3}" = "1" | "${ARG1}" = "BUSY"]?no)',
        ' same => n,GotoIf($["${ARG2}" = ""]?nocode)',
        f" same => n,GotoIf($[{codes}]?yes:no)",
        f" same => n(nocode),GotoIf($[{statuses}]?yes:no)",
        " same => n(yes),Return(yes)",
        " same => n(no),Return(no)",
        "",
    ])

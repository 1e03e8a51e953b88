"""Carrier trunks without Asterisk: number format per trunk, caller-ID pools, the failover table,
per-trunk limits (alone and inside the dialer loop), and the trunk settings' pjsip rendering."""
from __future__ import annotations

import asyncio
import json

import pytest

from ivr.asterisk.trunk_conf import trunks_conf
from ivr.config import Settings, Trunk
from ivr.db.writer import AsyncDb
from ivr.dialer import caller_id, campaigns, controller, failover
from ivr.dialer.clock import shift_to
from ivr.dialer.dial_number import NumberError, dial_variables, format_number
from tests.support.fake_placer import FakePlacer
from ivr.dialer.trunk_pacing import TrunkPacing

from .test_dialer_controller import TEN_AM


def trunk(**kw) -> Trunk:
    values = dict(name="trunk", endpoint="huifang-trunk", host="10.0.0.1", port=5060)
    values.update(kw)
    return Trunk(**values)


# ---- number format ------------------------------------------------------------------------------
@pytest.mark.parametrize("number,strip,prefix,expected", [
    ("+8613800000001", ("+86", "0086"), "", "13800000001"),
    ("0086 138-0000-0001", ("+86", "0086"), "", "13800000001"),
    ("+8613800000001", ("+86",), "17951", "1795113800000001"),
    ("13800000001", ("+86",), "9", "913800000001"),
    ("02012345678", ("+86",), "", "02012345678"),           # nothing to strip
    ("+8613800000001", (), "", None),                        # a '+' left: not diallable
    ("abc", ("+86",), "", None),
    ("", ("+86",), "", None),
])
def test_format_number(number, strip, prefix, expected):
    t = trunk(strip_prefixes=strip, dial_prefix=prefix)
    if expected is None:
        with pytest.raises(NumberError):
            format_number(number, t)
    else:
        assert format_number(number, t) == expected


def test_each_trunk_gets_its_own_format_and_limit():
    a = trunk(strip_prefixes=("+86",), dial_prefix="17951", max_channels=7)
    b = trunk(name="failover_trunk", endpoint="huifang-trunk2", strip_prefixes=("+86",), dial_prefix="12593",
              max_channels=3)
    assert dial_variables("+8613800000001", [a, b]) == [
        "IVR_DIAL1=PJSIP/1795113800000001@huifang-trunk", "IVR_TRUNK1=huifang-trunk", "IVR_MAXCH1=7",
        "IVR_DIAL2=PJSIP/1259313800000001@huifang-trunk2", "IVR_TRUNK2=huifang-trunk2", "IVR_MAXCH2=3"]


# ---- caller ID ----------------------------------------------------------------------------------
def test_pool_from_form_text_in_chinese_and_english():
    pool, notes = caller_id.parse_pool("广东省: 020-1111-2222, 075533334444\nbeijing：01066667777 01066667777\n# note\n")
    assert pool == {"Guangdong": ["02011112222", "075533334444"], "Beijing": ["01066667777"]}
    assert notes == []
    assert caller_id.parse_pool(caller_id.pool_text(pool))[0] == pool
    assert caller_id.parse_pool(json.dumps(pool))[0] == pool


@pytest.mark.parametrize("text,message", [
    ("火星: 02011112222", "unknown province"),
    ("广东: 12", "not a phone number"),
    ("广东 02011112222", "expected 'province: number"),
    ('{"广东": 5}', "expected a list"),
])
def test_pool_refuses_bad_input_with_a_reason(text, message):
    with pytest.raises(caller_id.CallerIdError, match=message):
        caller_id.parse_pool(text)


def test_pool_is_clamped_per_province():
    numbers = ", ".join(f"0201111{i:04d}" for i in range(25))
    pool, notes = caller_id.parse_pool(f"广东: {numbers}")
    assert len(pool["Guangdong"]) == caller_id.MAX_PER_PROVINCE
    assert [(n.name, n.given, n.applied) for n in notes] == [("caller_id_pool:Guangdong", 25, 20)]


def test_caller_id_follows_the_borrowers_province_and_stays_the_same_per_borrower():
    pool = {"Jiangsu": ["02511110000", "02522220000"], "Beijing": ["01066667777"]}
    jiangsu = "13912345678"      # a Changzhou, Jiangsu mobile prefix
    assert caller_id.province_of(jiangsu) == "Jiangsu"
    picks = {caller_id.choose(jiangsu, borrower_id=b, caller_id="4001", pool=pool, default="400") for b in range(6)}
    assert picks == set(pool["Jiangsu"])                      # spread over the pool
    assert caller_id.choose(jiangsu, borrower_id=3, caller_id="4001", pool=pool, default="400") == \
        caller_id.choose(jiangsu, borrower_id=3, caller_id="4001", pool=pool, default="400")
    assert caller_id.choose("15012345678", borrower_id=1, caller_id="4001", pool=pool, default="400") == "4001"  # Yunnan
    assert caller_id.choose("15012345678", borrower_id=1, caller_id="", pool=pool, default="400") == "400"
    assert caller_id.choose("821012345678", borrower_id=1, caller_id="4001", pool=pool, default="400") == "4001"


def test_a_campaign_row_written_by_hand_cannot_produce_a_bad_caller_id():
    row = {"caller_id": "not a number", "caller_id_pool": '{"Atlantis": ["1"]}'}
    assert caller_id.from_campaign(row, "13912345678", 1, "4008000000") == "4008000000"


def test_campaign_stores_checked_caller_id_and_pool(tmp_path):
    adb = AsyncDb(tmp_path / "t.db")
    cid = campaigns.create(adb.db, name="c", selection={"all": True}, caller_id="020-1111-2222",
                           caller_id_pool="江苏: 02511110000")
    row = campaigns.get(adb.db, cid)
    assert row["caller_id"] == "02011112222"
    assert json.loads(row["caller_id_pool"]) == {"Jiangsu": ["02511110000"]}
    with pytest.raises(campaigns.CampaignError, match="caller ID"):
        campaigns.create(adb.db, name="c", selection={"all": True}, caller_id="12")
    adb.close()


# ---- failover ----------------------------------------------------------------------------------
@pytest.mark.parametrize("status,tech,progressed,expected", [
    ("ANSWER", None, False, False),
    ("BUSY", "SIP 486 Busy Here", False, False),
    ("BUSY", "SIP 600 Busy Everywhere", False, False),
    ("CHANUNAVAIL", "SIP 603 Decline", False, False),
    ("CHANUNAVAIL", "SIP 404 Not Found", False, False),
    ("NOANSWER", "SIP 480 Temporarily Unavailable", True, False),
    ("CHANUNAVAIL", "SIP 403 Forbidden", False, False),
    ("CONGESTION", "SIP 503 Service Unavailable", False, True),
    ("CONGESTION", "SIP 500 Server Internal Error", False, True),
    ("CHANUNAVAIL", "SIP 408 Request Timeout", False, True),
    ("CHANUNAVAIL", "SIP 401 Unauthorized", False, True),
    ("CHANUNAVAIL", None, False, True),        # no SIP response: trunk unreachable / at its limit
    ("NOANSWER", None, False, True),           # the carrier never answered our INVITE
    ("NOANSWER", None, True, False),           # it rang: the borrower did not pick up
    ("CONGESTION", "SIP 503 Service Unavailable", True, False),   # 503 after ringing / an announcement
    ("CANCEL", None, False, False),
])
def test_failover_decision_table(status, tech, progressed, expected):
    assert failover.decide(status, failover.sip_code(tech), progressed).failover is expected


def test_sip_code_from_tech_cause():
    assert failover.sip_code("SIP 503 Service Unavailable") == 503
    assert failover.sip_code("") is None and failover.sip_code(None) is None and failover.sip_code("ISDN 34") is None


def test_dialplan_check_names_exactly_the_table():
    text = failover.dialplan_check()
    codes = {int(c) for c in __import__("re").findall(r'"\$\{ARG2\}" = "(\d+)"', text)}
    assert codes == set(failover.FAILOVER_SIP_CODES)
    assert not codes & failover.BORROWER_FINAL_SIP_CODES
    assert "ANSWER" in text and '"${ARG3}" = "1"' in text and "BUSY" in text


# ---- per-trunk limits ---------------------------------------------------------------------------
class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_trunk_pacing_channels_tokens_and_order():
    clock = Clock()
    a = trunk(max_channels=2, max_cps=1.0)
    b = trunk(name="failover_trunk", endpoint="huifang-trunk2", max_channels=1, max_cps=1.0)
    pacing = TrunkPacing([a, b], clock=clock)
    assert pacing.room() == 2                       # one token each
    assert [t.endpoint for t in pacing.assign()] == ["huifang-trunk", "huifang-trunk2"]  # b as failover
    assert [t.endpoint for t in pacing.assign()] == ["huifang-trunk2"]   # a out of tokens: starts on b
    assert pacing.assign() is None and pacing.room() == 0
    clock.t = 1.0
    assert pacing.room() == 1                       # a: a token and a free channel; b: channel full
    pacing.assign()
    clock.t = 5.0
    assert pacing.busy() == {"huifang-trunk": 2, "huifang-trunk2": 1}
    assert pacing.room() == 0                       # tokens back, channels all busy
    pacing.release("huifang-trunk")
    assert pacing.room() == 1


def test_dialer_keeps_to_the_trunks_calls_per_second(tmp_path):
    adb = AsyncDb(tmp_path / "t.db")
    d = adb.db
    for i in range(1, 13):
        d["borrowers"].insert({"id": i, "loan_id": f"L{i}", "name": "n", "locale": "zh-CN", "timezone": "Asia/Shanghai",
                               "created_at": "x", "updated_at": "x"})
        d["contacts"].insert({"borrower_id": i, "phone": f"139000000{i:02d}", "kind": "mobile", "created_at": "x"})
    cid = campaigns.create(d, name="t", selection={"all": True}, max_cps=20, max_concurrent=50,
                           caller_id="02099990000")
    campaigns.apply_command(d, cid, "start")
    placer = FakePlacer(adb, outcome_for=lambda n: {"outcome": "answered", "dialog": "completed"}, duration_s=0.01)
    settings = Settings(trunk_max_cps=4.0, failover_trunk_host="10.0.0.2", failover_trunk_max_cps=50.0)
    ctl = controller.Controller(settings, policy_shift=shift_to(TEN_AM), placer=placer, db=adb, tick_s=0.02)
    asyncio.run(asyncio.wait_for(ctl.run(until_idle=True), 30))
    t = ctl.stats.originate_times
    assert len(t) == 12
    # the campaign allows 20/s; the first trunk 4/s, the failover trunk takes the rest (and has no failover)
    first = [c for c in placer.dialled if c["trunks"] == ["huifang-trunk", "huifang-trunk2"]]
    second = [c for c in placer.dialled if c["trunks"] == ["huifang-trunk2"]]
    assert first and second and len(first) + len(second) == 12
    assert {c["caller_id"] for c in placer.dialled} == {"02099990000"}
    adb.close()


def test_dialer_with_one_slow_trunk_is_paced_by_it(tmp_path):
    adb = AsyncDb(tmp_path / "t.db")
    d = adb.db
    for i in range(1, 10):
        d["borrowers"].insert({"id": i, "loan_id": f"L{i}", "name": "n", "locale": "zh-CN", "timezone": "Asia/Shanghai",
                               "created_at": "x", "updated_at": "x"})
        d["contacts"].insert({"borrower_id": i, "phone": f"139000000{i:02d}", "kind": "mobile", "created_at": "x"})
    cid = campaigns.create(d, name="t", selection={"all": True}, max_cps=20, max_concurrent=50)
    campaigns.apply_command(d, cid, "start")
    placer = FakePlacer(adb, outcome_for=lambda n: {"outcome": "answered", "dialog": "completed"}, duration_s=0.01)
    ctl = controller.Controller(Settings(trunk_max_cps=4.0), policy_shift=shift_to(TEN_AM), placer=placer, db=adb,
                                tick_s=0.02)
    asyncio.run(asyncio.wait_for(ctl.run(until_idle=True), 30))
    t = ctl.stats.originate_times
    rate = (len(t) - 1) / (t[-1] - t[0])
    assert len(t) == 9 and 3.0 <= rate <= 4.6, rate
    adb.close()


# ---- settings and pjsip.conf --------------------------------------------------------------------
def test_trunk_settings_render_registration_and_digest_auth():
    s = Settings(trunk_host="10.0.0.1", trunk_port=5060, trunk_username="acct", trunk_password="pw-1",
                 trunk_realm="carrier.example", trunk_register=1, trunk_from_domain="carrier.example")
    [t] = s.trunks()
    assert "pw-1" not in repr(t) and "pw-1" not in repr(s)
    conf = trunks_conf(s.trunks(), bind="127.0.0.1")
    for line in ("type = registration", "server_uri = sip:10.0.0.1:5060", "client_uri = sip:acct@carrier.example",
                 "outbound_auth = huifang-trunk-auth", "type = auth", "username = acct", "password = pw-1",
                 "realm = carrier.example", "from_domain = carrier.example", "contact = sip:10.0.0.1:5060"):
        assert line in conf.splitlines(), line
    plain = trunks_conf(Settings(trunk_host="10.0.0.1", trunk_port=5060).trunks(), bind="127.0.0.1")
    assert "type = registration" not in plain and "outbound_auth" not in plain and "type = auth" not in plain


@pytest.mark.parametrize("changes,message", [
    ({"trunk_register": 1}, "needs trunk_username"),
    ({"trunk_username": "a", "trunk_password": "x\ny"}, "no line breaks"),
    ({"trunk_host": "10.0.0.1;evil"}, "trunk_host"),
    ({"trunk_dial_prefix": "17x"}, "digits only"),
    ({"failover_trunk_host": "10.0.0.2", "failover_trunk_max_channels": 0}, "failover_trunk_max_channels"),
])
def test_bad_trunk_settings_are_refused_by_name(changes, message):
    with pytest.raises(ValueError, match=message):
        Settings(**changes).trunks()

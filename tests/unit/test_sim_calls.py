"""The phone simulators against a real SIP caller (pjsua2, `python -m ivr.sim caller`), no Asterisk."""
import json
import re
import subprocess
import sys
import threading
import time
import uuid
import wave
from pathlib import Path

import pytest

pytest.importorskip("pjsua2")

from ivr import tts  # noqa: E402
from ivr.config import REPO_ROOT, Settings  # noqa: E402
from ivr.sim import calllog  # noqa: E402
from ivr.sim.pool import PhonePool  # noqa: E402
from ivr.sim.sipmsg import sdp_connection_addresses  # noqa: E402

pytestmark = pytest.mark.timeout(120)

PERSONAS = {
    "13800000001": {"answer_after_ms": 300,
                    "steps": [{"say": "네", "locale": "ko-KR"}, {"dtmf": "1"},
                              {"say": "일 이 삼 사", "locale": "ko-KR"}, {"hangup": True}]},
    "13800000002": {"reject": "busy"},
    "13800000003": {"reject": "noanswer"},
    "13800000004": {"reject": "decline"},
    "13800000005": {"reject": "notfound"},
    "13800000006": {"announcement": {"text": "空号", "locale": "zh-CN", "then": "notfound"}},
    "13800000007": {"answer_after_ms": 100, "hangup_after_ms": 800, "steps": [{"wait_ms": 5000}]},
    **{f"1390000000{i}": {"answer_after_ms": 200, "steps": [{"wait_ms": 2000}, {"hangup": True}]} for i in range(10)},
    # a foreign number, written as people write it; its last (spoken) answer has keys for re-asks
    "+1 415 555 0100": {"answer_after_ms": 200, "steps": [{"say": "네", "locale": "ko-KR", "or_dtmf": "1"}]},
}


@pytest.fixture(scope="module")
def settings(stack_settings):
    """A port block of our own (tests/conftest.py): the pools' SIP and RTP ports, the callers' RTP ports."""
    return stack_settings("sim-unit")


@pytest.fixture(scope="module")
def tts_cache(settings):
    return Path(settings.cache_dir) / "tts"


@pytest.fixture(scope="module")
def prompts(tts_cache):
    return {"long": str(tts.cached("请问您是本人吗", "zh-CN", tts_cache)),
            "short": str(tts.cached("请按一", "zh-CN", tts_cache))}


@pytest.fixture(scope="module")
def pool(settings, tmp_path_factory, tts_cache):
    d = tmp_path_factory.mktemp("sim")
    personas = d / "personas.json"
    personas.write_text(json.dumps(PERSONAS, ensure_ascii=False), encoding="utf-8")
    p = PhonePool(settings, personas, d / "calls.jsonl", d / "rec", workers=3, tts_cache=tts_cache)
    with p:
        p.dir = d
        yield p




def run_callers(settings: Settings, tmp: Path, groups: list[list[dict]], pj_log: bool = False,
                stagger_s: float = 0.0) -> list[list[dict]]:
    """Run one caller process per group (<= 3 calls each) in parallel; their results, in order.
    `stagger_s` starts each group that long after the previous one (ordering under load)."""
    procs = []
    for i, specs in enumerate(groups):
        if i and stagger_s:
            time.sleep(stagger_s)
        tag = uuid.uuid4().hex[:8]
        calls_f, out_f = tmp / f"calls-{tag}.json", tmp / f"out-{tag}.json"
        calls_f.write_text(json.dumps(specs), encoding="utf-8")
        cmd = [sys.executable, "-m", "ivr.sim", "caller", "--calls", str(calls_f), "--out", str(out_f),
               "--rtp-port", str(settings.sim_rtp_base + 500 + 100 * i)]
        if pj_log:
            cmd += ["--pj-log", str(tmp / f"pj-{tag}.log")]
        procs.append((subprocess.Popen(cmd, cwd=str(REPO_ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE),
                      out_f, tmp / f"pj-{tag}.log"))
    results = []
    for proc, out_f, log_f in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        res = json.loads(out_f.read_text(encoding="utf-8"))
        if pj_log:
            for r in res:
                r["pj_log"] = str(log_f)
        results.append(res)
    return results


def uri(number, port):
    return f"sip:{number}@127.0.0.1:{port}"


def speech_seconds(path) -> float:
    """Seconds of a WAV louder than quiet line noise (100 ms windows)."""
    import numpy as np
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(float)
    win = 800
    rms = [np.sqrt(np.mean(x[i:i + win] ** 2)) for i in range(0, len(x) - win, win)]
    return sum(1 for r in rms if r > 300) * 0.1


def by_call_id(log_path, call_id):
    return [r for r in calllog.calls(log_path) if r["call_id"] == call_id]


def test_rejects_ringing_cancel_and_announcement(settings, pool, tmp_path):
    first, second = run_callers(settings, tmp_path, [
        [{"uri": uri("13800000002", pool.port)}, {"uri": uri("13800000004", pool.port)},
         {"uri": uri("13800000005", pool.port)}],
        [{"uri": uri("19999999999", pool.port)}, {"uri": uri("13800000003", pool.port), "cancel_after_ms": 1200},
         {"uri": uri("13800000006", pool.port), "record": str(tmp_path / "announcement.wav"), "max_ms": 15000}],
    ])
    assert [r["final_status"] for r in first] == [486, 603, 404]
    unknown, noanswer, announcement = second
    assert unknown["final_status"] == 404
    assert noanswer["provisional"] == [180] and noanswer["final_status"] == 487
    assert noanswer["duration_ms"] >= 1200
    assert announcement["provisional"] == [183] and announcement["final_status"] == 404
    assert speech_seconds(tmp_path / "announcement.wav") >= 0.3  # the early media was heard
    log = pool.dir / "calls.jsonl"
    calls = calllog.calls(log)
    status = {r["number"]: r["status"] for r in calls}
    assert status["13800000002"] == 486 and status["13800000004"] == 603 and status["13800000005"] == 404
    assert status["19999999999"] == 404
    cancelled = [r for r in calls if r["number"] == "13800000003"][-1]
    assert cancelled["end_reason"] == "cancelled" and cancelled["responses"][0]["status"] == 180
    ann = [r for r in calls if r["number"] == "13800000006"][-1]
    assert [s["action"] for s in ann["steps"]] == ["announcement"] and ann["status"] == 404


def test_answering_persona_speaks_dtmf_and_records(settings, pool, tmp_path, prompts):
    attempt = str(uuid.uuid4())
    heard = tmp_path / "caller-heard.wav"
    # the "IVR" asks three questions, then says goodbye; the persona answers each prompt after it
    # ends, and (a hangup step after an answer waits for the next prompt too) hangs up after the last
    plays = [{"at_ms": 200, "wav": prompts["long"]}, {"at_ms": 4600, "wav": prompts["short"]},
             {"at_ms": 7000, "wav": prompts["short"]}, {"at_ms": 11000, "wav": prompts["short"]}]
    [[r]] = run_callers(settings, tmp_path, [[{"uri": uri("13800000001", pool.port),
                                               "headers": {"X-Huifang-Attempt": attempt},
                                               "record": str(heard), "plays": plays, "max_ms": 25000}]], pj_log=True)
    assert r["answered"] and r["final_status"] == 200
    assert [d["digit"] for d in r["dtmf"]] == ["1"]
    assert speech_seconds(heard) >= 1.0  # 네 and 일 이 삼 사
    assert r["disconnect_status"] == 200  # the persona hung up (BYE) after its last step

    # the SDP both ways advertises 127.0.0.1 only
    sip_log = Path(r["pj_log"]).read_text(errors="replace")
    addrs = set(sdp_connection_addresses(sip_log))
    assert addrs == {"127.0.0.1"}, addrs
    assert not re.search(r"IN IP4 (?!127\.0\.0\.1)\d", sip_log)

    [rec] = [c for c in calllog.calls(pool.dir / "calls.jsonl") if c["attempt"] == attempt]
    assert rec["number"] == "13800000001" and rec["status"] == 200 and rec["call_id"]
    assert [s["action"] for s in rec["steps"]] == ["say", "dtmf", "say", "hangup"]
    assert all(s.get("prompt_ended", True) for s in rec["steps"])  # every answer came after a prompt ended
    assert rec["end_reason"] == "local_hangup" and rec["ended_at"] >= rec["received_at"]
    assert speech_seconds(rec["recording"]) >= 2.0  # the phone recorded the prompts it heard
    assert len(calllog.calls_to(pool.dir / "calls.jsonl", "13800000001")) == 1


def test_hangup_after_ms_mid_question(settings, pool, tmp_path):
    [[r]] = run_callers(settings, tmp_path, [[{"uri": uri("13800000007", pool.port), "max_ms": 10000}]])
    assert r["answered"] and r["disconnect_status"] == 200
    assert r["duration_ms"] < 3000
    rec = [c for c in calllog.calls(pool.dir / "calls.jsonl") if c["number"] == "13800000007"][-1]
    assert rec["steps"][-1]["action"] == "hangup" and rec["steps"][-1]["reason"] == "hangup_after_ms"


def _udp_sockets(pids):
    out = subprocess.run(["ss", "-uanpH"], capture_output=True, text=True).stdout
    found = []
    for line in out.splitlines():
        m = re.search(r"pid=(\d+)", line)
        if m and int(m.group(1)) in pids:
            found.append(line.split()[3])  # local address:port
    return found


def test_seven_concurrent_calls_across_workers_on_loopback(settings, pool, tmp_path):
    numbers = [f"1390000000{i}" for i in range(7)]
    groups = [[{"uri": uri(n, pool.port), "headers": {"X-Huifang-Attempt": f"c-{n}"}} for n in numbers[i:i + 3]]
              for i in range(0, 7, 3)]
    # the phones' sockets, looked at every 0.1 s while the calls run (not at one moment, which a
    # busy machine may reach before the calls are up): the fullest view, and every one ever seen
    fullest: list[str] = []
    seen: set[str] = set()
    done = threading.Event()

    def watch():
        while not done.is_set():
            now = _udp_sockets(set(pool.pids))
            seen.update(now)
            if len(now) > len(fullest):
                fullest[:] = now
            done.wait(0.1)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        results = [r for group in run_callers(settings, tmp_path, groups) for r in group]
    finally:
        done.set()
        watcher.join(5)
    assert [r["final_status"] for r in results] == [200] * 7
    assert all(r["disconnect_status"] == 200 for r in results)
    recs = [r for r in calllog.calls(pool.dir / "calls.jsonl") if r["number"] in numbers]
    assert sorted(r["attempt"] for r in recs) == sorted(f"c-{n}" for n in numbers)
    assert len({r["pid"] for r in recs}) == 3  # spread over all three phone processes
    # mid-call: SIP + 7 calls x (RTP, RTCP) sockets, every one on 127.0.0.1
    assert len(fullest) >= 4 + 14, fullest
    assert all(s.startswith("127.0.0.1:") for s in seen), seen


def test_full_pool_answers_503(settings, tmp_path, tts_cache):
    personas = tmp_path / "p.json"
    personas.write_text(json.dumps({"1": {"answer_after_ms": 100, "steps": [{"wait_ms": 6000}, {"hangup": True}]}}))
    s = settings.replace(port_base=settings.port_base + 100)  # trunk port of its own; RTP blocks below are explicit
    with PhonePool(s, personas, tmp_path / "log.jsonl", tmp_path / "rec", workers=1, tts_cache=tts_cache,
                   rtp_base=settings.sim_rtp_base + 400) as small:
        [first, second] = run_callers(settings, tmp_path, [[{"uri": uri("1", small.port)}] * 3,
                                                           [{"uri": uri("1", small.port)}]], stagger_s=2.5)
    assert [r["final_status"] for r in first] == [200] * 3
    assert second[0]["final_status"] == 503


def test_agent_answers_speaks_and_hangs_up(settings, tmp_path, tts_cache):
    with PhonePool(settings, None, tmp_path / "agent.jsonl", tmp_path / "rec", kind="agent", workers=1,
                   tts_cache=tts_cache, answer_after_ms=300, say="您好，我是客服", locale="zh-CN",
                   hangup_after_ms=3500) as agents:
        t0 = time.monotonic()
        [[a1, nobody]] = run_callers(settings, tmp_path, [[
            {"uri": f"sip:agent1@127.0.0.1:{agents.port}", "headers": {"X-Huifang-Attempt": "a-1"},
             "record": str(tmp_path / "agent-heard.wav"), "max_ms": 15000},
            {"uri": f"sip:bob@127.0.0.1:{agents.port}"}]])
        assert time.monotonic() - t0 < 15
    assert a1["answered"] and a1["disconnect_status"] == 200
    assert nobody["final_status"] == 404
    assert speech_seconds(tmp_path / "agent-heard.wav") >= 0.5
    [rec] = [r for r in calllog.calls(tmp_path / "agent.jsonl") if r["number"] == "agent1"]
    assert rec["attempt"] == "a-1" and rec["kind"] == "agent"
    assert [s["action"] for s in rec["steps"]] == ["say", "hangup"]


def test_foreign_number_and_reasks_after_the_last_answer_get_the_keys(settings, pool, tmp_path, prompts):
    """Dialled as the trunk is (00 for +), the persona answers; after its last, spoken answer every
    further prompt can only be the IVR asking again, so the phone presses or_dtmf, at most 3 times."""
    attempt = str(uuid.uuid4())
    plays = [{"at_ms": 200, "wav": prompts["long"]}] + [{"at_ms": t, "wav": prompts["short"]}
                                                        for t in (4600, 7000, 9400, 11800)]
    [[r]] = run_callers(settings, tmp_path, [[{"uri": uri("0014155550100", pool.port),
                                               "headers": {"X-Huifang-Attempt": attempt},
                                               "plays": plays, "max_ms": 15000}]])
    assert r["answered"]
    assert [d["digit"] for d in r["dtmf"]] == ["1", "1", "1"]
    assert all(d["at_ms"] > 4600 for d in r["dtmf"])  # none before the first re-ask
    [rec] = [c for c in calllog.calls(pool.dir / "calls.jsonl") if c["attempt"] == attempt]
    assert rec["number"] == "0014155550100"
    assert [(s["action"], s.get("reask", False)) for s in rec["steps"]] == \
        [("say", False), ("dtmf", True), ("dtmf", True), ("dtmf", True)]

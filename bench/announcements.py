"""Carrier-announcement fingerprints: how often a learned recording is found, and how fast.

Learns each announcement text from one capture (carrier voice A, mu-law, half gain, ring-back, played
twice), then probes with independently degraded captures of the same recording (every combination of
G.711 law x gain x packet loss x late start / ring-back first) and with things that must never match
(ring-back, busy tone, music, other speech, another carrier's recording of the same words). Prints a
table and timings: fingerprinting per second of audio, one match against a library of N recordings.

    PYTHONPATH=. .venv/bin/python bench/announcements.py [--library 50]
"""
from __future__ import annotations

import argparse
import itertools
import time

from ivr.dialer import announcement_library as lib
from ivr.dialer import landmarks
from tests.unit.carrier_audio import line, music, recording, ringback, silence

TEXTS = {
    "empty_number": "您拨打的号码是空号，请查证后再拨。", "powered_off": "您拨打的电话已关机。",
    "suspended": "您拨打的电话已停机。", "unreachable": "您拨打的电话暂时无法接通，请稍后再拨。",
    "busy": "您拨打的电话正在通话中，请稍后再拨。",
}
NEGATIVES = {
    "ring-back 450 Hz": lambda: ringback(12), "ring-back 440+480 Hz": lambda: ringback(12, (440, 480), 2, 4),
    "busy tone": lambda: ringback(6, (480, 620), 0.5, 0.5), "music": lambda: music(10),
    "speech": lambda: recording("喂，你好，哪位啊？我现在不方便，晚点再说吧。"),
    "speech, same prefix": lambda: recording("您拨打的电话已经欠费，请及时充值。"),
    "carrier B, same words": lambda: recording(TEXTS["powered_off"], "carrier-b"),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--library", type=int, default=50, help="library size for the timing (padded with music)")
    args = ap.parse_args()
    learned = [lib.Learned(i, r, landmarks.reference_of(line(ringback(2), silence(0.3), recording(t), silence(1),
                                                             recording(t), gain=0.5, seed=1)))
               for i, (r, t) in enumerate(TEXTS.items())]
    library = lib.Library(learned)
    starts = {"whole": lambda r: r, "late start 0.6 s": lambda r: r[4800:],
              "ring-back first": lambda r: __import__("numpy").concatenate([ringback(5.5), r])}
    print("| condition | recognized | wrong | missed |\n| --- | --- | --- | --- |")
    total = [0, 0, 0]
    for law, gain, loss, (start_name, start) in itertools.product(("alaw", "ulaw"), (0.2, 1.0, 2.5),
                                                                   (0.0, 0.05, 0.10), starts.items()):
        ok = wrong = missed = 0
        for seed, (reason, text) in enumerate(TEXTS.items()):
            found = library.match(line(silence(0.1), start(recording(text)), gain=gain, law=law, loss=loss,
                                       noise=20, seed=seed + 10))
            if found is None:
                missed += 1
            elif found.reason == reason:
                ok += 1
            else:
                wrong += 1
        total = [total[0] + ok, total[1] + wrong, total[2] + missed]
        print(f"| {law} gain {gain} loss {loss:.0%} {start_name} | {ok}/5 | {wrong} | {missed} |")
    print(f"| **all** | {total[0]}/{sum(total)} | {total[1]} | {total[2]} |\n")
    print("| must not match | result |\n| --- | --- |")
    for name, make in NEGATIVES.items():
        hits = [library.match(line(make(), law=law)) for law in ("alaw", "ulaw")]
        print(f"| {name} | {'MATCHED ' + str([h.reason for h in hits if h]) if any(hits) else 'no match'} |")
    probe = line(ringback(3), recording(TEXTS["unreachable"]), recording(TEXTS["unreachable"]), seed=3)
    t0 = time.perf_counter()
    for _ in range(5):
        fp = landmarks.fingerprint(probe)
    per_s = (time.perf_counter() - t0) / 5 / (len(probe) / 8000)
    padding = [lib.Learned(100 + i, "busy", landmarks.reference_of(music(6, seed=i)))
               for i in range(max(0, args.library - len(learned)))]
    big = lib.Library(learned + padding)
    t0 = time.perf_counter()
    for _ in range(5):
        big.match(probe)
    per_match = (time.perf_counter() - t0) / 5
    print(f"\nfingerprint: {per_s * 1000:.1f} ms per second of audio ({len(fp.hashes)} hashes for "
          f"{len(probe) / 8000:.1f} s); one match against {len(big.learned)} recordings: {per_match * 1000:.0f} ms")


if __name__ == "__main__":
    main()

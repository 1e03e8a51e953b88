"""One call's outgoing RTP as a phone sends it: G.711 mu-law audio and RFC 4733 keys, timed.

Shared by the capacity bench's recorded borrower (bench/capacity.py writes the packets into a pcap
for SIPp) and the listening borrower (bench/borrower_media.py sends them live); kept apart so the
latter does not import the whole capacity bench.
"""
from __future__ import annotations

import struct


def ulaw(pcm: bytes) -> bytes:
    """G.711 mu-law of 16-bit little-endian samples."""
    out = bytearray()
    for (s,) in struct.iter_unpack("<h", pcm[: len(pcm) - len(pcm) % 2]):
        sign = 0x80 if s < 0 else 0
        s = min(abs(s), 32635) + 0x84
        exponent = max(0, (s >> 7).bit_length() - 1)
        mantissa = (s >> (exponent + 3)) & 0x0F
        out.append(~(sign | (exponent << 4) | mantissa) & 0xFF)
    return bytes(out)


class RtpStream:
    """One call's outgoing RTP: one SSRC, sequence and timestamps continuous over the call."""

    PCMU, EVENT = 0, 101

    def __init__(self, ssrc: int = 0x48554946):
        self.ssrc = ssrc
        self.seq = 1000
        self.packets: list[tuple[float, bytes]] = []
        self._marker = True   # the first packet of a talk spurt (stream start, after keys)

    def _rtp(self, t: float, pt: int, ts: int, payload: bytes, marker: bool = False) -> None:
        header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, self.seq & 0xFFFF, ts & 0xFFFFFFFF,
                             self.ssrc)
        self.seq += 1
        self.packets.append((t, header + payload))

    def audio(self, t: float, pcm: bytes) -> float:
        """PCMU packets of 20 ms from t; returns the end time."""
        data = ulaw(pcm)
        for i in range(0, len(data), 160):
            chunk = data[i:i + 160].ljust(160, b"\xff")
            self._rtp(t, self.PCMU, int(t * 8000), chunk, marker=self._marker)
            self._marker = False
            t += 0.020
        return t

    def keys(self, t: float, digits: str, *, tone_ms: int = 120, gap_ms: int = 150) -> float:
        """RFC 4733 events (one every 20 ms, three end packets), one digit after the other."""
        codes = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}
        for digit in digits:
            ts = int(t * 8000)
            steps = tone_ms // 20
            for n in range(1, steps + 1):
                self._rtp(t, self.EVENT, ts, struct.pack("!BBH", codes[digit], 10, n * 160), marker=(n == 1))
                t += 0.020
            for _ in range(3):
                self._rtp(t, self.EVENT, ts, struct.pack("!BBH", codes[digit], 0x80 | 10, steps * 160))
            t += gap_ms / 1000
        self._marker = True
        return t

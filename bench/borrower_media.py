"""The listening borrower's media side (issue 13 item 4): one UDP socket for every call's RTP.

SIPp keeps the SIP side of the capacity bench (cheap, C); its scenario advertises this process's
one port as the media port of every call. Asterisk sends each call's RTP from its own port, so a
call here is that address. A phone sends RTP from the moment it answers, whatever it hears, and
the IVR relies on it (Asterisk's AudioSocket() gives up on a call after 2 s with no frame either
way, and our answer screen listens before it greets): so the borrower learns each call's address
from SIPp's log line "<number> <Asterisk's RTP port>" (`SippLog`, read every 20 ms) and starts
sending at once; a stream it did not learn that way is picked up when its first packet arrives.
Per call: `Ears` (bench/borrower_ears.py) hear the prompts, and once the IVR has gone quiet after
the question the script expects, the borrower answers; between
answers it sends PCMU silence every 20 ms, as a phone does (the dialog's end of turn needs frames
after the speech). Asterisk sends nothing between prompts (no transmit_silence), so quiet is also
heard from the 20 ms ticker, by wall clock.

The questions are a plan in order: a call expects the next planned question it has not answered
yet (our identity confirmation and ID question are about as long, so order tells them apart), or
one of the questions without an answer (the goodbye); anything else is unplanned and gets the
answer for `None` (key 1, a confirmation), as often as it comes.

Each quiet stretch is logged (call, question, speech heard, when the prompt started and ended as
heard, when the answer started and ended) as a JSON line, for the bench to join with the dialog's
answers rows (bench/borrower_join.py). bench/capacity.py runs it as a child process:
`python -m bench.borrower_media PLAN.json LOG.jsonl [SIPP_CALLS.log]`.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import socket
import sys
import time
from pathlib import Path

from bench.borrower_ears import Ears, Question
from bench.rtp import RtpStream

log = logging.getLogger(__name__)
SILENCE = b"\0\0" * 160
# the IVR is waiting once it has been quiet this long: our prompts pause up to ~0.35 s between
# sentences and an IVR at 100 calls stretches a pause by a late frame or two; 0.5 s made borrowers
# answer in the middle of the identity prompt at 100 calls (4 of 100), as it made a simulated phone
# answer the greeting in CI (ivr/sim/phone.py waits 0.8 s too). What a person does: answer once the
# question is over, not at a breath.
END_SILENCE_S = 0.8
FORGET_S = 10.0    # a call whose RTP stopped this long ago is over (a question waits up to 8 s)


@dataclasses.dataclass(frozen=True)
class Answer:
    question: str | None   # None: any unplanned question
    kind: str           # "say" (8 kHz 16-bit PCM) or "keys"
    value: bytes | str


@dataclasses.dataclass
class Call:
    addr: tuple[str, int]
    ears: Ears
    rtp: RtpStream
    started: float
    last_heard: float
    sent_until: float = 0.0       # stream time (s from start) sent so far
    answered: set = dataclasses.field(default_factory=set)


class SippLog:
    """The calls SIPp answered, as its log (-trace_logs) grows: one "<number> <Asterisk's RTP port>"
    line per INVITE (bench/sipp/borrower_uas_listening.xml)."""

    def __init__(self, path: Path):
        self.path, self.offset, self.partial = path, 0, b""

    def new_calls(self) -> list[tuple[str, int]]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")
        calls = []
        for line in lines:
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                calls.append((parts[0].decode(errors="replace"), int(parts[1])))
            elif line.strip():
                log.warning("SIPp log line not understood: %r", line[:80])
        return calls


class BorrowerMedia:
    """Every call's media on one UDP socket (`serve`). The socket is read to the end before each
    20 ms look at the calls: asyncio's datagram transport reads one datagram per loop turn, so
    after a stall of this process the look ran with packets still waiting in the socket and heard
    quiet that was not there (at 100 calls, borrowers answered in the middle of prompts)."""

    def __init__(self, questions: list[Question], answers: list[Answer], log_path: Path | None = None,
                 sipp_log: SippLog | None = None, host: str = "127.0.0.1", end_silence_s: float = END_SILENCE_S):
        self.questions, self.answers = questions, {a.question: a for a in answers}
        self.plan = [q for q in questions if q.name in self.answers]
        self.unanswered = [q for q in questions if q.name not in self.answers]
        self.log_path = log_path
        self.calls: dict[tuple[str, int], Call] = {}
        self.sock: socket.socket | None = None
        self._ticker: asyncio.Task | None = None
        self._ssrc = 0x42000000
        self.sipp_log, self.host, self.end_silence_s = sipp_log, host, end_silence_s

    def start(self, sock: socket.socket) -> None:
        self.sock = sock
        loop = asyncio.get_running_loop()
        loop.add_reader(sock, self.drain)
        self._ticker = loop.create_task(self._tick())

    def stop(self) -> None:
        if self._ticker:
            self._ticker.cancel()
        if self.sock is not None:
            asyncio.get_running_loop().remove_reader(self.sock)
            self.sock.close()
            self.sock = None

    def drain(self) -> None:
        """Every datagram waiting in the socket."""
        while self.sock is not None:
            try:
                data, addr = self.sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:      # e.g. ICMP port unreachable from a call that just ended
                log.debug("recvfrom: %s", exc)
                continue
            self.datagram_received(data, addr)

    def datagram_received(self, data: bytes, addr) -> None:
        if len(data) < 12 or data[0] >> 6 != 2:
            return
        now = asyncio.get_running_loop().time()
        call = self.calls.get(addr) or self._new_call(addr, now)
        call.last_heard = now
        if data[1] & 0x7F != RtpStream.PCMU:
            return
        header = 12 + 4 * (data[0] & 0x0F)
        self._heard(call, call.ears.hear(now, data[header:]), now)

    def _new_call(self, addr: tuple[str, int], now: float) -> Call:
        """A call answered at `now` (a port Asterisk used before starts a new call)."""
        self._ssrc += 1
        ears = Ears(self._expected(set()), end_silence_s=self.end_silence_s)
        call = self.calls[addr] = Call(addr, ears, RtpStream(self._ssrc), now, now)
        return call

    def _expected(self, answered: set) -> list[Question]:
        """The next planned question not answered yet, and the questions without an answer."""
        return [q for q in self.plan if q.name not in answered][:1] + self.unanswered

    def _heard(self, call: Call, heard, now: float) -> None:
        if heard is None:
            return
        answer = self.answers.get(heard.question) if heard.question not in call.answered else None
        at = lambda t: None if t is None else round(t - call.started, 3)   # noqa: E731
        record = {"call": f"{call.addr[0]}:{call.addr[1]}", "question": heard.question, "speech_s": heard.speech_s,
                  "prompt_start_s": at(heard.started), "prompt_end_s": at(heard.ended),
                  "heard_s": at(heard.at), "answered": answer is not None}
        if answer is not None:
            if answer.question is not None:
                call.answered.add(answer.question)
                call.ears.questions = self._expected(call.answered)
            call.ears.answered()
            t = max(call.sent_until, now - call.started)
            end = call.rtp.keys(t, str(answer.value)) if answer.kind == "keys" else call.rtp.audio(t, bytes(answer.value))
            record.update(kind=answer.kind, answer_start_s=round(t, 3), answer_end_s=round(end, 3),
                          answer_wall=round(time.time() + t - (now - call.started), 3))
        if self.log_path:
            with open(self.log_path, "a") as f:
                f.write(json.dumps(record) + "\n")

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.020)
            self.drain()
            now = loop.time()
            for _number, port in self.sipp_log.new_calls() if self.sipp_log else []:
                self._new_call((self.host, port), now)
            for addr, call in list(self.calls.items()):
                if now - call.last_heard > FORGET_S:
                    del self.calls[addr]
                    continue
                self._heard(call, call.ears.hear(now, b""), now)
                self._send_due(call, now - call.started)

    def _send_due(self, call: Call, t: float) -> None:
        if not call.rtp.packets or call.rtp.packets[-1][0] < t:
            call.rtp.audio(max(call.sent_until, t), SILENCE)   # nothing queued: 20 ms of silence
        due = [p for p in call.rtp.packets if p[0] <= t]
        call.rtp.packets = [p for p in call.rtp.packets if p[0] > t]
        for at, packet in due:
            try:
                self.sock.sendto(packet, call.addr)
            except OSError as exc:      # a full buffer or a call gone: the next packet goes anyway
                log.debug("sendto %s: %s", call.addr, exc)
            call.sent_until = max(call.sent_until, at + 0.020)


class Endpoint:
    """What `serve` returns: the bound address, and close()."""

    def __init__(self, media: BorrowerMedia, sock: socket.socket):
        self.media, self.sockname = media, sock.getsockname()

    def get_extra_info(self, name: str):
        return self.sockname if name == "sockname" else None

    def close(self) -> None:
        self.media.stop()


async def serve(host: str, port: int, media: BorrowerMedia) -> Endpoint:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((host, port))
    sock.setblocking(False)
    media.start(sock)
    return Endpoint(media, sock)


def rtp_payload_type(packet: bytes) -> int:
    return packet[1] & 0x7F


def load_plan(path: Path) -> tuple[list[Question], list[Answer]]:
    """The plan file bench/capacity.py writes: {"port", "questions": [{name, speech_s}],
    "answers": [{question, kind, value}]}, a "say" value being the path of 8 kHz 16-bit PCM."""
    plan = json.loads(path.read_text())
    questions = [Question(q["name"], q["speech_s"]) for q in plan["questions"]]
    answers = [Answer(a["question"], a["kind"], Path(a["value"]).read_bytes() if a["kind"] == "say" else a["value"])
               for a in plan["answers"]]
    return questions, answers


async def run(plan_path: Path, log_path: Path, sipp_log: Path | None) -> None:
    questions, answers = load_plan(plan_path)
    port = json.loads(plan_path.read_text())["port"]
    await serve("127.0.0.1", port, BorrowerMedia(questions, answers, log_path, SippLog(sipp_log) if sipp_log else None))
    await asyncio.Event().wait()     # until terminated


if __name__ == "__main__":
    asyncio.run(run(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) > 3 else None))

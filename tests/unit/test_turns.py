"""Turn-taking over a real loopback AudioSocket: barge-in by voice and keypad, end of turn, no input."""
from __future__ import annotations

import asyncio
import math
import struct
import uuid


from ivr.dialog.agi import CallHungUp
from ivr.dialog.audiosocket import Kind, encode_frame, start_audiosocket_server
from ivr.dialog.turns import CallAudio, TurnTuning

FRAME = 320
SILENCE = b"\0" * FRAME
PROMPT = b"\x10\x00" * 8000 * 3  # a 3 s prompt


def tone(ms: int, amplitude: int = 6000) -> bytes:
    n = 8 * ms
    return b"".join(struct.pack("<h", int(amplitude * math.sin(2 * math.pi * 300 * i / 8000))) for i in range(n))


async def with_call(borrower, utterance=None, **ask):
    """Run `borrower(writer, reader)` as the Asterisk side; return what `ask` produced on ours."""
    result: dict = {}
    done = asyncio.Event()

    async def handler(conn):
        audio = CallAudio(conn, TurnTuning(end_silence_ms=300))
        try:
            result["turn"] = await audio.ask(PROMPT, utterance, timeout_ms=800, max_digits=4, **ask)
            result["sent"] = conn.frames_sent
        except CallHungUp as exc:
            result["hungup"] = exc
        finally:
            await audio.close()
            done.set()

    server = await start_audiosocket_server("127.0.0.1", 0, handler)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(encode_frame(Kind.UUID, uuid.uuid4().bytes))
    await writer.drain()
    drain = asyncio.create_task(reader.read(-1))
    try:
        try:
            await borrower(writer)
        except ConnectionError:
            pass  # our side ended the turn and closed while the borrower was still talking
        await asyncio.wait_for(done.wait(), 10)
    finally:
        writer.close()
        drain.cancel()
        server.close()
        await server.wait_closed()
    return result


async def send_audio(writer, pcm: bytes):
    for i in range(0, len(pcm), FRAME):
        writer.write(encode_frame(Kind.AUDIO, pcm[i:i + FRAME].ljust(FRAME, b"\0")))
        await writer.drain()
        await asyncio.sleep(0.02)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_speech_barges_in_and_the_turn_ends_on_silence():
    async def borrower(writer):
        await send_audio(writer, SILENCE * 20)          # 0.4 s into the prompt
        await send_audio(writer, tone(600))             # speaks
        await send_audio(writer, SILENCE * 30)          # then is quiet
    result = run(with_call(borrower))
    turn = result["turn"]
    assert turn.via == "voice" and turn.barge_in
    assert turn.speech_started is not None and turn.speech_ended is not None
    assert 0.4 <= turn.speech_ended - turn.speech_started <= 1.2
    assert result["sent"] < len(PROMPT) // FRAME        # the prompt was cut short


def test_keypad_barges_in_and_collects_digits():
    async def borrower(writer):
        await send_audio(writer, SILENCE * 10)
        for digit in "12*4":
            writer.write(encode_frame(Kind.DTMF, digit.encode()))
            await writer.drain()
            await asyncio.sleep(0.1)
        await send_audio(writer, SILENCE * 10)
    turn = run(with_call(borrower))["turn"]
    assert (turn.via, turn.digits, turn.barge_in) == ("keypad", "12*4", True)


def test_a_click_is_not_speech_and_silence_is_no_input():
    async def borrower(writer):
        await send_audio(writer, tone(40))              # 40 ms: noise, not a turn
        await send_audio(writer, SILENCE * 250)         # prompt ends, 0.8 s pass
    turn = run(with_call(borrower))["turn"]
    assert turn.via == "none" and not turn.barge_in
    assert turn.prompt_ended - turn.prompt_started >= 2.9  # the whole prompt was played


def test_hangup_frame_raises_call_hung_up():
    async def borrower(writer):
        await send_audio(writer, SILENCE * 5)
        writer.write(encode_frame(Kind.HANGUP))
        await writer.drain()
    result = run(with_call(borrower))
    assert isinstance(result.get("hungup"), CallHungUp)


def test_garbage_frame_ends_only_this_call():
    async def borrower(writer):
        await send_audio(writer, SILENCE * 5)
        writer.write(b"\x42\x00\x01x")                   # an unknown frame kind
        await writer.drain()
    result = run(with_call(borrower))
    assert isinstance(result.get("hungup"), CallHungUp)


class HeardSoFar:
    """A recognizer stand-in whose result is `text`; counts results taken and taken back."""

    def __init__(self, text: str):
        self.text, self.endpoint = text, False
        self.results, self.resumed = 0, 0

    async def feed(self, pcm: bytes) -> bool:
        return False

    async def result(self, tail: bytes = b""):
        from ivr.dialog.speech import Recognition
        self.results += 1
        return Recognition(text=self.text, confidence=0.9)

    async def resume(self) -> None:
        self.resumed += 1


def _answer_then_quiet(ms: int):
    async def borrower(writer):
        await send_audio(writer, SILENCE * 10)
        await send_audio(writer, tone(400))
        await send_audio(writer, SILENCE * (ms // 20))
    return borrower


def test_a_whole_answer_ends_the_turn_after_the_short_silence():
    """네 heard and 200 ms of quiet: the turn is over (a yes/no question's 300 ms need not pass)."""
    heard = HeardSoFar("네")
    result = run(with_call(_answer_then_quiet(1000), heard, end_silence_ms=600, complete_silence_ms=200,
                           complete=lambda text: text == "네"))
    turn = result["turn"]
    assert (turn.via, turn.text, turn.ended_by) == ("voice", "네", "complete")
    assert (heard.results, heard.resumed) == (1, 0)     # the early result is the turn's result
    assert 0.18 <= turn.result_at - turn.speech_ended < 0.45


def test_a_result_that_is_no_answer_is_taken_back_and_the_turn_goes_on():
    heard = HeardSoFar("<unk>")
    result = run(with_call(_answer_then_quiet(1000), heard, end_silence_ms=600,
                           complete_silence_ms=200, complete=lambda text: text == "네"))
    turn = result["turn"]
    assert turn.ended_by == "silence"
    assert turn.result_at - turn.speech_ended >= 0.6
    assert (heard.results, heard.resumed) == (2, 1)     # taken early, taken back, taken at the end


def test_without_a_short_silence_for_the_question_nothing_ends_early():
    result = run(with_call(_answer_then_quiet(1000), HeardSoFar("네"), end_silence_ms=600,
                           complete=lambda text: True))
    assert result["turn"].ended_by == "silence"

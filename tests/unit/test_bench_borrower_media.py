"""The listening borrower's media side on loopback, with a test socket standing where Asterisk's RTP
is: silence while the prompt plays, the expected answer only after the prompt has ended."""
import asyncio
import json
import socket
import struct

from bench.borrower_ears import Question
from bench.borrower_media import Answer, BorrowerMedia, rtp_payload_type, serve

LOUD = b"\x80" * 160


def rtp(seq: int, payload: bytes) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x1234) + payload


async def _call(tmp_path):
    media = BorrowerMedia([Question("id_check", 0.6)], [Answer("id_check", "keys", "12")], tmp_path / "answers.jsonl")
    transport = await serve("127.0.0.1", 0, media)
    port = transport.get_extra_info("sockname")[1]
    asterisk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    asterisk.bind(("127.0.0.1", 0))
    asterisk.setblocking(False)
    loop = asyncio.get_running_loop()
    received = []   # (seconds from start, payload type)
    start = loop.time()

    async def listen():
        while True:
            data = await loop.sock_recv(asterisk, 2048)
            received.append((loop.time() - start, rtp_payload_type(data)))

    listener = asyncio.create_task(listen())
    for seq in range(30):   # a 0.6 s prompt
        asterisk.sendto(rtp(seq, LOUD), ("127.0.0.1", port))
        await asyncio.sleep(0.02)
    prompt_end = loop.time() - start
    await asyncio.sleep(2.0)
    listener.cancel()
    transport.close()
    asterisk.close()
    return prompt_end, received


def test_the_borrower_sends_silence_then_answers_after_the_prompt_ends(tmp_path):
    prompt_end, received = asyncio.run(_call(tmp_path))
    keys = [t for t, pt in received if pt == 101]
    assert keys, "no RFC 4733 key packets came back"
    assert keys[0] >= prompt_end + 0.75          # not before the IVR has been quiet 0.8 s
    assert keys[0] <= prompt_end + 1.2
    silence_before = [t for t, pt in received if pt == 0 and t < prompt_end]
    assert len(silence_before) >= 15             # a phone sends all along, not only when it answers
    (record,) = [json.loads(line) for line in (tmp_path / "answers.jsonl").read_text().splitlines()]
    assert record["question"] == "id_check" and record["answered"] is True


async def _prompts(tmp_path, prompts_s: list[float]):
    """Prompts of these lengths, each followed by 1.2 s of Asterisk sending nothing; the answers log."""
    media = BorrowerMedia([Question("first", 0.4), Question("second", 0.4), Question("goodbye", 4.0)],
                          [Answer("first", "keys", "1"), Answer("second", "keys", "2"), Answer(None, "keys", "9")],
                          tmp_path / "answers.jsonl")
    transport = await serve("127.0.0.1", 0, media)
    port = transport.get_extra_info("sockname")[1]
    asterisk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    asterisk.bind(("127.0.0.1", 0))
    seq = 0
    for seconds in prompts_s:
        for _ in range(round(seconds / 0.02)):
            asterisk.sendto(rtp(seq, LOUD), ("127.0.0.1", port))
            seq += 1
            await asyncio.sleep(0.02)
        await asyncio.sleep(1.2)
    transport.close()
    asterisk.close()
    return [json.loads(line) for line in (tmp_path / "answers.jsonl").read_text().splitlines()]


def test_questions_of_the_same_length_are_told_apart_by_order_and_unplanned_ones_answered_each_time(tmp_path):
    records = asyncio.run(_prompts(tmp_path, [0.4, 1.8, 0.4, 1.8]))
    assert [(r["question"], r["answered"]) for r in records] == [("first", True), (None, True), ("second", True),
                                                                 (None, True)]
    assert all(r["answer_end_s"] > r["answer_start_s"] >= r["prompt_end_s"] for r in records if r["answered"])


async def _answered_call_in_sipp_log(tmp_path):
    """SIPp logged the call; Asterisk has sent nothing yet (our answer screen listens first)."""
    from bench.borrower_media import SippLog
    asterisk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    asterisk.bind(("127.0.0.1", 0))
    asterisk.setblocking(False)
    sipp_log = tmp_path / "calls.log"
    sipp_log.write_text("13800000001 not-a-port\n13800000002 ")    # a garbled line and half a line
    media = BorrowerMedia([Question("id_check", 0.6)], [Answer("id_check", "keys", "12")], tmp_path / "answers.jsonl",
                          SippLog(sipp_log))
    transport = await serve("127.0.0.1", 0, media)
    loop = asyncio.get_running_loop()
    await asyncio.sleep(0.2)
    with open(sipp_log, "a") as f:
        f.write(f"{asterisk.getsockname()[1]}\n")      # the rest of the line
    received = []
    try:
        async with asyncio.timeout(0.5):
            while len(received) < 10:
                received.append(rtp_payload_type(await loop.sock_recv(asterisk, 2048)))
    except TimeoutError:
        pass
    transport.close()
    asterisk.close()
    return received


def test_the_borrower_sends_from_the_answer_on_before_hearing_anything(tmp_path):
    received = asyncio.run(_answered_call_in_sipp_log(tmp_path))
    assert received == [0] * 10       # PCMU silence, every 20 ms, to the port SIPp logged

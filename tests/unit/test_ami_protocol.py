"""AMI wire parser/encoder: framing, banner, repeated keys, malformed and oversize input."""
import pytest

from ivr.ami.protocol import (
    MALFORMED_KEY, AmiParser, AmiProtocolError, encode_action, encode_message, get_all,
    get_header, message_kind,
)

BANNER = b"Asterisk Call Manager/9.0.0\r\n"


def test_banner_then_response():
    p = AmiParser()
    msgs = p.feed(BANNER + b"Response: Success\r\nActionID: 1\r\nMessage: ok\r\n\r\n")
    assert msgs == [{"Banner": "Asterisk Call Manager/9.0.0"},
                    {"Response": "Success", "ActionID": "1", "Message": "ok"}]
    assert p.banner == "Asterisk Call Manager/9.0.0"
    assert [message_kind(m) for m in msgs] == ["banner", "response"]


def test_incremental_byte_by_byte_and_lf_only():
    data = BANNER + b"Event: FullyBooted\nStatus: Fully Booted\n\nEvent: X\r\nA: b\r\n\r\n"
    p = AmiParser()
    out = []
    for i in range(len(data)):
        out += p.feed(data[i:i + 1])
    assert out[1:] == [{"Event": "FullyBooted", "Status": "Fully Booted"}, {"Event": "X", "A": "b"}]


def test_repeated_keys_become_list():
    p = AmiParser(expect_banner=False)
    (m,) = p.feed(b"Event: Newchannel\r\nChanVariable: a=1\r\nChanVariable: b=2\r\n\r\n")
    assert m["ChanVariable"] == ["a=1", "b=2"]
    assert get_all(m, "ChanVariable") == ["a=1", "b=2"]
    assert get_all(m, "Event") == ["Newchannel"]
    assert get_header(m, "chanvariable") == "a=1"


def test_malformed_lines_recorded_not_raised():
    p = AmiParser(expect_banner=False)
    (m,) = p.feed(b"Event: X\r\ngarbage line\r\nEmpty:\r\nKey: v: w\r\n\r\n")
    assert m[MALFORMED_KEY] == ["garbage line"]
    assert m["Empty"] == "" and m["Key"] == "v: w"


def test_peer_cannot_forge_malformed_key():
    p = AmiParser(expect_banner=False)
    (m,) = p.feed(b"Event: X\r\n__malformed__: hi\r\n\r\n")
    assert m[MALFORMED_KEY] == ["__malformed__: hi"]


def test_oversize_message_dropped_alone():
    p = AmiParser(expect_banner=False, max_message=1024)
    big = b"Event: Big\r\n" + b"".join(b"K%d: %s\r\n" % (i, b"x" * 50) for i in range(100)) + b"\r\n"
    out = p.feed(b"Event: A\r\n\r\n" + big + b"Event: B\r\n\r\n")
    assert [m["Event"] for m in out] == ["A", "B"]
    errs = p.take_errors()
    assert len(errs) == 1 and isinstance(errs[0], AmiProtocolError)
    assert p.take_errors() == []


def test_oversize_single_line_streamed_memory_bounded():
    p = AmiParser(expect_banner=False, max_message=1024)
    assert p.feed(b"Event: A\r\nJunk: ") == []
    for _ in range(50):
        assert p.feed(b"y" * 4096) == []
    assert len(p._buf) < 2048
    out = p.feed(b"\r\nMore: z\r\n\r\nEvent: C\r\n\r\n")
    assert out == [{"Event": "C"}]
    assert len(p.take_errors()) == 1


def test_encode_action_orders_action_first_and_lists():
    data = encode_action({"ActionID": "7", "Action": "Originate", "Variable": ["a=1", "b=2"],
                          "Async": True, "Timeout": 30000})
    assert data == (b"Action: Originate\r\nActionID: 7\r\nVariable: a=1\r\nVariable: b=2\r\n"
                    b"Async: true\r\nTimeout: 30000\r\n\r\n")


@pytest.mark.parametrize("bad", [
    {"Action": "Ping", "X": "a\r\nAction: Originate"},
    {"Action": "Ping\n"},
    {"Action": "Ping", "Bad:Key": "v"},
    {"Action": "Ping", "": "v"},
    {"Action": "Ping", "Variable": ["ok", "bad\n"]},
    {"NoAction": "x"},
])
def test_encode_rejects_injection(bad):
    with pytest.raises(ValueError):
        encode_action(bad)


def test_roundtrip():
    msg = {"Action": "Setvar", "Variable": "X", "Value": " spaced  ", "Multi": ["1", "2", ""]}
    (back,) = AmiParser(expect_banner=False).feed(encode_message(msg))
    assert back == msg


def test_message_kind():
    assert message_kind({"Event": "Hangup"}) == "event"
    assert message_kind({"Response": "Error"}) == "response"
    assert message_kind({"Action": "Ping"}) == "action"
    assert message_kind({"Foo": "bar"}) == "unknown"
    # OriginateResponse carries a Response header but is an event
    assert message_kind({"Event": "OriginateResponse", "Response": "Failure"}) == "event"


def test_non_utf8_does_not_raise():
    (m,) = AmiParser(expect_banner=False).feed(b"Event: \xff\xfe\r\n\r\n")
    assert m["Event"] == "\ufffd\ufffd"

"""Property tests: arbitrary bytes only ever produce the documented protocol errors,
and encoders round-trip through their parsers."""
import uuid

from hypothesis import given, strategies as st
from tests.support.fuzzing import fuzz_settings

from ivr.ami.protocol import AmiParser, MALFORMED_KEY, encode_message
from ivr.dialog.agi import AgiProtocolError, agi_quote, parse_agi_env, parse_agi_response
from ivr.dialog.audiosocket import AudioSocketProtocolError, Frame, FrameDecoder, Kind, encode_frame

BOUNDED = fuzz_settings(300)

chunks = st.lists(st.binary(max_size=300), max_size=20)


@BOUNDED
@given(chunks)
def test_ami_parser_never_raises(parts):
    p = AmiParser(max_message=512)
    for part in parts:
        for msg in p.feed(part):
            assert isinstance(msg, dict)
            for key, value in msg.items():
                assert isinstance(key, str)
                assert isinstance(value, (str, list))
    p.take_errors()


header_key = st.text(st.characters(blacklist_characters=":\r\n", blacklist_categories=("Cs",)),
                     min_size=1, max_size=20).filter(lambda k: k == k.strip() and k != MALFORMED_KEY)
header_val = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=40)
values = st.one_of(header_val, st.lists(header_val, min_size=2, max_size=4))


@BOUNDED
@given(st.lists(st.dictionaries(header_key, values, min_size=1, max_size=6), max_size=5),
       st.integers(min_value=1, max_value=50))
def test_ami_roundtrip_any_split(messages, step):
    data = b"".join(encode_message(m) for m in messages)
    p = AmiParser(expect_banner=False)
    out = []
    for i in range(0, len(data), step):
        out += p.feed(data[i:i + step])
    assert out == messages


@BOUNDED
@given(st.lists(st.text(max_size=80), max_size=10))
def test_agi_env_only_protocol_errors(lines):
    try:
        parse_agi_env(lines)
    except AgiProtocolError:
        pass


@BOUNDED
@given(st.text(max_size=120))
def test_agi_response_only_protocol_errors(text):
    try:
        r = parse_agi_response(text)
    except AgiProtocolError:
        return
    assert 100 <= r.code <= 599


@BOUNDED
@given(st.sampled_from(["0", "1", "-1", "", "123#"]),
       st.one_of(st.none(), st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=30)),
       st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
                       st.from_regex(r"[A-Za-z0-9.]{0,8}", fullmatch=True), max_size=3))
def test_agi_response_roundtrip(result, data, extra):
    line = f"200 result={result}"
    if data is not None:
        line += f" ({data})"
    for k, v in extra.items():
        line += f" {k}={v}"
    r = parse_agi_response(line)
    assert (r.code, r.result, r.data, r.extra) == (200, result, data, extra)


def _unquote_like_asterisk(s: str) -> list[str]:
    """Model of res_agi's argument splitter (quotes group, backslash escapes)."""
    args, cur, quoted, escaped, started = [], [], False, False, False
    for ch in s:
        if escaped:
            cur.append(ch); escaped = False; started = True
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted; started = True
        elif ch in " \t" and not quoted:
            if started:
                args.append("".join(cur)); cur, started = [], False
        else:
            cur.append(ch); started = True
    if started:
        args.append("".join(cur))
    return args


@BOUNDED
@given(st.text(st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",)), max_size=40))
def test_agi_quote_roundtrip(arg):
    assert _unquote_like_asterisk("VERBOSE " + agi_quote(arg) + " 1") == ["VERBOSE", arg, "1"]


@BOUNDED
@given(chunks)
def test_audiosocket_decoder_only_protocol_errors(parts):
    dec = FrameDecoder()
    try:
        for part in parts:
            for frame in dec.feed(part):
                assert isinstance(frame, Frame)
    except AudioSocketProtocolError:
        pass


frames = st.one_of(
    st.just(Frame(Kind.HANGUP, b"")),
    st.uuids().map(lambda u: Frame(Kind.UUID, u.bytes)),
    st.sampled_from("0123456789*#ABCD").map(lambda d: Frame(Kind.DTMF, d.encode())),
    st.binary(max_size=400).map(lambda b: Frame(Kind.AUDIO, b[: len(b) // 2 * 2])),
    st.one_of(st.just(b""), st.binary(min_size=1, max_size=1)).map(lambda b: Frame(Kind.ERROR, b)),
)


@BOUNDED
@given(st.lists(frames, max_size=10), st.integers(min_value=1, max_value=64))
def test_audiosocket_roundtrip_any_split(items, step):
    data = b"".join(encode_frame(f.kind, f.payload) for f in items)
    dec = FrameDecoder()
    out = []
    for i in range(0, len(data), step):
        out += dec.feed(data[i:i + step])
    assert out == items
    for f in out:
        if f.kind == Kind.UUID:
            assert uuid.UUID(f.uuid).bytes == f.payload

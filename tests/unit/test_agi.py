"""FastAGI: pure parsers, and a session/server against a fake Asterisk over loopback."""
import asyncio
import functools

import pytest

from ivr.dialog.agi import (
    AgiProtocolError, AgiResult, AgiSession, CallHungUp, agi_quote, app_quote, parse_agi_env,
    parse_agi_response, start_agi_server,
)

pytestmark = pytest.mark.timeout(20)


def aio(fn):
    """Run an async test in its own loop (the project has no pytest-asyncio)."""
    @functools.wraps(fn)
    def wrapper(*a, **kw):
        asyncio.run(asyncio.wait_for(fn(*a, **kw), 15))
    return wrapper


ENV_LINES = [
    "agi_network: yes",
    "agi_network_script: survey?lang=ko",
    "agi_request: agi://127.0.0.1:4573/survey?lang=ko",
    "agi_channel: PJSIP/100-00000001",
    "agi_callerid: ",
    "agi_dnid:",
    "agi_arg_1: first",
    "agi_arg_2: second, with comma",
    "",
    "ignored: after blank",
]


# -- pure parsers --------------------------------------------------------------------

def test_parse_env():
    env = parse_agi_env(ENV_LINES)
    assert env["agi_request"] == "agi://127.0.0.1:4573/survey?lang=ko"
    assert env["agi_callerid"] == "" and env["agi_dnid"] == ""
    assert env["agi_arg_2"] == "second, with comma"
    assert "ignored" not in env


def test_parse_env_bytes_and_garbage():
    assert parse_agi_env([b"agi_channel: X\r\n", b"\n"]) == {"agi_channel": "X"}
    with pytest.raises(AgiProtocolError):
        parse_agi_env(["GET / HTTP/1.1"])


@pytest.mark.parametrize("line,expected", [
    ("200 result=1", AgiResult(200, "1")),
    ("200 result=0 (timeout)", AgiResult(200, "0", "timeout")),
    ("200 result=-1", AgiResult(200, "-1")),
    ("200 result= (timeout)", AgiResult(200, "", "timeout")),
    ("200 result=0 endpos=8000", AgiResult(200, "0", None, {"endpos": "8000"})),
    ("200 result=1 (dtmf) endpos=1234", AgiResult(200, "1", "dtmf", {"endpos": "1234"})),
    ("200 result=1 (a (nested) value) ", AgiResult(200, "1", "a (nested) value")),
    ("200 result=1 (x) y) endpos=5", AgiResult(200, "1", "x) y", {"endpos": "5"})),
    ("510 Invalid or unknown command", AgiResult(510, "", "Invalid or unknown command")),
    ("511 Command Not Permitted on a dead channel or intercept routine",
     AgiResult(511, "", "Command Not Permitted on a dead channel or intercept routine")),
])
def test_parse_response(line, expected):
    assert parse_agi_response(line) == expected


def test_parse_520_block():
    text = "520-Invalid command syntax.  Proper usage follows:\nUsage: ANSWER\n520 End of proper usage."
    r = parse_agi_response(text)
    assert r.code == 520 and "Usage: ANSWER" in r.data


@pytest.mark.parametrize("garbage", ["", "HELLO", "200", "200 foo", "20 result=1", "999 x",
                                      "200 result=1 (unclosed", "200 result=1 trailing junk",
                                      "201-multi"])
def test_parse_response_garbage(garbage):
    with pytest.raises(AgiProtocolError):
        parse_agi_response(garbage)


def test_quoting():
    assert agi_quote('say "hi" \\o/') == '"say \\"hi\\" \\\\o/"'
    assert app_quote("hello") == "hello"
    assert app_quote("a,b(c)") == "a\\,b\\(c\\)"
    with pytest.raises(ValueError):
        agi_quote("x\nHANGUP")


# -- fake Asterisk -------------------------------------------------------------------

class FakeAsterisk:
    """Connects to our AGI server like Asterisk does and answers commands from a script."""

    def __init__(self, port, path="survey", replies=None):
        self.port, self.path = port, path
        self.replies = replies or {}
        self.received: list[str] = []
        self.hangup_after: str | None = None  # send HANGUP before answering this command

    async def run(self):
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        env = [l.replace("survey", self.path) for l in ENV_LINES[:-1]]
        writer.write(("\n".join(env) + "\n").encode())
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                cmd = line.decode().rstrip("\n")
                self.received.append(cmd)
                verb = cmd.split(" ", 1)[0]
                if self.hangup_after and cmd.startswith(self.hangup_after):
                    writer.write(b"HANGUP\n")
                    self.hangup_after = None
                    writer.write(b"200 result=-1\n")
                elif cmd in self.replies:
                    writer.write(self.replies[cmd].encode() + b"\n")
                elif verb == "GET":
                    writer.write(b"200 result=1 (v a l)\n")
                elif verb == "ANSWER":
                    writer.write(b"520-Invalid command syntax.  Proper usage follows:\nUsage: ANSWER\n"
                                 b"520 End of proper usage.\n")
                else:
                    writer.write(b"200 result=0\n")
                await writer.drain()
        finally:
            writer.close()


async def server_with(routes):
    server = await start_agi_server("127.0.0.1", 0, routes)
    return server, server.sockets[0].getsockname()[1]


@aio
async def test_session_commands_and_helpers():
    got = {}

    async def survey(session: AgiSession):
        got["request"] = session.request
        got["query"] = session.query
        got["args"] = session.args
        got["var"] = await session.get_variable("CALLERID(num)")
        await session.set_variable("X", 'he said "hi"')
        got["exec"] = await session.exec("Playback", "hello", "a,b")
        got["520"] = await session.command("ANSWER")
        await session.verbose("done")

    server, port = await server_with({"/survey/": survey})
    async with server:
        fake = FakeAsterisk(port, replies={"GET VARIABLE \"CALLERID(num)\"": "200 result=1 (010 (x))"})
        await fake.run()
    assert got["request"] == "survey" and got["query"] == {"lang": "ko"}
    assert got["args"] == ["first", "second, with comma"]
    assert got["var"] == "010 (x)"
    assert got["exec"].code == 200 and got["520"].code == 520
    assert fake.received[1] == 'SET VARIABLE "X" "he said \\"hi\\""'
    assert fake.received[2] == 'EXEC Playback "hello,a\\\\,b"'
    assert fake.received[-1] == 'VERBOSE "done" 1'


@aio
async def test_hangup_line_raises_callhungup_and_keeps_in_step():
    outcome = {}

    async def survey(session):
        try:
            await session.exec("Playback", "long-prompt")
        except CallHungUp as exc:
            outcome["hung"] = str(exc)
        with pytest.raises(CallHungUp):
            await session.command("STREAM FILE x \"\"")  # not sent: already hung up
        outcome["cause"] = await session.get_variable("HANGUPCAUSE")  # allowed on dead channel

    server, port = await server_with({"survey": survey})
    async with server:
        fake = FakeAsterisk(port, replies={'GET VARIABLE "HANGUPCAUSE"': "200 result=1 (16)"})
        fake.hangup_after = "EXEC"
        await fake.run()
    assert "hung" in outcome and outcome["cause"] == "16"
    assert not any(c.startswith("STREAM") for c in fake.received)


@aio
async def test_511_and_socket_close_raise_callhungup():
    errors = []

    async def survey(session):
        try:
            await session.command("SAY DIGITS 1 \"\"")
        except CallHungUp:
            errors.append("511")

    server, port = await server_with({"survey": survey})
    async with server:
        await FakeAsterisk(port, replies={'SAY DIGITS 1 ""': "511 Command Not Permitted on a dead channel or intercept routine"}).run()
    assert errors == ["511"]

    # socket closed by Asterisk mid-call
    async def pair():
        srv_conn = asyncio.get_running_loop().create_future()
        srv = await asyncio.start_server(lambda r, w: srv_conn.set_result((r, w)), "127.0.0.1", 0)
        r, w = await asyncio.open_connection("127.0.0.1", srv.sockets[0].getsockname()[1])
        return srv, (r, w), await srv_conn
    srv, (cr, cw), (sr, sw) = await pair()
    session = AgiSession(sr, sw)
    cw.close()
    with pytest.raises(CallHungUp):
        await session.command("ANSWER")
    await session.close()
    srv.close()


@aio
async def test_unknown_route_and_handler_crash_do_not_stop_server(caplog):
    calls = []

    async def boom(session):
        calls.append("boom")
        raise RuntimeError("handler bug")

    async def ok(session):
        calls.append("ok")
        await session.verbose("hi")

    server, port = await server_with({"boom": boom, "ok": ok})
    async with server:
        unknown = FakeAsterisk(port, path="nope")
        await unknown.run()
        assert unknown.received and unknown.received[0].startswith("VERBOSE")
        await FakeAsterisk(port, path="boom").run()
        # garbage client
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"\x00\x01garbage\n\n")
        await w.drain()
        assert await r.read() == b""
        w.close()
        await FakeAsterisk(port, path="ok").run()
    assert calls == ["boom", "ok"]
    assert "unknown route" in caplog.text and "handler bug" in caplog.text
    assert "dropped before start" in caplog.text


def test_command_rejects_newlines():
    async def main():
        r = asyncio.StreamReader()
        session = AgiSession(r, None)
        with pytest.raises(ValueError):
            await session.command("VERBOSE x\nHANGUP")
    asyncio.run(main())

"""AmiClient against a small fake AMI server on 127.0.0.1 (port 0)."""
import asyncio
import functools
import inspect
import logging

import pytest

from ivr.ami.client import AmiAuthError, AmiClient, AmiDisconnected, AmiTimeout
from ivr.ami.protocol import AmiParser, encode_message

pytestmark = pytest.mark.timeout(20)


class FakeAmi:
    """Speaks just enough AMI: Login, Ping, CoreShowChannels, Originate, and 'Hang' (never answers)."""

    def __init__(self, secret="s3cret"):
        self.secret = secret
        self.answer_ping = True
        self.actions: list[dict] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.logins = 0
        self.server = None
        self.port = None

    async def start(self):
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self):
        self.server.close()
        self.drop_all()
        await self.server.wait_closed()

    def drop_all(self):
        for w in self.writers:
            w.transport.abort()
        self.writers.clear()

    def send_event(self, **fields):
        for w in self.writers:
            w.write(encode_message(fields))

    async def _conn(self, reader, writer):
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        parser = AmiParser(expect_banner=False)
        authed = False
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                for a in parser.feed(data):
                    self.actions.append(a)
                    name, aid = a.get("Action"), a.get("ActionID")
                    out = []
                    if name == "Login":
                        if a.get("Secret") == self.secret:
                            authed = True
                            self.logins += 1
                            out.append({"Response": "Success", "ActionID": aid,
                                        "Message": "Authentication accepted"})
                            out.append({"Event": "FullyBooted", "Status": "Fully Booted"})
                        else:
                            out.append({"Response": "Error", "ActionID": aid,
                                        "Message": "Authentication failed"})
                    elif not authed:
                        out.append({"Response": "Error", "ActionID": aid, "Message": "Permission denied"})
                    elif name == "Ping":
                        if self.answer_ping:
                            out.append({"Response": "Success", "ActionID": aid, "Ping": "Pong"})
                    elif name == "CoreShowChannels":
                        out += [
                            {"Response": "Success", "ActionID": aid, "EventList": "start",
                             "Message": "Channels will follow"},
                            {"Event": "CoreShowChannel", "ActionID": aid, "Channel": "PJSIP/a-1"},
                            {"Event": "TestEvent", "Type": "StateChange"},
                            {"Event": "Newexten", "Channel": "PJSIP/z-9"},
                            {"Event": "CoreShowChannel", "ActionID": aid, "Channel": "PJSIP/b-2"},
                            {"Event": "CoreShowChannelsComplete", "ActionID": aid,
                             "EventList": "Complete", "ListItems": "2"},
                        ]
                    elif name == "Originate":
                        out += [
                            {"Response": "Success", "ActionID": aid, "Message": "Originate successfully queued"},
                            {"Event": "OriginateResponse", "ActionID": aid, "Response": "Success",
                             "Channel": "PJSIP/100-1"},
                        ]
                    elif name == "Hang":
                        pass
                    elif name == "Logoff":
                        out.append({"Response": "Goodbye", "ActionID": aid})
                    else:
                        out.append({"Response": "Error", "ActionID": aid, "Message": "Invalid/unknown command"})
                    for m in out:
                        writer.write(encode_message(m))
        except (ConnectionError, OSError):
            pass
        finally:
            if writer in self.writers:
                self.writers.remove(writer)
            writer.close()


def with_fake(fn):
    """Run an async test in a fresh event loop with a started FakeAmi as its first argument.

    (No pytest-asyncio in this project: each test owns its loop via asyncio.run.)
    """
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        async def main():
            fake = await FakeAmi().start()
            try:
                await asyncio.wait_for(fn(fake, *args, **kwargs), 15)
            finally:
                await fake.stop()
        asyncio.run(main())
    sig = inspect.signature(fn)
    wrapper.__signature__ = sig.replace(parameters=list(sig.parameters.values())[1:])
    return wrapper


def make_client(fake, secret="s3cret", **kw):
    events, states = [], []

    async def on_event(e):
        events.append(e)

    async def on_state(s):
        states.append(s)

    kw.setdefault("ping_interval", 0.1)
    kw.setdefault("ping_timeout", 0.2)
    kw.setdefault("reconnect_backoff", (0.05, 0.2))
    client = AmiClient("127.0.0.1", fake.port, "huifang", secret,
                       on_event=kw.pop("on_event", on_event), on_state=on_state, **kw)
    return client, events, states


async def until(pred, timeout=3.0):
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.01)


@with_fake
async def test_login_ok_and_state(fake):
    client, events, states = make_client(fake)
    await client.start()
    try:
        assert client.connected
        await client.wait_connected(1)
        await until(lambda: states == [True] and any(e["Event"] == "FullyBooted" for e in events))
        assert client.banner == "Asterisk Call Manager/9.0.0"
    finally:
        await client.close()
    assert not client.connected
    assert states == [True, False]
    assert fake.actions[-1]["Action"] == "Logoff"


@with_fake
async def test_login_bad_secret(fake):
    client, _, _ = make_client(fake, secret="wrong")
    with pytest.raises(AmiAuthError):
        await client.start()
    assert not client.connected
    await client.close()


@with_fake
async def test_action_correlation(fake):
    client, _, _ = make_client(fake, ping_interval=10)
    await client.start()
    try:
        r1, r2 = await asyncio.gather(
            client.send_action({"Action": "Ping"}),
            client.send_action({"Action": "Nope", "ActionID": "mine-1"}))
        assert r1["Ping"] == "Pong" and r1["ActionID"]
        assert r2["ActionID"] == "mine-1" and r2["Response"] == "Error"
        with pytest.raises(ValueError):
            await client.send_action({"Action": "Ping", "X": "a\r\nAction: Originate"})
    finally:
        await client.close()


@with_fake
async def test_event_list_and_testevent_filtered(fake):
    client, events, _ = make_client(fake, ping_interval=10)
    await client.start()
    try:
        resp, items = await client.send_action_list({"Action": "CoreShowChannels"})
        assert resp["EventList"] == "start"
        assert [e["Channel"] for e in items] == ["PJSIP/a-1", "PJSIP/b-2"]
        await until(lambda: any(e.get("Event") == "Newexten" for e in events))
        assert not any(e.get("Event") == "TestEvent" for e in events)
        assert not any(e.get("Event") == "CoreShowChannel" for e in events)
    finally:
        await client.close()


@with_fake
async def test_originate_response_goes_to_on_event(fake):
    client, events, _ = make_client(fake, ping_interval=10)
    await client.start()
    try:
        resp = await client.send_action({"Action": "Originate", "ActionID": "orig-1", "Async": True})
        assert resp["Response"] == "Success"
        await until(lambda: any(e.get("Event") == "OriginateResponse" for e in events))
        (ev,) = [e for e in events if e.get("Event") == "OriginateResponse"]
        assert ev["ActionID"] == "orig-1"
    finally:
        await client.close()


@with_fake
async def test_events_in_order_and_handler_errors_survive(fake, caplog):
    seen = []

    async def on_event(e):
        if e.get("Event") == "Boom":
            raise RuntimeError("handler bug")
        seen.append(e.get("N"))

    client, _, _ = make_client(fake, ping_interval=10, on_event=on_event)
    await client.start()
    try:
        await until(lambda: fake.writers)
        for i in range(50):
            fake.send_event(Event="Tick", N=str(i))
            if i == 10:
                fake.send_event(Event="Boom")
        await until(lambda: len(seen) >= 50)
        assert [int(n) for n in seen if n is not None] == list(range(50))
        assert client.connected
        assert "handler raised" in caplog.text
    finally:
        await client.close()


@with_fake
async def test_disconnect_fails_in_flight_without_resend_then_reconnects(fake):
    client, _, states = make_client(fake, ping_interval=10)
    await client.start()
    try:
        task = asyncio.create_task(client.send_action({"Action": "Hang", "ActionID": "h1"}, timeout=5))
        await until(lambda: any(a.get("Action") == "Hang" for a in fake.actions))
        fake.drop_all()
        with pytest.raises(AmiDisconnected):
            await task
        await until(lambda: fake.logins == 2)
        await client.wait_connected(3)
        r = await client.send_action({"Action": "Ping"})
        assert r["Ping"] == "Pong"
        assert sum(a.get("Action") == "Hang" for a in fake.actions) == 1
        assert states[:3] == [True, False, True]
    finally:
        await client.close()


@with_fake
async def test_reconnect_after_server_restart(fake):
    client, _, _ = make_client(fake, ping_interval=10)
    await client.start()
    try:
        port = fake.port
        await fake.stop()
        await until(lambda: not client.connected)
        with pytest.raises(AmiDisconnected):
            await client.send_action({"Action": "Ping"})
        await asyncio.sleep(0.3)  # a few refused reconnect attempts
        fake.server = await asyncio.start_server(fake._conn, "127.0.0.1", port)
        await client.wait_connected(3)
        assert (await client.send_action({"Action": "Ping"}))["Ping"] == "Pong"
    finally:
        await client.close()


@with_fake
async def test_watchdog_drops_silent_server(fake, caplog):
    caplog.set_level(logging.WARNING, logger="ivr.ami")
    client, _, states = make_client(fake, ping_interval=0.1, ping_timeout=0.2)
    await client.start()
    try:
        fake.answer_ping = False
        await until(lambda: False in states)
        assert "no reply to Ping" in caplog.text
        fake.answer_ping = True
        await until(lambda: fake.logins >= 2)
        await client.wait_connected(3)
    finally:
        await client.close()


@with_fake
async def test_timeout_and_not_connected(fake):
    client, _, _ = make_client(fake, ping_interval=10)
    with pytest.raises(AmiDisconnected):
        await client.send_action({"Action": "Ping"})
    await client.start()
    try:
        with pytest.raises(AmiTimeout):
            await client.send_action({"Action": "Hang"}, timeout=0.1)
        assert client.connected
    finally:
        await client.close()


@with_fake
async def test_garbage_from_server_is_logged_not_fatal(fake, caplog):
    client, events, _ = make_client(fake, ping_interval=10)
    await client.start()
    try:
        await until(lambda: fake.writers)
        fake.writers[0].write(b"\x00\xff random junk\r\nmore: junk\r\n\r\n")
        fake.send_event(Event="After")
        await until(lambda: any(e.get("Event") == "After" for e in events))
        assert client.connected
        assert "malformed" in caplog.text or "unrecognised" in caplog.text
    finally:
        await client.close()

"""The test stacks' port allocator (tests/support/port_blocks.py): blocks never overlap between holders
in one process or in two, a block where something else is bound is skipped, a dead holder's block
comes back, and one instance's ports all fit in one block. Fast: no Asterisk, ports above 65000."""
from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from ivr.config import MAX_DIALOG_WORKERS, METRICS_PORT_OFFSETS, REPO_ROOT, Settings
from ivr.sim.pool import AGENT_RTP_SLOT
from tests.support import port_blocks

SIZE = 100
BASES = (65100, 65200, 65300)  # above every real block (port_blocks.END_PORT) and Linux's ephemeral range


@pytest.fixture(autouse=True, scope="module")
def these_ports_to_ourselves():
    """Another run of this module at the same time (a second `make test`, or another xdist worker) would
    see our binds in BASES and we theirs: take turns on them."""
    port_blocks.LOCK_DIR.mkdir(parents=True, exist_ok=True)
    with open(port_blocks.LOCK_DIR / f"unit-test-{BASES[0]}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def whole_block(base: int) -> set[int]:
    return set(range(base, base + SIZE))


def reserve(lock_dir, **kwargs):
    """A block of these tests' own, every port of it strict unless `listeners` says otherwise."""
    return port_blocks.reserve(bases=kwargs.pop("bases", BASES), size=SIZE, lock_dir=lock_dir,
                               listeners=kwargs.pop("listeners", whole_block), **kwargs)


def holder(lock_dir) -> tuple[subprocess.Popen, int]:
    """Another process holding one block until its stdin closes; (process, its base)."""
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        import pytest
        from tests.support import port_blocks
        block = port_blocks.reserve(bases={BASES!r}, size={SIZE}, lock_dir=Path({str(lock_dir)!r}))
        print(block.base, flush=True)
        sys.stdin.read()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=str(REPO_ROOT), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    return proc, int(proc.stdout.readline())


def test_two_reservations_in_one_process_never_overlap(tmp_path):
    a, b = reserve(tmp_path), reserve(tmp_path)
    try:
        assert a.base != b.base and not set(a.ports) & set(b.ports)
    finally:
        a.release()
        b.release()


def test_a_reservation_in_another_process_is_never_handed_out_here(tmp_path):
    proc, theirs = holder(tmp_path)
    try:
        mine = [reserve(tmp_path), reserve(tmp_path)]
        assert theirs not in {b.base for b in mine}
        with pytest.raises(port_blocks.NoFreeBlock, match="locked by another run"):
            reserve(tmp_path)  # all three are held now
        for b in mine:
            b.release()
    finally:
        proc.stdin.close()
        proc.wait(10)


def test_a_killed_holders_block_is_free_again(tmp_path):
    proc, theirs = holder(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    block = reserve(tmp_path)
    try:
        assert block.base == theirs == BASES[0]
    finally:
        block.release()


def test_a_released_block_can_be_reserved_again(tmp_path):
    first = reserve(tmp_path)
    first.release()
    first.release()  # twice is harmless
    again = reserve(tmp_path)
    try:
        assert again.base == first.base
    finally:
        again.release()


@pytest.mark.parametrize("kind, offset", [(socket.SOCK_STREAM, 74), (socket.SOCK_DGRAM, 99)])
def test_a_block_with_a_port_bound_by_someone_else_is_skipped(tmp_path, kind, offset):
    with socket.socket(socket.AF_INET, kind) as other:
        other.bind(("127.0.0.1", BASES[0] + offset))
        if kind == socket.SOCK_STREAM:
            other.listen()
        block = reserve(tmp_path)
        try:
            assert block.base == BASES[1]
        finally:
            block.release()
        with pytest.raises(port_blocks.NoFreeBlock, match=rf"{BASES[0]}: \w+/{BASES[0] + offset} is in use"):
            reserve(tmp_path, bases=BASES[:1])


def test_stray_sockets_off_the_listener_ports_are_tolerated(tmp_path, monkeypatch):
    """A listener port taken refuses the block; other ports (RTP, stepped over by their users) may
    hold up to STRAYS_TOLERATED sockets of other programs, one more and the block is refused."""
    monkeypatch.setattr(port_blocks, "STRAYS_TOLERATED", 1)
    listeners = lambda base: {base + 10, base + 49}  # noqa: E731
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stray:
        stray.bind(("127.0.0.1", BASES[0] + 80))
        reserve(tmp_path, bases=BASES[:1], listeners=listeners).release()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as second:
            second.bind(("127.0.0.1", BASES[0] + 90))
            second.listen()
            with pytest.raises(port_blocks.NoFreeBlock, match=rf"2 ports are in use \(tcp/{BASES[0] + 90}, udp/{BASES[0] + 80}"):
                reserve(tmp_path, bases=BASES[:1], listeners=listeners)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client_side:
        client_side.bind(("127.0.0.1", BASES[0] + 49))
        with pytest.raises(port_blocks.NoFreeBlock, match=rf"tcp/{BASES[0] + 49} is in use"):
            reserve(tmp_path, bases=BASES[:1], listeners=listeners)


def test_the_strict_ports_are_every_listener_of_a_stack():
    """What `instance_listeners` names must cover every fixed listener port a stack binds."""
    base = port_blocks.BASES[0]
    s = Settings(port_base=base)
    fixed = {s.ami_port_effective, s.sip_port, s.trunk_port_effective, s.agent_port, s.agi_port,
             s.audiosocket_port, s.web_port_effective, *(s.metrics_port(p) for p in METRICS_PORT_OFFSETS),
             s.agent_port + 5, base + 39, base + 61,
             *(p for i in range(1, MAX_DIALOG_WORKERS) for p in (s.worker_audiosocket_port(i), s.worker_metrics_port(i)))}
    assert fixed <= port_blocks.instance_listeners(base)
    assert not set(range(*s.rtp_range)) & port_blocks.instance_listeners(base)


def test_waits_for_a_block_then_says_what_was_in_the_way(tmp_path):
    held = reserve(tmp_path, bases=BASES[:1])
    try:
        with pytest.raises(port_blocks.NoFreeBlock) as exc:
            reserve(tmp_path, bases=BASES[:1], wait_s=1.2)
        assert f"{BASES[0]}: locked by another run ({tmp_path / f'{BASES[0]}.lock'})" in str(exc.value)
    finally:
        held.release()


def test_every_port_of_an_instance_lies_inside_its_block():
    """If a setting ever derives a port beyond the block, two test stacks could share it."""
    base = port_blocks.BASES[0]
    s = Settings(port_base=base)
    ports = {s.ami_port_effective, s.sip_port, s.trunk_port_effective, s.agent_port, s.agi_port,
             s.audiosocket_port, s.web_port_effective, *(s.metrics_port(p) for p in METRICS_PORT_OFFSETS),
             *range(s.rtp_range[0], s.rtp_range[1] + 1),
             *range(s.sim_rtp_base, s.sim_rtp_base + 100 * (AGENT_RTP_SLOT + 1)),  # borrower workers + agents
             s.agent_port + 5, *range(s.sim_rtp_base + 900, s.sim_rtp_base + 1000),  # test_agents' second pool
             base + 39, base + 61}  # tests/integration/lender_pbx.py
    workers = range(1, MAX_DIALOG_WORKERS)   # worker 0 is audiosocket_port and metrics_port("dialog")
    worker_ports = {p for i in workers for p in (s.worker_audiosocket_port(i), s.worker_metrics_port(i))}
    assert len(worker_ports) == 2 * len(workers) and not worker_ports & ports, "a dialog worker port taken twice"
    ports |= worker_ports
    assert min(ports) >= base and max(ports) < base + port_blocks.BLOCK_SIZE, (min(ports), max(ports))


def test_the_real_blocks_do_not_overlap_and_are_real_ports():
    bases = sorted(port_blocks.BASES)
    assert all(b - a >= port_blocks.BLOCK_SIZE for a, b in zip(bases, bases[1:]))
    assert bases[0] >= 1024 and bases[-1] + port_blocks.BLOCK_SIZE <= port_blocks.END_PORT <= min(BASES)
    demo = range(Settings().port_base, Settings().port_base + port_blocks.BLOCK_SIZE)
    assert not [b for b in bases if b < demo.stop and demo.start < b + port_blocks.BLOCK_SIZE]  # never the demo's


@pytest.mark.parametrize("ephemeral", [range(32768, 61000), range(49152, 65536), range(1024, 65536), range(10000, 20000)])
def test_blocks_clear_of_the_ephemeral_range_come_first(ephemeral):
    """Outgoing connections and stray UDP sockets land anywhere in the ephemeral range, so every
    block there is a last resort, after every block clear of it."""
    bases = port_blocks.candidate_bases(ephemeral)
    inside = [b for b in bases if set(range(b, b + port_blocks.BLOCK_SIZE)) & set(ephemeral)]
    assert bases[len(bases) - len(inside):] == tuple(inside), "a block in the ephemeral range before a clear one"
    assert all(b in ephemeral and b + port_blocks.BLOCK_SIZE <= ephemeral.stop for b in inside)
    assert sorted(bases) == sorted(set(bases))


def test_on_linux_defaults_nine_blocks_lie_clear_of_the_ephemeral_range():
    """Two test runs at once hold up to about eight blocks together (carrier trunk: three at once)."""
    bases = port_blocks.candidate_bases(range(32768, 61000))
    assert bases[:9] == (2000, 5000, 8000, 11000, 18000, 21000, 24000, 27000, 61000)
    assert all(b >= 32768 for b in bases[9:])


def test_the_stack_settings_fixture_frees_a_block_when_its_owner_is_torn_down(tmp_path):
    """tests/conftest.py in a pytest run of its own: a session fixture's block is held to the end,
    a module fixture's is free for the next module, one taken in a test body is free after that test;
    each stack gets `<name>-<base>` as instance and a fresh run directory holding its database."""
    record = tmp_path / "record.txt"
    (tmp_path / "conftest.py").write_text(textwrap.dedent(f"""
        from pathlib import Path
        import pytest
        from tests.support import port_blocks
        from tests.conftest import *  # noqa: F403 - the fixture and its hooks
        import tests.conftest
        tests.conftest.WAIT_FOR_BLOCK_S = 0  # a block not given back fails at once
        port_blocks.BASES, port_blocks.BLOCK_SIZE = {BASES!r}, {SIZE}
        port_blocks.LOCK_DIR = Path({str(tmp_path / "locks")!r})

        def note(settings):
            with open({str(record)!r}, "a") as fh:
                fh.write(f"{{settings.instance}} {{settings.port_base}} {{settings.database.parent.is_dir()}}\\n")

        @pytest.fixture(scope="session")
        def whole_session(stack_settings):
            return stack_settings("sess")
    """))
    module = textwrap.dedent("""
        import pytest
        from conftest import note

        @pytest.fixture(scope="module")
        def this_module(stack_settings):
            return stack_settings("mod")

        def test_fixtures(whole_session, this_module):
            note(whole_session)
            note(this_module)

        def test_body(whole_session, this_module, stack_settings):
            note(stack_settings("body"))
    """)
    (tmp_path / "test_a.py").write_text(module)
    (tmp_path / "test_b.py").write_text(module)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          f"--basetemp={tmp_path / 'base'}", str(tmp_path)],
                         cwd=str(tmp_path), env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    a, b, c = BASES
    assert record.read_text().split("\n") == [
        f"sess-{a} {a} True", f"mod-{b} {b} True", f"body-{c} {c} True",   # test_a.py
        f"sess-{a} {a} True", f"mod-{b} {b} True", f"body-{c} {c} True",   # test_b.py: mod and body came back
        ""]
    for base in BASES:  # and nothing is held after the session
        reserve(tmp_path / "locks", bases=(base,)).release()

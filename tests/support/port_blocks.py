"""Port blocks for test stacks: free right now, and reserved against every other test run on this machine.

Why it looks like this: every port of one Huifang instance derives from `Settings.port_base`
(ivr/config.py): listeners at +38..+584, Asterisk's RTP at +1000..+1999, the phone simulators' RTP
at +2000..+2999 (test_agents' second agent pool takes the last 100). So a test stack needs one
contiguous block of `BLOCK_SIZE` ports, and two test runs (two `make test` at once, or a test run
beside the demo) must never get overlapping blocks. Two checks, both needed:

* a lock: an exclusive `fcntl.flock` on `<lock dir>/<base>.lock`, taken without waiting and held
  while the block is in use. Two runs of ours never share a block even while neither has bound a
  port yet, and the lock dies with its process, so a crashed run never leaves a block locked.
* a bind test of every port in the block, TCP and UDP, on the address the stack binds: a block
  where a demo, a bench or a crashed run's Asterisk that outlived its lock is bound is skipped
  (6000 binds take about 0.1 s); a listener taken would be a hard failure, a whole RTP range
  taken would make calls fail in ways that look like product bugs.

Where the blocks lie: outside the kernel's ephemeral port range first (read from
/proc/sys/net/ipv4/ip_local_port_range; 32768-60999 on Linux by default), and never on the demo's
default block (15000-17999). Inside the ephemeral range every process's outgoing connections and
unconnected UDP sockets (each Asterisk's and each phone pool's SIP resolver, PostgreSQL clients,
Chromium) land on random ports: with a dozen stacks and a browser up, every 3000-port block there
held one of them (seen in a full run: ten blocks refused for one stray socket each, the eleventh
stack waited four minutes and failed; a run beside another found client sockets of calls — AGI and
AudioSocket connections, AMI and PostgreSQL clients — anywhere in them). So the bind test is strict
only where it has to be: every port a stack listens on (`instance_listeners`) must be free, while
up to STRAYS_TOLERATED foreign sockets are tolerated on the block's other ports, which are RTP ports
picked from a range by users that step over a taken one (Asterisk's RTP allocation, pjsua's
port_range) or not used at all. A client socket cannot take a listener's port while the listener
holds it (the kernel skips bound ports for connect()), so blocks inside the ephemeral range are a
sound overflow when two runs share the machine. This machine fits nine blocks clear of the
ephemeral range (2000-13999, 18000-29999, 61000-63999) and nine inside it. Ports from 65000 up
belong to tests/unit/test_port_blocks.py.

The lock files are never removed (removing a lock file races with its next user).
"""
from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ivr.config import MAX_DIALOG_WORKERS, METRICS_PORT_OFFSETS, Settings

log = logging.getLogger(__name__)

BLOCK_SIZE = 3000
STRAYS_TOLERATED = 100  # other programs' sockets on a block's non-listener ports (5 % of its RTP ports)
DEMO_BLOCK = range(15000, 15000 + BLOCK_SIZE)  # Settings().port_base: the demo's and `ivr` commands' own
FIRST_PORT, END_PORT = 2000, 65000   # below: well-known and registered services; above: the unit test's
DEFAULT_EPHEMERAL = range(32768, 61000)


def ephemeral_ports(path: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> range:
    """The ports the kernel hands out to outgoing connections and unbound sockets."""
    try:
        low, high = (int(v) for v in path.read_text().split())
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL
    return range(low, high + 1)


def candidate_bases(ephemeral: range, size: int = BLOCK_SIZE) -> tuple[int, ...]:
    """Block bases packed into FIRST_PORT..END_PORT around the demo's block: those clear of the
    ephemeral range first, then those inside it (each list ascending)."""
    clear, inside = [], []
    base = FIRST_PORT
    while base + size <= END_PORT:
        block = range(base, base + size)
        if _overlap(block, DEMO_BLOCK):
            base = DEMO_BLOCK.stop
        elif base < ephemeral.start < block.stop:
            base = ephemeral.start  # a block straddling its start: pack the range from there
        elif base < ephemeral.stop < block.stop:
            base = ephemeral.stop   # straddling its end: the next block starts right after it
        else:
            (inside if base in ephemeral else clear).append(base)
            base += size
    return tuple(clear + inside)


def _overlap(a: range, b: range) -> bool:
    return a.start < b.stop and b.start < a.stop


BASES = candidate_bases(ephemeral_ports())
LOCK_DIR = Path("/tmp/huifang-test-ports")


class NoFreeBlock(RuntimeError):
    pass


@dataclass
class PortBlock:
    base: int
    size: int
    lock_path: Path
    fd: int | None

    @property
    def ports(self) -> range:
        return range(self.base, self.base + self.size)

    def release(self) -> None:
        """Give the block back (closing the file drops the lock). Safe to call twice."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
            log.info("port block %d released", self.base)


def busy_ports(ports: Iterable[int], host: str = "127.0.0.1", limit: int = 1) -> list[str]:
    """'tcp/<port>' / 'udp/<port>' for ports in `ports` something else holds, at most `limit` of them.

    TCP is tried with SO_REUSEADDR, as servers bind: a connection in TIME_WAIT does not stop a
    listener, so it does not make the block busy either. UDP without it: any bound socket counts."""
    found: list[str] = []
    for kind, name in ((socket.SOCK_STREAM, "tcp"), (socket.SOCK_DGRAM, "udp")):
        for port in ports:
            with socket.socket(socket.AF_INET, kind) as sock:
                if kind == socket.SOCK_STREAM:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((host, port))
                except OSError as exc:
                    if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                        raise
                    found.append(f"{name}/{port}")
                    if len(found) >= limit:
                        return found
    return found


def instance_listeners(base: int) -> set[int]:
    """Every port a test stack on `base` listens on (TCP or UDP), as ivr/config.py derives them, plus
    the tests' own: the lender PBX (tests/integration/lender_pbx.py) and test_agents' second pool."""
    s = Settings(port_base=base)
    ports = {s.ami_port_effective, s.sip_port, s.trunk_port_effective, s.agent_port, s.agent_port + 5,
             s.agi_port, s.audiosocket_port, s.web_port_effective, base + 39, base + 61,
             *(s.metrics_port(p) for p in METRICS_PORT_OFFSETS)}
    for i in range(1, MAX_DIALOG_WORKERS):
        ports |= {s.worker_audiosocket_port(i), s.worker_metrics_port(i)}
    return ports


def in_the_way(base: int, size: int, host: str = "127.0.0.1",
               listeners: Callable[[int], set[int]] = instance_listeners) -> str | None:
    """Why the block at `base` cannot be used, or None: one of its listener ports taken, or more than
    STRAYS_TOLERATED of its other ports (see the module docstring)."""
    block = range(base, base + size)
    strict = set(block) & listeners(base)
    taken = busy_ports(sorted(strict), host)
    if taken:
        return f"{taken[0]} is in use"
    rest = [port for port in block if port not in strict]
    strays = busy_ports(rest, host, limit=STRAYS_TOLERATED + 1)
    if len(strays) > STRAYS_TOLERATED:
        return f"{len(strays)} ports are in use ({', '.join(strays[:3])}, ...)"
    return None


def _lock(path: Path) -> int | None:
    """An fd holding an exclusive lock on `path`, or None when another open file holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)  # who holds it, for a person looking at the lock directory
    os.write(fd, f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
    return fd


def reserve(*, bases: tuple[int, ...] | None = None, size: int | None = None, lock_dir: Path | None = None,
            host: str = "127.0.0.1", wait_s: float = 0.0,
            listeners: Callable[[int], set[int]] = instance_listeners) -> PortBlock:
    """The first block in `bases` (default BASES) that no other holder has locked, with its
    `listeners` free and hardly anything else bound. With every block taken, tries again each second
    for `wait_s` (another run may give one back at the end of a test module), then raises NoFreeBlock
    naming what was in the way."""
    bases = BASES if bases is None else bases
    size = BLOCK_SIZE if size is None else size
    lock_dir = Path(LOCK_DIR if lock_dir is None else lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    while True:
        refusals = []
        for base in bases:
            path = lock_dir / f"{base}.lock"
            fd = _lock(path)
            if fd is None:
                refusals.append(f"{base}: locked by another run ({path})")
                continue
            busy = in_the_way(base, size, host, listeners)
            if busy is None:
                log.info("port block %d..%d reserved (%s)", base, base + size - 1, path)
                return PortBlock(base, size, path, fd)
            os.close(fd)
            refusals.append(f"{base}: {busy}")
        if time.monotonic() >= deadline:
            raise NoFreeBlock(f"no free block of {size} ports on {host}; tried:\n  " + "\n  ".join(refusals))
        time.sleep(1.0)

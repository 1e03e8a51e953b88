"""The SIP dispatcher: what stands on the trunk (or agent) port in front of the phone processes.

Like a carrier SBC in front of many media servers: one UDP socket on 127.0.0.1:<port> receives
Asterisk's INVITEs and hands each new call to the least-loaded phone process (each a pjsua2
endpoint on its own 127.0.0.1 port, at most `pw.MAX_CALLS_PER_PROCESS` calls each). When every
phone is full it answers 503 itself.

Routing choices:
  * It is a stateless proxy for the initial INVITE transaction: it adds its own Via (branch derived
    from the incoming branch, so a CANCEL or a non-2xx ACK maps onto the same downstream branch),
    forwards by Call-ID to the phone chosen for that call, and relays the phone's responses back to
    whoever sent the INVITE after removing its Via.
  * It does not Record-Route: the phone's 2xx Contact is the phone itself (127.0.0.1:<phone port>),
    so the ACK for 2xx, BYE and re-INVITEs go straight between Asterisk and the phone. Only the
    INVITE, its retransmissions, CANCEL and non-2xx ACK pass through here.
  * Load is counted per phone from the INVITEs it was given; a phone says "END <call-id>" on its
    stdout when a call is over (a final non-2xx response seen here frees the slot too).
  * Out-of-dialog OPTIONS (qualify) get 200; other requests with an unknown Call-ID get 481.
Nothing is ever sent anywhere but 127.0.0.1.
"""
from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ivr.sim import pjsua_workarounds as pw
from ivr.sim.phone import STATUS_PREFIX
from ivr.sim.sipmsg import SipMessage, canon, parse, split_via, via_branch, via_sent_by

LOOPBACK = "127.0.0.1"
CALL_ID_LINGER_S = 40.0  # keep a finished call's routing this long (retransmissions, late ACK)
BRANCH_PREFIX = "z9hG4bK-hfd"


@dataclass
class Worker:
    index: int
    proc: subprocess.Popen
    port: int = 0
    active: set = field(default_factory=set)
    alive: bool = True

    @property
    def addr(self) -> tuple[str, int]:
        return (LOOPBACK, self.port)


@dataclass
class Route:
    worker: Worker
    upstream: tuple[str, int]
    ended_at: float | None = None


class Dispatcher:
    def __init__(self, port: int, worker_cmds: list[list[str]], *, capacity: int = pw.MAX_CALLS_PER_PROCESS,
                 ready_timeout_s: float = 30.0, verbose: bool = False):
        self.port = port
        self.worker_cmds = worker_cmds
        self.capacity = capacity
        self.ready_timeout_s = ready_timeout_s
        self.verbose = verbose
        self.workers: list[Worker] = []
        self.routes: dict[str, Route] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.sock: socket.socket | None = None
        self.rejected_503 = 0

    # ---- processes ------------------------------------------------------------------------------
    def _reader(self, w: Worker, ready: threading.Event) -> None:
        for raw in w.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if not line.startswith(STATUS_PREFIX):
                if self.verbose:
                    sys.stderr.write(f"[phone {w.index}] {line}\n")
                continue
            word, _, rest = line[len(STATUS_PREFIX):].partition(" ")
            if word == "READY":
                w.port = int(rest)
                ready.set()
            elif word == "REG":   # an agent phone's registration result: for whoever started us
                with self.lock:
                    sys.stdout.write(line + "\n")
                    sys.stdout.flush()
            elif word == "END":
                with self.lock:
                    w.active.discard(rest)
                    r = self.routes.get(rest)
                    if r is not None and r.ended_at is None:
                        r.ended_at = time.monotonic()
        w.alive = False
        ready.set()

    def start_workers(self) -> None:
        readies = []
        for i, cmd in enumerate(self.worker_cmds):
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
            w = Worker(i, proc)
            ev = threading.Event()
            threading.Thread(target=self._reader, args=(w, ev), daemon=True, name=f"phone-{i}").start()
            self.workers.append(w)
            readies.append(ev)
        deadline = time.monotonic() + self.ready_timeout_s
        for w, ev in zip(self.workers, readies):
            if not ev.wait(max(0.0, deadline - time.monotonic())) or not w.port:
                self.stop_workers()
                raise RuntimeError(f"phone process {w.index} did not become ready (exit code {w.proc.poll()})")

    def stop_workers(self, timeout_s: float = 5.0) -> None:
        for w in self.workers:
            if w.proc.poll() is None:
                w.proc.send_signal(signal.SIGTERM)
        end = time.monotonic() + timeout_s
        for w in self.workers:
            try:
                w.proc.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()

    # ---- SIP ------------------------------------------------------------------------------------
    def _send(self, data: bytes, addr: tuple[str, int]) -> None:
        if addr[0] != LOOPBACK:  # the hard rule: nothing leaves 127.0.0.1
            sys.stderr.write(f"[dispatcher] refusing to send to {addr}\n")
            return
        self.sock.sendto(data, addr)

    def _respond(self, req: SipMessage, status: int, reason: str, addr) -> None:
        hdrs = [(n, v) for n, v in req.headers if canon(n) in ("via", "from", "call-id", "cseq")]
        to = req.get("to") or ""
        if ";tag=" not in to:
            to += ";tag=hfd" + hashlib.sha1(req.call_id.encode()).hexdigest()[:10]
        hdrs.insert(2, ("To", to))
        hdrs += [("Server", "huifang-sim-dispatcher"), ("Content-Length", "0")]
        self._send(SipMessage(f"SIP/2.0 {status} {reason}", hdrs).to_bytes(), addr)

    def _pick_worker(self) -> Worker | None:
        with self.lock:
            live = [w for w in self.workers if w.alive and w.proc.poll() is None and len(w.active) < self.capacity]
            if not live:
                return None
            return min(live, key=lambda w: (len(w.active), w.index))

    def _forward_request(self, msg: SipMessage, w: Worker) -> None:
        top = msg.get("via") or ""
        first = split_via(top)[0] if top else ""
        branch = BRANCH_PREFIX + hashlib.sha1((via_branch(first) + msg.call_id).encode()).hexdigest()[:20]
        via = f"SIP/2.0/UDP {LOOPBACK}:{self.port};rport;branch={branch}"
        headers = []
        inserted = False
        for n, v in msg.headers:
            c = canon(n)
            if c == "via" and not inserted:
                headers.append(("Via", via))
                inserted = True
            if c == "max-forwards":
                try:
                    v = str(max(0, int(v) - 1))
                except ValueError:
                    pass
            headers.append((n, v))
        if not inserted:
            headers.insert(0, ("Via", via))
        self._send(SipMessage(msg.start, headers, msg.body).to_bytes(), w.addr)

    def _handle_request(self, msg: SipMessage, addr) -> None:
        method = msg.method
        cid = msg.call_id
        with self.lock:
            route = self.routes.get(cid)
        if route is not None:
            if method == "INVITE" and route.ended_at is not None and not msg.get("to", "").count(";tag="):
                pass  # an INVITE retransmission after the end: the phone answers from its transaction
            self._forward_request(msg, route.worker)
            return
        if method == "INVITE":
            if ";tag=" in (msg.get("to") or ""):
                self._respond(msg, 481, "Call/Transaction Does Not Exist", addr)
                return
            w = self._pick_worker()
            if w is None:
                self.rejected_503 += 1
                self._respond(msg, 503, "Service Unavailable", addr)
                return
            with self.lock:
                self.routes[cid] = Route(w, addr)
                w.active.add(cid)
            self._forward_request(msg, w)
        elif method == "ACK":
            return
        elif method == "OPTIONS":
            self._respond(msg, 200, "OK", addr)
        else:
            self._respond(msg, 481, "Call/Transaction Does Not Exist", addr)

    def _handle_response(self, msg: SipMessage) -> None:
        vias = []
        for n, v in msg.headers:
            if canon(n) == "via":
                vias.extend(split_via(v))
        if not vias or BRANCH_PREFIX not in via_branch(vias[0]):
            return  # not through us
        headers, removed = [], False
        for n, v in msg.headers:
            if canon(n) == "via" and not removed:
                parts = split_via(v)[1:]
                removed = True
                if parts:
                    headers.append((n, ", ".join(parts)))
                continue
            headers.append((n, v))
        with self.lock:
            route = self.routes.get(msg.call_id)
            if route is not None and msg.cseq_method == "INVITE" and msg.status >= 300:
                route.worker.active.discard(msg.call_id)
        dest = route.upstream if route is not None else (via_sent_by(vias[1]) if len(vias) > 1 else None)
        if dest is not None:
            self._send(SipMessage(msg.start, headers, msg.body).to_bytes(), dest)

    def _expire(self) -> None:
        now = time.monotonic()
        with self.lock:
            for cid in [c for c, r in self.routes.items() if r.ended_at is not None and now - r.ended_at > CALL_ID_LINGER_S]:
                del self.routes[cid]

    def bind(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, self.port))
        self.sock.settimeout(0.2)

    def serve(self) -> None:
        worker_ports = {w.port for w in self.workers}
        last_expire = time.monotonic()
        while not self.stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                data = None
            except OSError:
                if self.stop.is_set():
                    break
                raise
            if data and data.strip():
                msg = parse(data)
                if msg is not None:
                    try:
                        if msg.is_request:
                            self._handle_request(msg, addr)
                        elif addr[0] == LOOPBACK and addr[1] in worker_ports:
                            self._handle_response(msg)
                    except Exception as e:  # one bad datagram must not stop the trunk
                        sys.stderr.write(f"[dispatcher] {type(e).__name__}: {e}\n")
            if time.monotonic() - last_expire > 5:
                self._expire()
                last_expire = time.monotonic()
            if all(not w.alive for w in self.workers):
                sys.stderr.write("[dispatcher] every phone process has exited\n")
                break

    def load(self) -> list[int]:
        with self.lock:
            return [len(w.active) for w in self.workers]


def run_pool(kind: str, port: int, workers: int, log: Path, record_dir: Path, rtp_base: int,
             tts_cache: Path, extra_worker_args: list[str], verbose: bool = False) -> int:
    """The `python -m ivr.sim borrower|agent` process: bind, start phones, serve until SIGTERM."""
    cmds = []
    for i in range(workers):
        cmds.append([sys.executable, "-m", "ivr.sim", "worker", "--kind", kind, "--index", str(i),
                     "--log", str(log), "--record-dir", str(record_dir), "--rtp-port", str(rtp_base + 100 * i),
                     "--tts-cache", str(tts_cache), "--share", f"{i}/{workers}", *extra_worker_args])
    d = Dispatcher(port, cmds, verbose=verbose)
    d.bind()  # first, so a busy port fails before any phone starts
    stop = lambda *_: d.stop.set()  # noqa: E731
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    t0 = time.monotonic()
    d.start_workers()
    ports = ",".join(str(w.port) for w in d.workers)
    sys.stdout.write(f"{STATUS_PREFIX}READY port={port} workers={ports} pid={os.getpid()} "
                     f"startup_ms={int((time.monotonic() - t0) * 1000)}\n")
    sys.stdout.flush()
    try:
        d.serve()
    finally:
        d.stop_workers()
        d.sock.close()
    return 0

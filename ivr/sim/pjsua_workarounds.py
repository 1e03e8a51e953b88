"""Every workaround we need around the `pjsua2-pybind11` 0.1a3 wheel, in one place.

The simulated phones (and the test caller) are pjsua2 endpoints. The binding is thin and misses
pieces we need, so this module fills the gaps by calling the pjsua C API in the wheel's own bundled
`libpjsua-*.so` through ctypes. Each function says which gap it fills. Nothing else in `ivr.sim`
touches ctypes.

Gaps and hazards of this wheel (pjlib 2.14.1), verified:

1. No AudioMediaPlayer / AudioMediaRecorder classes -> `Player`, `Recorder` over
   pjsua_player_* / pjsua_recorder_*.
2. No `libHandleEvents`, and pj worker threads calling into Python deadlock against Python threads
   calling into pj -> the endpoint runs with zero SIP and media worker threads (media shares the SIP
   ioqueue) and the owner pumps `handle_events()` from its main thread; every callback then runs on
   that thread.
3. A Python exception escaping a pjsua2 callback aborts the whole process -> `guarded`.
4. A garbage-collected `pj.Call` hangs up whichever call later reuses its id -> `CallKeeper`.
5. RTP binds 0.0.0.0 and SDP advertises the host's address, and the binding exposes no account media
   config -> `pin_account_rtp_to_loopback` edits the account's `rtp_cfg` through
   pjsua_acc_get_config/pjsua_acc_modify.
6. The binding exposes no codec priorities -> `prefer_ulaw`.
7. The build caps a process at 4 concurrent calls (a 5th INVITE gets 486) -> not fixable here;
   callers run several processes (see `ivr.sim.dispatcher`). `MAX_CALLS_PER_PROCESS` is what we
   actually use.
"""
from __future__ import annotations

import ctypes
import functools
import glob
import struct
import sys
import traceback
import wave
from pathlib import Path

import pjsua2 as pj

LOOPBACK = "127.0.0.1"
# the wheel's hard limit is 4; one slot stays free so a burst never meets the limit's 486
MAX_CALLS_PER_PROCESS = 3
CLOCK_RATE = 8000


# ---- the C library ------------------------------------------------------------------------------
def _find_libpjsua() -> str:
    libs_dir = Path(pj.__file__).resolve().parent / "pjsua2_pybind11.libs"
    found = sorted(glob.glob(str(libs_dir / "libpjsua-*.so*")))
    if not found:
        raise RuntimeError(f"no bundled libpjsua-*.so under {libs_dir}: unexpected pjsua2 wheel layout")
    return found[0]


# the same file the extension module already loaded, so this is the same library instance
_lib = ctypes.CDLL(_find_libpjsua())


class PjStr(ctypes.Structure):
    """pj_str_t: pointer + length (not NUL-terminated by contract)."""
    _fields_ = [("ptr", ctypes.c_char_p), ("slen", ctypes.c_ssize_t)]


def _pj_str(text: str) -> tuple[PjStr, bytes]:
    raw = text.encode()
    return PjStr(raw, len(raw)), raw  # the caller keeps `raw` alive while C may read it


def _check(status: int, what: str) -> None:
    if status != 0:
        raise RuntimeError(f"{what} failed: pj_status_t {status}")


_lib.pjsua_handle_events.argtypes = [ctypes.c_uint]
_lib.pjsua_handle_events.restype = ctypes.c_int
_lib.pjsua_player_create.argtypes = [ctypes.POINTER(PjStr), ctypes.c_uint, ctypes.POINTER(ctypes.c_int)]
_lib.pjsua_player_get_conf_port.argtypes = [ctypes.c_int]
_lib.pjsua_player_destroy.argtypes = [ctypes.c_int]
_lib.pjsua_recorder_create.argtypes = [ctypes.POINTER(PjStr), ctypes.c_uint, ctypes.c_void_p, ctypes.c_ssize_t,
                                       ctypes.c_uint, ctypes.POINTER(ctypes.c_int)]
_lib.pjsua_recorder_get_conf_port.argtypes = [ctypes.c_int]
_lib.pjsua_recorder_destroy.argtypes = [ctypes.c_int]
_lib.pjsua_conf_connect.argtypes = [ctypes.c_int, ctypes.c_int]
_lib.pjsua_conf_disconnect.argtypes = [ctypes.c_int, ctypes.c_int]
_lib.pjsua_conf_get_signal_level.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_uint),
                                             ctypes.POINTER(ctypes.c_uint)]
_lib.pjsua_codec_set_priority.argtypes = [ctypes.POINTER(PjStr), ctypes.c_uint8]
_lib.pjsua_pool_create.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_size_t]
_lib.pjsua_pool_create.restype = ctypes.c_void_p
_lib.pjsua_acc_get_config.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
_lib.pjsua_acc_modify.argtypes = [ctypes.c_int, ctypes.c_void_p]


def handle_events(timeout_ms: int) -> int:
    """Gap 2: poll SIP, RTP and timers on the calling (main) thread for up to `timeout_ms`."""
    return _lib.pjsua_handle_events(timeout_ms)


# ---- endpoint -----------------------------------------------------------------------------------
def create_endpoint(sip_port: int = 0, *, log_level: int = 1, log_file: str = "") -> tuple[pj.Endpoint, int]:
    """A pjsua2 endpoint fit for our phones: no worker threads, null sound device, 8 kHz mono
    conference bridge (so recordings are 8 kHz), SIP/UDP bound to 127.0.0.1.

    `sip_port` 0 takes a free port. Returns (endpoint, actual SIP port).
    """
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0          # gap 2: no pj SIP worker thread
    cfg.uaConfig.mainThreadOnly = False  # callbacks are already on our thread: we pump events ourselves
    cfg.uaConfig.maxCalls = 4
    cfg.medConfig.threadCnt = 0          # gap 2: no media worker thread ...
    cfg.medConfig.hasIoqueue = False     # ... RTP is polled by the same handle_events()
    cfg.medConfig.clockRate = CLOCK_RATE
    cfg.medConfig.sndClockRate = CLOCK_RATE
    cfg.medConfig.channelCount = 1
    cfg.medConfig.noVad = True
    cfg.medConfig.ecTailLen = 0
    cfg.logConfig.level = log_level
    cfg.logConfig.consoleLevel = 0 if log_file else log_level
    if log_file:
        cfg.logConfig.filename = log_file
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port = sip_port
    tcfg.boundAddress = LOOPBACK
    tcfg.publicAddress = LOOPBACK
    tid = ep.transportCreate(pj.TransportType.UDP, tcfg)
    ep.libStart()
    ep.audDevManager.setNullDev()
    prefer_ulaw()
    local = ep.transportGetInfo(tid).localName  # "127.0.0.1:NNNNN"
    host, _, port = local.rpartition(":")
    if host != LOOPBACK:
        raise RuntimeError(f"SIP transport bound to {local}, expected {LOOPBACK}")
    return ep, int(port)


def prefer_ulaw() -> None:
    """Gap 6: offer/accept G.711 only, u-law first (what the trunk and Asterisk use)."""
    for codec, prio in (("", 0), ("PCMU/8000", 255), ("PCMA/8000", 200)):
        s, keep = _pj_str(codec)
        _check(_lib.pjsua_codec_set_priority(ctypes.byref(s), prio), f"pjsua_codec_set_priority({codec!r})")
        del keep


# ---- RTP on loopback ----------------------------------------------------------------------------
# pjsua_acc_config is a ~3.6 KB struct whose layout changes between pjproject releases; rather than
# transcribing all of it, we locate its `rtp_cfg` (a pjsua_transport_config) by its signature and
# refuse to touch anything unless exactly one place matches. pjsua_transport_config begins with
#     unsigned port; unsigned port_range; pj_bool_t randomize_port; <pad>; pj_str_t public_addr;
#     pj_str_t bound_addr; ...
# and pjsua's account default is port 4000, range 0, no randomisation, empty addresses. The only
# other 4000 in the struct is unreg_timeout, which we move out of the way first by creating the
# account with a distinctive unregWaitMsec (see UNREG_MARKER).
_ACC_CFG_BUF = 16384
_RTP_DEFAULT_PORT = 4000
UNREG_MARKER = 4321
_keepalive: list[object] = []


def _find_rtp_cfg_offset(raw: bytes) -> int:
    hits = []
    for off in range(0, len(raw) - 48, 8):
        port, prange, rnd, _pad, _p1, len1, _p2, len2 = struct.unpack_from("<IIiIQqQq", raw, off)
        if port == _RTP_DEFAULT_PORT and prange == 0 and rnd == 0 and len1 == 0 and len2 == 0:
            hits.append(off)
    if len(hits) != 1:
        raise RuntimeError(f"cannot locate rtp_cfg in pjsua_acc_config (candidates at {hits}); "
                           "the pjsua2 wheel changed: revisit ivr/sim/pjsua_workarounds.py")
    return hits[0]


def pin_account_rtp_to_loopback(acc: pj.Account, rtp_port: int, port_range: int) -> None:
    """Gap 5: RTP sockets bound to 127.0.0.1, SDP c= line 127.0.0.1, ports rtp_port..+port_range.

    Call right after `acc.create()` (created with regConfig.unregWaitMsec = UNREG_MARKER) and
    before any call; never call `acc.modify()` afterwards, which would restore pjsua2's defaults.
    """
    pool = _lib.pjsua_pool_create(b"huifang-acc", 4096, 4096)
    if not pool:
        raise RuntimeError("pjsua_pool_create failed")
    _keepalive.append(pool)  # pjsua keeps pointers into strings we pass; never release
    buf = ctypes.create_string_buffer(_ACC_CFG_BUF)
    _check(_lib.pjsua_acc_get_config(acc.id, ctypes.c_void_p(pool), buf), "pjsua_acc_get_config")
    off = _find_rtp_cfg_offset(buf.raw)
    addr = ctypes.create_string_buffer(LOOPBACK.encode())
    _keepalive.append(addr)
    ptr = ctypes.cast(addr, ctypes.c_void_p).value
    struct.pack_into("<II", buf, off, rtp_port, port_range)
    struct.pack_into("<Qq", buf, off + 16, ptr, len(LOOPBACK))  # public_addr
    struct.pack_into("<Qq", buf, off + 32, ptr, len(LOOPBACK))  # bound_addr
    _check(_lib.pjsua_acc_modify(acc.id, buf), "pjsua_acc_modify")


# ---- media --------------------------------------------------------------------------------------
PJMEDIA_FILE_NO_LOOP = 1


def wav_duration_s(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / float(w.getframerate())


class Player:
    """Gap 1: a WAV file player port in the conference bridge (plays once)."""

    def __init__(self, path: Path):
        s, keep = _pj_str(str(path))
        pid = ctypes.c_int(-1)
        _check(_lib.pjsua_player_create(ctypes.byref(s), PJMEDIA_FILE_NO_LOOP, ctypes.byref(pid)),
               f"pjsua_player_create({path})")
        del keep
        self.id = pid.value
        self.slot = _lib.pjsua_player_get_conf_port(self.id)
        self.duration_s = wav_duration_s(path)

    def destroy(self) -> None:
        if self.id >= 0:
            _lib.pjsua_player_destroy(self.id)
            self.id = -1


class Recorder:
    """Gap 1: a WAV recorder port (format follows the bridge: 8 kHz mono s16)."""

    def __init__(self, path: Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        s, keep = _pj_str(str(path))
        rid = ctypes.c_int(-1)
        _check(_lib.pjsua_recorder_create(ctypes.byref(s), 0, None, -1, 0, ctypes.byref(rid)),
               f"pjsua_recorder_create({path})")
        del keep
        self.id = rid.value
        self.slot = _lib.pjsua_recorder_get_conf_port(self.id)

    def destroy(self) -> None:
        if self.id >= 0:
            _lib.pjsua_recorder_destroy(self.id)  # writes the final WAV header
            self.id = -1


def conf_connect(source: int, sink: int) -> None:
    _check(_lib.pjsua_conf_connect(source, sink), f"pjsua_conf_connect({source}, {sink})")


def conf_disconnect(source: int, sink: int) -> None:
    _lib.pjsua_conf_disconnect(source, sink)  # harmless if already gone


def signal_level(slot: int) -> tuple[int, int]:
    """(tx, rx) level 0..255 of a conference port; for a call's port rx is what the far end sends."""
    tx, rx = ctypes.c_uint(0), ctypes.c_uint(0)
    if _lib.pjsua_conf_get_signal_level(slot, ctypes.byref(tx), ctypes.byref(rx)) != 0:
        return 0, 0
    return tx.value, rx.value


# ---- Python-side hazards ------------------------------------------------------------------------
def guarded(fn):
    """Gap 3: never let an exception escape a pjsua2 callback (it would abort the process)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BaseException:  # noqa: BLE001 - anything escaping kills the process
            try:
                sys.stderr.write(f"[sim] exception in callback {fn.__qualname__}:\n{traceback.format_exc()}")
                sys.stderr.flush()
            except Exception:
                pass
            return None
    return wrapper


class CallKeeper:
    """Gap 5: every pj.Call object is kept for the life of the phone process, never released.

    Why never: pjsua2's Call destructor hangs up *whatever call currently has its id*. Call ids
    are reused as soon as a call ends, so releasing the object of a finished call (or replacing
    it in a dict keyed by call id, as an earlier version did) hung up a newer, unrelated call that
    had been given the same id — seen as two calls of one phone process dropping at once under
    load. A Call object is small and a phone process lives for one test session or demo.
    """

    def __init__(self):
        self._calls: list[object] = []

    def keep(self, key: int, obj: object) -> None:
        self._calls.append(obj)

    def __len__(self) -> int:
        return len(self._calls)


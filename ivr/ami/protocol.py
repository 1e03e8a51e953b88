"""AMI wire format: bytes in, header dicts out (and back), with no I/O.

Why a separate pure module: the client's hard parts (reconnects, watchdog, correlation) are
easier to reason about when framing is a deterministic function of the bytes, and a pure
parser can be fuzzed and unit-tested without sockets.

Wire rules implemented here:

* Every line ends with CRLF; a bare LF is tolerated (the CR is stripped if present).
* A message is a run of ``Key: Value`` lines terminated by one empty line. Extra empty lines
  between messages are ignored.
* The very first line a server sends is the banner ``Asterisk Call Manager/x.y.z`` with no
  blank line after it. It is returned as its own message ``{"Banner": "..."}`` *and* kept in
  :attr:`AmiParser.banner`.
* Repeated keys (``ChanVariable``, ``Variable``, ``Output``...) are **kept as a list** of the
  values in arrival order; a key seen once stays a plain ``str``. :func:`get_all` normalises
  both shapes. Lists were chosen over joining because values may legitimately contain any
  separator we could pick, and because :func:`encode_message` accepts lists too, so
  parse/encode round-trips.
* A line with no ``": "`` (and not ending in ``":"``) is not a header. It is recorded, in order,
  under the ``"__malformed__"`` key (a list) of the message it appeared in; it never raises.
* A line ``Key:`` (colon at end of line, no space) is read as ``Key`` with an empty value,
  because some Asterisk versions emit that for empty fields.
* A message larger than :data:`MAX_MESSAGE_BYTES` is discarded up to its terminating blank
  line and reported as an :class:`AmiProtocolError` via :meth:`AmiParser.take_errors`. Only
  that message is lost; memory stays bounded however long the garbage goes on.
* Bytes are decoded as UTF-8; undecodable bytes become U+FFFD rather than failing.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Union

__all__ = [
    "MAX_MESSAGE_BYTES",
    "MALFORMED_KEY",
    "AmiProtocolError",
    "AmiParser",
    "Message",
    "encode_message",
    "encode_action",
    "message_kind",
    "get_header",
    "get_all",
]

#: Upper bound on one message (all its lines, terminators included).
MAX_MESSAGE_BYTES = 64 * 1024
#: Key under which non-header lines of a message are collected.
MALFORMED_KEY = "__malformed__"

Value = Union[str, list[str]]
Message = dict[str, Value]


class AmiProtocolError(Exception):
    """The peer sent something that cannot be a valid AMI message (e.g. one over 64 KiB)."""


class AmiParser:
    """Incremental AMI parser: feed it whatever ``read()`` returned, get complete messages.

    One parser per TCP connection; it keeps the partial message between calls. ``feed``
    never raises on bad input: malformed lines are recorded in the message, oversize
    messages are dropped and reported through :meth:`take_errors`.
    """

    def __init__(self, *, expect_banner: bool = True, max_message: int = MAX_MESSAGE_BYTES) -> None:
        self.banner: str | None = None
        self.max_message = max_message
        self._expect_banner = expect_banner
        self._buf = bytearray()       # bytes not yet split into lines
        self._cur: Message = {}       # the message being assembled
        self._size = 0                # bytes consumed by the current message so far
        self._discarding = False      # inside an oversize message, skipping to its blank line
        self._partial_dropped = False # a partial (non-empty) line was dropped while discarding
        self._errors: list[AmiProtocolError] = []

    def feed(self, data: bytes) -> list[Message]:
        """Consume ``data`` and return the messages it completed, in order."""
        out: list[Message] = []
        self._buf += data
        start = 0
        buf = self._buf
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            self._line(bytes(buf[start:nl]), out)
            start = nl + 1
        del buf[:start]
        # A line that never ends must not grow without limit.
        if buf and self._size + len(buf) > self.max_message:
            if not self._discarding:
                self._start_discard()
            buf.clear()
            self._partial_dropped = True
        return out

    def take_errors(self) -> list[AmiProtocolError]:
        """Return and forget the errors (oversize messages) seen since the last call."""
        errors, self._errors = self._errors, []
        return errors

    # -- internals -------------------------------------------------------------------

    def _start_discard(self) -> None:
        self._errors.append(AmiProtocolError(
            f"AMI message exceeds {self.max_message} bytes; discarded up to its blank line"))
        self._discarding = True
        self._cur = {}
        self._size = 0

    def _line(self, raw: bytes, out: list[Message]) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        dropped, self._partial_dropped = self._partial_dropped, False
        if self._discarding:
            if not raw and not dropped:
                self._discarding = False
            return
        if not raw:
            if self._cur:
                out.append(self._cur)
                self._cur = {}
                self._size = 0
            return
        self._size += len(raw) + 2
        if self._size > self.max_message:
            self._start_discard()
            return
        line = raw.decode("utf-8", "replace")
        if self._expect_banner:
            self._expect_banner = False
            if ": " not in line and not self._cur:
                self.banner = line
                self._size = 0
                out.append({"Banner": line})
                return
        key, sep, value = line.partition(": ")
        if not sep:
            if line.endswith(":") and len(line) > 1:
                key, value = line[:-1], ""
            else:
                key = ""
        if not key:
            self._cur.setdefault(MALFORMED_KEY, []).append(line)  # type: ignore[union-attr]
            return
        if key == MALFORMED_KEY:  # never let the peer forge our bookkeeping key
            self._cur.setdefault(MALFORMED_KEY, []).append(line)  # type: ignore[union-attr]
            return
        old = self._cur.get(key)
        if old is None:
            self._cur[key] = value
        elif isinstance(old, list):
            old.append(value)
        else:
            self._cur[key] = [old, value]


def _check_text(what: str, text: str) -> None:
    if "\r" in text or "\n" in text:
        raise ValueError(f"AMI {what} must not contain CR or LF (header injection): {text!r}")


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise TypeError(f"AMI header value must be str/int/float/bool, got {type(value).__name__}")


def encode_message(fields: Mapping[str, object]) -> bytes:
    """Encode any AMI message (action, response or event) as CRLF lines plus a blank line.

    A ``list``/``tuple`` value becomes one line per item (e.g. several ``Variable:``).
    ``bool`` becomes ``true``/``false``. CR/LF anywhere, or ``:`` or surrounding whitespace
    in a key, raise ``ValueError``: either would let a value smuggle in extra headers.
    """
    lines: list[str] = []
    for key, value in fields.items():
        if not isinstance(key, str) or not key or ":" in key or key != key.strip() or key == MALFORMED_KEY:
            raise ValueError(f"invalid AMI header name: {key!r}")
        _check_text("header name", key)
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            text = _as_text(item)
            _check_text("header value", text)
            lines.append(f"{key}: {text}\r\n")
    if not lines:
        raise ValueError("an AMI message needs at least one header")
    return ("".join(lines) + "\r\n").encode("utf-8")


def encode_action(action: Mapping[str, object]) -> bytes:
    """Encode an action dict; ``Action`` must be present and is written first."""
    name = next((k for k in action if isinstance(k, str) and k.lower() == "action"), None)
    if name is None or not _as_text(action[name]).strip():
        raise ValueError("an AMI action needs a non-empty 'Action' header")
    ordered = {name: action[name]}
    ordered.update((k, v) for k, v in action.items() if k != name)
    return encode_message(ordered)


def get_header(msg: Mapping[str, Value], name: str, default: str | None = None) -> str | None:
    """Case-insensitive single-value lookup (first value if the key repeated)."""
    value = msg.get(name)
    if value is None:
        lname = name.lower()
        for key, val in msg.items():
            if key.lower() == lname:
                value = val
                break
    if value is None:
        return default
    if isinstance(value, list):
        return value[0] if value else default
    return value


def get_all(msg: Mapping[str, Value], name: str) -> list[str]:
    """All values of a possibly repeated key, as a list (empty if absent)."""
    value = msg.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def message_kind(msg: Mapping[str, Value]) -> str:
    """Classify a parsed message: 'banner', 'response', 'event', 'action' or 'unknown'.

    ``Event`` is checked before ``Response`` because some events carry a ``Response``
    header too (``OriginateResponse`` has ``Response: Success``/``Failure``).
    """
    if "Banner" in msg and len(msg) == 1:
        return "banner"
    if get_header(msg, "Event") is not None:
        return "event"
    if get_header(msg, "Response") is not None:
        return "response"
    if get_header(msg, "Action") is not None:
        return "action"
    return "unknown"

"""Just enough SIP message handling for the dispatcher and for reading INVITEs in the phones."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

COMPACT = {"v": "via", "i": "call-id", "f": "from", "t": "to", "m": "contact", "l": "content-length",
           "c": "content-type", "k": "supported"}


def canon(name: str) -> str:
    n = name.strip().lower()
    return COMPACT.get(n, n)


@dataclass
class SipMessage:
    start: str
    headers: list[tuple[str, str]] = field(default_factory=list)  # (name as written, value), in order
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return not self.start.startswith("SIP/2.0")

    @property
    def method(self) -> str:
        return self.start.split(" ", 1)[0].upper() if self.is_request else self.cseq_method

    @property
    def status(self) -> int:
        return int(self.start.split(" ", 2)[1]) if not self.is_request else 0

    @property
    def request_uri(self) -> str:
        return self.start.split(" ")[1] if self.is_request else ""

    def get(self, name: str) -> str | None:
        want = canon(name)
        for n, v in self.headers:
            if canon(n) == want:
                return v
        return None

    def get_all(self, name: str) -> list[str]:
        want = canon(name)
        return [v for n, v in self.headers if canon(n) == want]

    @property
    def call_id(self) -> str:
        return self.get("call-id") or ""

    @property
    def cseq_method(self) -> str:
        parts = (self.get("cseq") or "").split()
        return parts[1].upper() if len(parts) > 1 else ""

    def to_bytes(self) -> bytes:
        lines = [self.start] + [f"{n}: {v}" for n, v in self.headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


def parse(data: bytes) -> SipMessage | None:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    try:
        lines = head.decode("utf-8").split("\r\n")
    except UnicodeDecodeError:
        return None
    if not lines or not lines[0].strip():
        return None
    msg = SipMessage(lines[0].strip(), body=body)
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and msg.headers:  # folded continuation line
            n, v = msg.headers[-1]
            msg.headers[-1] = (n, v + " " + line.strip())
            continue
        name, colon, value = line.partition(":")
        if colon:
            msg.headers.append((name.strip(), value.strip()))
    return msg


def split_via(value: str) -> list[str]:
    """Split a Via header value holding several comma-separated vias."""
    return [p.strip() for p in value.split(",") if p.strip()]


def via_branch(via: str) -> str:
    m = re.search(r";\s*branch=([^;,\s]+)", via, re.I)
    return m.group(1) if m else ""


def via_sent_by(via: str) -> tuple[str, int]:
    """The (host, port) a response to this Via goes to (received= and rport= respected)."""
    m = re.match(r"SIP/2\.0/\w+\s+([^;:\s]+)(?::(\d+))?", via, re.I)
    host, port = (m.group(1), int(m.group(2) or 5060)) if m else ("", 0)
    rec = re.search(r";\s*received=([^;,\s]+)", via, re.I)
    rport = re.search(r";\s*rport=(\d+)", via, re.I)
    return (rec.group(1) if rec else host), (int(rport.group(1)) if rport else port)


def uri_user(uri: str) -> str:
    m = re.search(r"sips?:([^@;>]+)@", uri)
    return m.group(1) if m else ""


def sdp_connection_addresses(sdp: str) -> list[str]:
    return re.findall(r"^c=IN IP4 (\S+)", sdp, re.M)

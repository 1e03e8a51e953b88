"""The number as each carrier trunk wants it dialled, and the dial string that carries it.

Why per trunk: carriers differ. One wants national format (strip +86 / 0086), another a carrier
selection or routing prefix in front (17951..., 9...), and the failover trunk may be a different
carrier from the first. Numbers are stored as imported (digits, national format for CN mobiles);
what reaches the wire is decided here, from the `trunk_*` settings, and nowhere else.
"""
from __future__ import annotations

import re

from ..config import Trunk

SEPARATORS = re.compile(r"[\s\-().]")
DIALLABLE = re.compile(r"[0-9]{3,24}")


class NumberError(ValueError):
    pass


def format_number(number: str, trunk: Trunk) -> str:
    """`number` with separators dropped, the first matching strip prefix removed, the dial prefix added."""
    digits = SEPARATORS.sub("", str(number or ""))
    for prefix in trunk.strip_prefixes:
        if digits.startswith(prefix):
            digits = digits[len(prefix):]
            break
    if not DIALLABLE.fullmatch(digits):
        raise NumberError(f"{number!r} is not a diallable number for {trunk.name} "
                          f"(after stripping {', '.join(trunk.strip_prefixes) or 'nothing'})")
    return trunk.dial_prefix + digits


def dial_string(number: str, trunk: Trunk) -> str:
    return f"PJSIP/{format_number(number, trunk)}@{trunk.endpoint}"


def dial_variables(number: str, trunks: list[Trunk]) -> list[str]:
    """The Originate variables `[huifang-dial]` reads: one dial string, endpoint and channel limit per trunk."""
    out = []
    for n, trunk in enumerate(trunks, start=1):
        out += [f"IVR_DIAL{n}={dial_string(number, trunk)}", f"IVR_TRUNK{n}={trunk.endpoint}",
                f"IVR_MAXCH{n}={trunk.max_channels}"]
    return out

"""Per-agent SIP credentials: a strong random password shown once, and the only thing kept of it.

Asterisk's pjsip `auth` object accepts `md5_cred` = md5("username:realm:password") instead of the
password: that is exactly the HA1 of an RFC 2617 / RFC 8760 MD5 digest, so Asterisk can check a
phone's REGISTER without the password ever being on disk. The realm is part of the hash, so it is
fixed per install (REALM) and written into the auth object beside it.
"""
from __future__ import annotations

import hashlib
import re
import secrets

REALM = "huifang"
SECTION_PREFIX = "huifang-"
PASSWORD_BYTES = 18                     # 144 random bits, 24 URL-safe characters
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


class CredentialError(ValueError):
    pass


def check_name(name: str) -> str:
    """An agent endpoint name: lower-case letters, digits and '_', starting with a letter (max 31)."""
    name = (name or "").strip()
    if not NAME_RE.match(name):
        raise CredentialError(f"agent endpoint name {name!r}: use 1-31 lower-case letters, digits or '_', "
                              "starting with a letter (e.g. agent1, zhang_wei)")
    return name


def sip_username(name: str) -> str:
    """The PJSIP endpoint, AOR, auth section and SIP user the agent's phone registers as."""
    return SECTION_PREFIX + check_name(name)


def name_from_interface(interface: str) -> str | None:
    """`PJSIP/huifang-agent1` (a queue member interface or channel name) -> `agent1`."""
    m = re.match(r"^PJSIP/" + re.escape(SECTION_PREFIX) + r"([a-z][a-z0-9_]{0,30})(?:-[0-9a-f]+)?$", interface or "")
    return m.group(1) if m else None


def new_password() -> str:
    """Strong and phone-keypad-safe enough: URL-safe base64 of 18 random bytes."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


def md5_cred(username: str, realm: str, password: str) -> str:
    return hashlib.md5(f"{username}:{realm}:{password}".encode("utf-8")).hexdigest()

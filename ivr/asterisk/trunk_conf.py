"""The carrier trunks' part of pjsip.conf, rendered from `Settings.trunks()`.

Why rendered in Python and not templated: a trunk may or may not authenticate, register, qualify,
or send a fixed From user, and each choice adds or removes whole sections. Per trunk:

  aor           where the carrier is (`contact`), optional OPTIONS keep-alive (`qualify_frequency`)
  auth          digest credentials (`outbound_auth`), only if a username is set
  endpoint      how calls leave; the caller ID is the channel's (set per call by our dialplan) and
                goes in the From user, unless `from_user` is fixed: then it goes in P-Asserted-Identity
  registration  outbound REGISTER, only if `register` is on

No `identify` section: requests from the carrier are not expected (we only call out) and matching
on 127.0.0.1 would capture the agents' phones in tests. Passwords end up only in pjsip.conf, which
`render` makes readable by its owner only.
"""
from __future__ import annotations

from ..config import Trunk


def auth_name(trunk: Trunk) -> str:
    return f"{trunk.endpoint}-auth"


def registration_name(trunk: Trunk) -> str:
    return f"{trunk.endpoint}-reg"


def trunk_sections(trunk: Trunk, *, bind: str) -> str:
    domain = trunk.from_domain or trunk.host
    lines = [f"; ---- carrier trunk `{trunk.name}_*`: calls leave as PJSIP/<number>@{trunk.endpoint} ----",
             f"[{trunk.endpoint}]", "type = aor", f"contact = sip:{trunk.sip_host}",
             f"qualify_frequency = {trunk.qualify_s}", ""]
    if trunk.username:
        lines += [f"[{auth_name(trunk)}]", "type = auth", "auth_type = userpass", f"username = {trunk.username}",
                  f"password = {trunk.password}"]
        if trunk.realm:
            lines.append(f"realm = {trunk.realm}")
        lines.append("")
    lines += [f"[{trunk.endpoint}]", "type = endpoint", "transport = transport-udp", "context = huifang-from-trunk",
              f"aors = {trunk.endpoint}", "disallow = all", "allow = ulaw,alaw", "dtmf_mode = rfc4733",
              "direct_media = no", "rtp_symmetric = yes", "force_rport = yes", "rewrite_contact = no",
              f"media_address = {bind}", "bind_rtp_to_media_address = yes"]
    if trunk.from_domain:
        lines.append(f"from_domain = {trunk.from_domain}")
    if trunk.from_user:
        lines += [f"from_user = {trunk.from_user}", "send_pai = yes", "trust_id_outbound = yes"]
    else:
        lines.append("send_pai = no")
    if trunk.username:
        lines.append(f"outbound_auth = {auth_name(trunk)}")
    lines.append("")
    if trunk.register:
        lines += [f"[{registration_name(trunk)}]", "type = registration", "transport = transport-udp",
                  f"server_uri = sip:{trunk.sip_host}", f"client_uri = sip:{trunk.username}@{domain}",
                  f"contact_user = {trunk.username}", f"outbound_auth = {auth_name(trunk)}",
                  f"expiration = {trunk.register_expiry_s}", "retry_interval = 20",
                  "forbidden_retry_interval = 60", "max_retries = 10000", "auth_rejection_permanent = no", ""]
    return "\n".join(lines) + "\n"


def trunks_conf(trunks: list[Trunk], *, bind: str) -> str:
    return "\n".join(trunk_sections(t, bind=bind) for t in trunks)

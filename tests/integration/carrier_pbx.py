"""A second Asterisk acting as the carrier, for the trunk tests (tests/integration/test_carrier_trunk.py).

It is started, waited on and stopped by the product's own launcher (`ivr.asterisk.process.start`
with a `configure` of its own), in the same chroot rootfs, as another instance on its own ports.
What it does, as a carrier that demands registration and digest authentication:

* one account (`USERNAME` / `PASSWORD`, realm `REALM`): REGISTER and INVITE without valid
  credentials get 401 (a second 401 with wrong ones);
* numbers arrive with the trunk's dial prefix: `PRIMARY_PREFIX` for the trunk, `FAILOVER_PREFIX` for
  the failover trunk; a number without a known prefix gets 404;
* every call is logged to its messages.log as one line
  `CARRIER-CALL trunk=<primary|failover> number=<digits> callerid=<From user>`;
* behaviour by number (without the prefix): `CONGESTED` answers 503 on the primary trunk only
  (and is answered on the failover trunk); `BUSY` 486; `DECLINE` 603; anything else is answered,
  listens for 3 s and hangs up.
"""
from __future__ import annotations

import re
from pathlib import Path

from ivr.asterisk import process
from ivr.asterisk.render import render
from ivr.config import Settings

USERNAME = "huifang-acct"
PASSWORD = "carrier-Secret-7"
REALM = "carrier.example"
PRIMARY_PREFIX = "17951"
FAILOVER_PREFIX = "12593"
CONGESTED = "13800000503"
BUSY = "13800000486"
DECLINE = "13800000603"
CALL_LINE = re.compile(r"CARRIER-CALL trunk=(\w+) number=(\S*) callerid=(\S*)")


def pjsip_conf(settings: Settings) -> str:
    b = settings.bind
    return f"""[global]
type = global
user_agent = CarrierSim
endpoint_identifier_order = ip

[transport-udp]
type = transport
protocol = udp
bind = {b}:{settings.sip_port}

[{USERNAME}]
type = auth
auth_type = userpass
username = {USERNAME}
password = {PASSWORD}
realm = {REALM}

[{USERNAME}]
type = aor
max_contacts = 2
remove_existing = yes

[{USERNAME}]
type = endpoint
transport = transport-udp
context = from-huifang
aors = {USERNAME}
auth = {USERNAME}
disallow = all
allow = ulaw,alaw
direct_media = no
rtp_symmetric = yes
media_address = {b}
bind_rtp_to_media_address = yes

[{USERNAME}-identify]
type = identify
endpoint = {USERNAME}
match = {b}
"""


def extensions_conf() -> str:
    log = 'Log(NOTICE,CARRIER-CALL trunk=${TRUNK} number=${NUM} callerid=${CALLERID(num)})'
    return f"""[general]
static = yes
writeprotect = yes
autofallthrough = yes

[from-huifang]
exten => _{PRIMARY_PREFIX}X.,1,Set(TRUNK=primary)
 same => n,Set(NUM=${{EXTEN:{len(PRIMARY_PREFIX)}}})
 same => n,{log}
 same => n,GotoIf($["${{NUM}}" = "{CONGESTED}"]?congested)
 same => n,Goto(route,${{NUM}},1)
 same => n(congested),PJSIPHangup(503)
exten => _{FAILOVER_PREFIX}X.,1,Set(TRUNK=failover)
 same => n,Set(NUM=${{EXTEN:{len(FAILOVER_PREFIX)}}})
 same => n,{log}
 same => n,Goto(route,${{NUM}},1)
exten => _X.,1,Set(TRUNK=none)
 same => n,Set(NUM=${{EXTEN}})
 same => n,{log}
 same => n,PJSIPHangup(404)

[route]
exten => {BUSY},1,PJSIPHangup(486)
exten => {DECLINE},1,PJSIPHangup(603)
exten => _X.,1,Ringing()
 same => n,Wait(0.5)
 same => n,Answer()
 same => n,Wait(3)
 same => n,Hangup(16)
"""


def configure(settings: Settings) -> None:
    """Our own rendering for the plumbing (asterisk.conf, modules, AMI, RTP ports), then the carrier's SIP and dialplan."""
    etc = render(settings)
    (etc / "pjsip.conf").write_text(pjsip_conf(settings))
    (etc / "extensions.conf").write_text(extensions_conf())


class CarrierPbx:
    def __init__(self, settings: Settings):
        self.settings = settings

    def start(self) -> None:
        self.messages().unlink(missing_ok=True)
        process.start(self.settings, configure=configure)

    def stop(self) -> None:
        process.stop(self.settings)

    def cli(self, command: str) -> str:
        return process.cli(self.settings, command)

    def messages(self) -> Path:
        return self.settings.asterisk_dir / "log" / "messages.log"

    def calls(self) -> list[dict]:
        """Every call the carrier received, in order: {"trunk", "number", "callerid"}."""
        try:
            text = self.messages().read_text(errors="replace")
        except FileNotFoundError:
            return []
        return [{"trunk": m.group(1), "number": m.group(2), "callerid": m.group(3)} for m in CALL_LINE.finditer(text)]

    def registered_contacts(self) -> str:
        return self.cli(f"pjsip show aor {USERNAME}")

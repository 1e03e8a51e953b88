"""A lender's own Asterisk, for the external-mode tests: configured the way a PBX team would
configure theirs, not from our templates.

Its pjsip.conf, extensions.conf, queues.conf and manager.conf are written here, by hand: the lender's
own transport, a desk phone and an internal context of theirs, the endpoints and queue our README tells
them to add (`huifang-trunk` to their carrier, here the borrower simulator; `huifang-agent1/2`, here
the agent simulator), an AMI user with only the permission classes the README lists, and our rendered
dialplan `#include`d. Its spool, and the media directory Huifang shares with it, live under
/srv/lender-<port base> inside the rootfs; Huifang reaches that directory through the host path of the
rootfs, like a network mount of the PBX's spool.

The Asterisk itself is started and stopped by the product's own launcher (ivr/asterisk/process.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ivr.asterisk import process

# what the README's "Your Asterisk" tells a lender to grant, written out here on purpose: the
# test proves that this much is enough for a whole call, and `ivr asterisk check` agrees
AMI_READ = "call,user,agent"
AMI_WRITE = "originate,reporting"

MODULES = """res_timing_timerfd res_sorcery_astdb res_sorcery_config res_sorcery_memory res_sorcery_memory_cache
res_pjproject res_pjsip res_pjsip_pubsub res_pjsip_session res_pjsip_sdp_rtp res_pjsip_caller_id
res_pjsip_header_funcs res_pjsip_endpoint_identifier_ip res_pjsip_endpoint_identifier_user
res_pjsip_authenticator_digest res_pjsip_outbound_authenticator_digest res_pjsip_registrar res_pjsip_rfc3326
res_pjsip_nat res_pjsip_acl chan_pjsip res_rtp_asterisk res_speech res_agi res_audiosocket app_audiosocket pbx_config app_dial
app_queue app_mixmonitor app_userevent app_exec app_playback app_stack app_echo app_verbose func_channel
func_callerid func_strings func_logic func_cut func_hangupcause func_global func_timeout func_math func_uuid func_module
format_wav format_pcm format_sln codec_ulaw codec_alaw codec_a_mu codec_resample bridge_simple
bridge_native_rtp bridge_holding bridge_builtin_features""".split()


@dataclass
class LenderPbx:
    rootfs: Path
    port_base: int          # the PBX's own ports: SIP +61, AMI +39, RTP +1000..+1999
    trunk_port: int         # the carrier (borrower simulator)
    agent_port: int         # the agents' phones (agent simulator)
    ami_user: str = "huifang-ext"
    ami_secret: str = "lender-pbx-secret-0f3a9c"
    ami_read: str = AMI_READ
    ami_write: str = AMI_WRITE

    @property
    def name(self) -> str:
        return f"lender-{self.port_base}"

    @property
    def root_in_chroot(self) -> str:
        return f"/srv/{self.name}"

    @property
    def root(self) -> Path:
        return self.rootfs / self.root_in_chroot.lstrip("/")

    @property
    def media_in_asterisk(self) -> str:
        """Where this PBX keeps Huifang's media: inside its own spool."""
        return f"{self.root_in_chroot}/spool/huifang"

    @property
    def media_on_host(self) -> Path:
        return self.rootfs / self.media_in_asterisk.lstrip("/")

    @property
    def sip_port(self) -> int:
        return self.port_base + 61

    @property
    def ami_port(self) -> int:
        return self.port_base + 39

    @property
    def instance(self) -> process.Instance:
        return process.Instance(rootfs=self.rootfs, conf_in_chroot=f"{self.root_in_chroot}/etc/asterisk.conf",
                                state_dir=self.root / "state", messages_log=self.root / "log/messages.log",
                                ami_host="127.0.0.1", ami_port=self.ami_port, ami_user=self.ami_user,
                                ami_secret=self.ami_secret)

    def write_config(self, huifang_dialplan: str) -> Path:
        """Write the whole configuration, our rendered dialplan as etc/huifang.conf; return etc/."""
        etc = self.root / "etc"
        for sub in ("etc", "lib", "spool", "run", "log", "state"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.media_on_host.mkdir(parents=True, exist_ok=True)
        r = self.root_in_chroot
        files = {
            "asterisk.conf": f"""[directories]
astetcdir => {r}/etc
astmoddir => /usr/lib/x86_64-linux-gnu/asterisk/modules
astvarlibdir => {r}/lib
astdbdir => {r}/lib
astkeydir => {r}/lib
astdatadir => /usr/share/asterisk
astagidir => {r}/lib/agi-bin
astspooldir => {r}/spool
astrundir => {r}/run
astlogdir => {r}/log
astsbindir => /usr/sbin

[options]
systemname = lender-pbx
transmit_silence = yes
""",
            "modules.conf": "[modules]\nautoload = no\n" + "".join(f"load => {m}.so\n" for m in MODULES),
            "logger.conf": "[general]\n[logfiles]\nmessages.log => notice,warning,error,verbose(3)\n",
            "rtp.conf": f"[general]\nrtpstart = {self.port_base + 1000}\nrtpend = {self.port_base + 1999}\n",
            "indications.conf": "[general]\ncountry = cn\n\n[cn]\ndescription = China\nringcadence = 1000,4000\n"
                                "ring = 450/1000,0/4000\nbusy = 450/350,0/350\ncongestion = 450/700,0/800\n",
            "cdr.conf": "[general]\nenable = no\n",
            "cel.conf": "[general]\nenable = no\n",
            "features.conf": "[general]\n",
            "acl.conf": "",
            "udptl.conf": "[general]\n",
            "pjproject.conf": "[general]\n",
            "ccss.conf": "[general]\n",
            "pjsip.conf": f"""; the lender's PBX: its own transport and desk phones
[lender-udp]
type = transport
protocol = udp
bind = 127.0.0.1:{self.sip_port}

[6001]
type = aor
max_contacts = 1

[6001]
type = endpoint
context = from-internal
aors = 6001
disallow = all
allow = alaw

; added for Huifang: the carrier the robot dials out through
[huifang-trunk]
type = aor
contact = sip:127.0.0.1:{self.trunk_port}

[huifang-trunk]
type = endpoint
context = huifang-from-trunk
aors = huifang-trunk
disallow = all
allow = ulaw,alaw
dtmf_mode = rfc4733
direct_media = no
rtp_symmetric = yes
media_address = 127.0.0.1
bind_rtp_to_media_address = yes
; added for Huifang: the agents' phones, pasted from `ivr agent conf` (see paste_agents)
#include "huifang-agents-pjsip.conf"
""",
            "huifang-agents-pjsip.conf": "",
            "huifang-agents-queue.conf": "",
            "extensions.conf": """[general]
static = yes
writeprotect = yes

[globals]
; how long a borrower waits for an agent before the no-agent message (our dialplan's default: 60 s)
IVR_QUEUE_TIMEOUT = 8

[from-internal]
exten => 600,1,Answer()
 same => n,Echo()
 same => n,Hangup()

#include "huifang.conf"
""",
            "huifang.conf": huifang_dialplan,
            "queues.conf": """[general]
persistentmembers = no

[huifang-agents]
strategy = rrmemory
timeout = 15
retry = 2
joinempty = yes
leavewhenempty = no
ringinuse = no
#include "huifang-agents-queue.conf"
""",
            "manager.conf": f"""[general]
enabled = yes
port = {self.ami_port}
bindaddr = 127.0.0.1

[{self.ami_user}]
secret = {self.ami_secret}
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
read = {self.ami_read}
write = {self.ami_write}
""",
        }
        for name, text in files.items():
            (etc / name).write_text(text)
        return etc

    def start(self, huifang_dialplan: str) -> "LenderPbx":
        self.write_config(huifang_dialplan)
        process.launch(self.instance)
        return self

    def stop(self) -> None:
        process.halt(self.instance)

    def paste_agents(self, agent_conf: str) -> None:
        """What the lender's operator does after `ivr agent add`: paste `ivr agent conf` (the phones'
        pjsip sections and the queue's members) and reload pjsip and the queues."""
        pjsip, _, queue = agent_conf.partition("; ---- queues.conf")
        (self.root / "etc/huifang-agents-pjsip.conf").write_text(pjsip)
        (self.root / "etc/huifang-agents-queue.conf").write_text(
            "\n".join(line for line in queue.splitlines() if line.startswith("member =>")) + "\n")
        if process._pid_of(self.instance):
            self.cli("module reload res_pjsip.so")
            self.cli("module reload app_queue.so")

    def cli(self, command: str) -> str:
        return process.run_cli(self.instance, command)

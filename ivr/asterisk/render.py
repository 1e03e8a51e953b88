"""Render our Asterisk configuration from `dialplans/` into an instance's run directory.

Templates use `@@NAME@@` placeholders (not `${...}`, which is dialplan syntax). Every address is an
IP literal; by default every one of them is 127.0.0.1.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..config import Settings
from . import media, requirements
from .secret import ami_secret

PLACEHOLDER = re.compile(r"@@([A-Z_]+)@@")
AGENT_COUNT = 2


class RenderError(RuntimeError):
    pass


def substitute(text: str, values: dict[str, str], source: str) -> str:
    def repl(m: re.Match) -> str:
        key = m.group(1)
        if key not in values:
            raise RenderError(f"{source}: unknown placeholder @@{key}@@")
        return str(values[key])
    return PLACEHOLDER.sub(repl, text)


def agent_endpoints(settings: Settings, count: int = AGENT_COUNT) -> str:
    """Agents' phones. Static contacts point at the agent simulator; real phones may register instead."""
    blocks = []
    for n in range(1, count + 1):
        name = f"huifang-agent{n}"
        blocks.append(f"""
[{name}]
type = aor
contact = sip:agent{n}@{settings.bind}:{settings.agent_port}
max_contacts = 2
qualify_frequency = 0

[{name}]
type = endpoint
transport = transport-udp
context = huifang-from-agent
aors = {name}
disallow = all
allow = ulaw,alaw
dtmf_mode = rfc4733
direct_media = no
rtp_symmetric = yes
media_address = {settings.bind}
bind_rtp_to_media_address = yes
""")
    return "".join(blocks)


def queue_members(count: int = AGENT_COUNT) -> str:
    return "\n".join(f"member => PJSIP/huifang-agent{n},0,Agent {n}" for n in range(1, count + 1))


def values_for(settings: Settings) -> dict[str, str]:
    astdir = settings.asterisk_dir_in_chroot
    rtp_start, rtp_end = settings.rtp_range
    return {
        "ASTDIR": astdir,
        "INSTANCE": settings.instance,
        "BIND": settings.bind,
        "AMI_PORT": str(settings.ami_port_effective),
        "AMI_USER": settings.ami_user,
        "AMI_SECRET": ami_secret(settings),
        "SIP_PORT": str(settings.sip_port),
        "TRUNK_HOST": settings.trunk_host,
        "TRUNK_PORT": str(settings.trunk_port_effective),
        "TRUNK_AUTH": "",
        "CALLER_ID": "4008000000",
        "AGENTS": agent_endpoints(settings),
        "QUEUE_MEMBERS": queue_members(),
        "RTP_START": str(rtp_start),
        "RTP_END": str(rtp_end),
        "DIALOG_HOST": settings.dialog_host,
        "AGI_PORT": str(settings.agi_port),
        "RECORDINGS_DIR": media.in_asterisk(settings, media.RECORDINGS),
        "SOUNDS_DIR": media.in_asterisk(settings, media.SOUNDS),
        "CHECK_MODULES": requirements.check_modules_expression(),
    }


def render_dialplan(settings: Settings) -> str:
    """Our dialplan with this install's addresses and media directory filled in (also what an
    external Asterisk includes)."""
    path = settings.dialplans_dir / "huifang.conf"
    return substitute(path.read_text(), values_for(settings), str(path))


def render_template(settings: Settings, name: str) -> str:
    """One of dialplans/templates/ rendered with this install's values."""
    path = settings.dialplans_dir / "templates" / name
    return substitute(path.read_text(), values_for(settings), str(path))


def render(settings: Settings) -> Path:
    """Write the whole configuration into the instance directory; return its etc/ path."""
    astdir = settings.asterisk_dir
    etc = astdir / "etc"
    for sub in ("etc", "lib/keys", "spool", "run", "log", "recordings", "agi-bin"):
        (astdir / sub).mkdir(parents=True, exist_ok=True)
    values = values_for(settings)
    templates = settings.dialplans_dir / "templates"
    for template in sorted(templates.glob("*.conf")):
        (etc / template.name).write_text(substitute(template.read_text(), values, str(template)))
    (etc / "huifang.conf").write_text(render_dialplan(settings))
    (etc / "manager.conf").chmod(0o600)
    media.install_sounds(settings)
    return etc

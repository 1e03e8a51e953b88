"""Render our Asterisk configuration from `dialplans/` into an instance's run directory.

Templates use `@@NAME@@` placeholders (not `${...}`, which is dialplan syntax). Every address is an
IP literal; by default every one of them is 127.0.0.1.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..config import Settings
from ..agents.credentials import sip_username
from ..dialer.caller_id import check as check_caller_id
from ..dialer.failover import dialplan_check
from . import media, requirements
from .secret import ami_secret
from .trunk_conf import trunks_conf

PLACEHOLDER = re.compile(r"@@([A-Z_]+)@@")


class RenderError(RuntimeError):
    pass


def substitute(text: str, values: dict[str, str], source: str) -> str:
    def repl(m: re.Match) -> str:
        key = m.group(1)
        if key not in values:
            raise RenderError(f"{source}: unknown placeholder @@{key}@@")
        return str(values[key])
    return PLACEHOLDER.sub(repl, text)


def registered_agents(settings: Settings) -> list[dict]:
    """The active agent endpoints of this install's database (none before an SQLite file exists)."""
    from ..db.migrate import sqlite_path
    path = sqlite_path(settings.database_url_effective)
    if path is not None and not Path(path).exists():
        return []
    from ..agents.endpoints import active
    from ..db.connect import open_database
    from ..db.store import store_of
    db = open_database(settings)
    try:
        return active(db)
    finally:
        store_of(db).close()


def agent_endpoints(settings: Settings, agents: list[dict]) -> str:
    """Agents' phones: each registers (digest, md5_cred: the password itself is nowhere on disk); no
    static contact, so a phone that has not registered is simply not reachable."""
    blocks = []
    for a in agents:
        name = sip_username(a["name"])
        blocks.append(f"""
[{name}]
type = auth
auth_type = digest
username = {name}
realm = {a["realm"]}
md5_cred = {a["md5_cred"]}

[{name}]
type = aor
max_contacts = 1
remove_existing = yes
qualify_frequency = 30

[{name}]
type = endpoint
transport = transport-udp
context = huifang-from-agent
aors = {name}
auth = {name}
disallow = all
allow = ulaw,alaw
dtmf_mode = rfc4733
direct_media = no
rtp_symmetric = yes
media_address = {settings.bind}
bind_rtp_to_media_address = yes
""")
    return "".join(blocks)


def queue_members(agents: list[dict]) -> str:
    """The queue's members are the agents' endpoints; the member name is the endpoint's short name."""
    return "\n".join(f"member => PJSIP/{sip_username(a['name'])},0,{a['name']}" for a in agents)


def values_for(settings: Settings) -> dict[str, str]:
    astdir = settings.asterisk_dir_in_chroot
    rtp_start, rtp_end = settings.rtp_range
    agents = registered_agents(settings)
    return {
        "ASTDIR": astdir,
        "INSTANCE": settings.instance,
        "BIND": settings.bind,
        "AMI_PORT": str(settings.ami_port_effective),
        "AMI_USER": settings.ami_user,
        "AMI_SECRET": ami_secret(settings),
        "SIP_PORT": str(settings.sip_port),
        "TRUNKS": trunks_conf(settings.trunks(), bind=settings.bind),
        "FAILOVER_CHECK": dialplan_check(),
        "CALLER_ID": check_caller_id(settings.default_caller_id, "default_caller_id"),
        "AGENTS": agent_endpoints(settings, agents),
        "QUEUE_MEMBERS": queue_members(agents),
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
    values = values_for(settings)
    text = substitute(path.read_text(), values, str(path))
    if settings.bench_baseline:   # bench/capacity.py's comparison context, never a lender's
        extra = settings.dialplans_dir / "bench-baseline.conf"
        text += "\n" + substitute(extra.read_text(), values, str(extra))
    return text


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
    (etc / "pjsip.conf").chmod(0o600)   # the trunks' passwords
    media.install_sounds(settings)
    return etc

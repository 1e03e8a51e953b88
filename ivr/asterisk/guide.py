"""`ivr asterisk dialplan`: everything a lender adds to their own Asterisk, with this install's values.

Why it looks like this: the snippets are cut from the very templates the managed Asterisk is
rendered from (the trunk endpoint and agents from pjsip.conf, the queue from queues.conf), so what
we tell a lender cannot drift from what we test; only the options that tie the managed Asterisk to
loopback are left out. The AMI user and the module list come from `requirements`, which
`ivr asterisk check` verifies against the running PBX.
"""
from __future__ import annotations

import re

from ..config import Settings
from . import requirements
from .render import render_dialplan, render_template
from .secret import ami_secret

# options of our managed pjsip.conf that only make sense for an Asterisk on loopback with our own
# transport: a lender's endpoints use their transport and their media addresses
MANAGED_ONLY = ("transport", "media_address", "bind_rtp_to_media_address")
_SECTION = re.compile(r"^\[([^\]]+)\]")


def sections(text: str, keep) -> str:
    """The sections of an Asterisk config text whose name passes `keep`, comments inside kept."""
    out, on = [], False
    for line in text.splitlines():
        m = _SECTION.match(line)
        if m:
            on = keep(m.group(1))
            if on and out and out[-1] != "":
                out.append("")
        if on and not (line == "" and out and out[-1] == ""):
            out.append(line)
    while out and (out[-1] == "" or out[-1].startswith(";")):
        out.pop()
    return "\n".join(out) + "\n"


def pjsip_snippet(settings: Settings) -> str:
    text = sections(render_template(settings, "pjsip.conf"), lambda name: name.startswith("huifang-"))
    lines = [line for line in text.splitlines()
             if line.split("=")[0].strip() not in MANAGED_ONLY]
    return "\n".join(lines) + "\n"


def queue_snippet(settings: Settings) -> str:
    return sections(render_template(settings, "queues.conf"), lambda name: name == requirements.AGENT_QUEUE)


def manager_snippet(settings: Settings) -> str:
    reasons = [f";   read  {c:<9} {why}" for c, why in requirements.AMI_READ.items()]
    reasons += [f";   write {c:<9} {why}" for c, why in requirements.AMI_WRITE.items()]
    return "\n".join([
        "; only these classes: nothing of Huifang needs system, command, config or all",
        *reasons,
        f"[{settings.ami_user}]",
        f"secret = {ami_secret(settings)}",
        "deny = 0.0.0.0/0.0.0.0",
        f"permit = {settings.dialog_host}/255.255.255.255",
        "read = " + ",".join(requirements.AMI_READ),
        "write = " + ",".join(requirements.AMI_WRITE),
    ]) + "\n"


def modules_snippet() -> str:
    return "".join(f"load => {m}.so{' ' * max(1, 24 - len(m))}; {why}\n" for m, why in requirements.MODULES.items())


def media_notes(settings: Settings) -> str:
    a = settings.media_dir_in_asterisk
    return "\n".join([
        f"; Asterisk records into {a}/recordings and plays {a}/sounds/<locale>/*.wav:",
        f";   mkdir -p {a}/recordings {a}/sounds && chown -R asterisk: {a}",
        f"; Huifang reads, serves and purges the same files as {settings.media_dir_on_host}"
        + (" (the same path)" if str(settings.media_dir_on_host) == a else
           " (set `media_dir` if that is not how Huifang's machine mounts it)"),
        "; `ivr dialog serve` copies the sounds in at start; `ivr asterisk check` proves both views agree.",
    ]) + "\n"


def guide(settings: Settings, *, dialplan_file: str | None = None) -> str:
    """The whole text; with `dialplan_file`, the dialplan itself is written there by the caller and
    only named here."""
    head = lambda title: f"\n; ======== {title} " + "=" * max(4, 70 - len(title)) + "\n"  # noqa: E731
    parts = [
        "; What to add to your Asterisk for Huifang. Run `ivr asterisk check` afterwards.\n",
        head("extensions.conf"),
        f'#include "{dialplan_file or "huifang.conf"}"\n',
    ]
    if not dialplan_file:
        parts += [head("huifang.conf (save as this file next to extensions.conf)"), render_dialplan(settings)]
    parts += [
        head("pjsip.conf: your carrier and your agents' phones (keep these names)"),
        "; use your own transport; fill in your carrier's address and, if it asks, its authentication\n",
        pjsip_snippet(settings),
        head("queues.conf: where escalations wait for an agent"),
        queue_snippet(settings),
        head("manager.conf: the AMI user Huifang logs in as"),
        manager_snippet(settings),
        head("modules.conf (only if you do not autoload)"),
        modules_snippet(),
        head("the media directory"),
        media_notes(settings),
        "\n; then: `dialplan reload`, `module reload res_pjsip.so`, `queue reload all`, `manager reload`\n",
    ]
    return "".join(parts)

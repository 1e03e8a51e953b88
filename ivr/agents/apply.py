"""Make Asterisk use the agent endpoints now in the database.

Managed Asterisk: re-render the configuration and reload res_pjsip and app_queue (a reset password
stops working at once; registered phones keep their registration until it expires or they
re-register, when the new password is needed). External Asterisk: Huifang cannot write the PBX's
files; `ivr agent conf` prints the sections to paste and the operator reloads.
"""
from __future__ import annotations

import logging

from ..config import Settings

log = logging.getLogger(__name__)


def apply(settings: Settings) -> str:
    """Returns what happened, in words for the operator."""
    from ..asterisk import process
    from ..asterisk.render import render
    if settings.asterisk_mode != "managed":
        return ("external Asterisk: paste the output of `ivr agent conf` into your pjsip.conf / queues.conf "
                "and run `module reload res_pjsip.so` and `module reload app_queue.so`")
    if not process.running_pid(settings):
        return "Asterisk is not running: the endpoints are used when it starts"
    render(settings)
    for module in ("res_pjsip.so", "app_queue.so"):
        process.cli(settings, f"module reload {module}")
    log.info("agent endpoints applied to the running Asterisk")
    return "Asterisk reloaded with the agent endpoints"


def conf_text(settings: Settings) -> str:
    """What an external Asterisk needs: the endpoints (pjsip.conf) and the queue's members (queues.conf)."""
    from ..asterisk.guide import MANAGED_ONLY
    from ..asterisk.render import agent_endpoints, queue_members, registered_agents
    agents = registered_agents(settings)
    # the PBX's own transport and media addresses apply, not the managed instance's
    endpoints = "\n".join(line for line in agent_endpoints(settings, agents).splitlines()
                          if line.split("=")[0].strip() not in MANAGED_ONLY)
    return ("; ---- pjsip.conf: Huifang agents' phones (they REGISTER; no static contact) ----\n"
            + endpoints + "\n"
            + "\n; ---- queues.conf, in [huifang-agents] ----\n" + queue_members(agents) + "\n")

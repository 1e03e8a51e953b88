"""`ivr asterisk check`, the talking half: log in over AMI, ask, place the probe call, and hand what
came back to check.py's judges. See check.py for what is observed and why.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
import uuid

from ..ami.client import AmiAuthError, AmiClient, AmiError
from ..ami.protocol import Message, get_header
from ..config import Settings
from . import requirements
from .check import (Finding, allowed_actions, context_finding, contexts_of, media_findings, module_findings,
                    read_findings, report, write_findings)
from .render import render_dialplan
from .secret import ami_secret

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 5.0


async def run(settings: Settings, *, probe_timeout: float = PROBE_TIMEOUT_S) -> list[Finding]:
    events: list[Message] = []

    async def on_event(e: Message) -> None:
        events.append(e)

    ami = AmiClient(settings.ami_host, settings.ami_port_effective, settings.ami_user, ami_secret(settings),
                    on_event=on_event, ping_interval=30)
    where = f"{settings.ami_host}:{settings.ami_port_effective}"
    try:
        await ami.start()
    except AmiAuthError:
        return [Finding("AMI", f"login as {settings.ami_user!r} at {where}", False,
                        "rejected: check `ami_user`/`ami_secret` against manager.conf (and its permit/deny)")]
    except (OSError, asyncio.TimeoutError) as exc:
        return [Finding("AMI", f"connect to {where}", False,
                        f"{exc.__class__.__name__}: {exc}; is AMI enabled (manager.conf [general] enabled, "
                        "port, bindaddr) and `ami_host`/`ami_port` right?")]
    findings = [Finding("AMI", f"login as {settings.ami_user!r} at {where}", True, "accepted")]
    try:
        allowed = allowed_actions(await ami.send_action({"Action": "ListCommands"}))
        findings += write_findings(allowed)
        for context in contexts_of(render_dialplan(settings)):
            findings.append(context_finding(context, await ami.send_action(
                {"Action": "ShowDialPlan", "Context": context})))
        probe = None
        if "Originate" in allowed and all(f.ok for f in findings if f.item == requirements.CHECK_CONTEXT):
            probe = secrets.token_hex(6)
            probe_events = await _probe(ami, events, probe, probe_timeout)
            modules = next((get_header(e, "Modules") for e in probe_events
                            if get_header(e, "UserEvent") == "HuifangCheck"), None)
            findings += read_findings(probe_events, probe, _probe_channel(probe))
            findings += module_findings(modules)
        else:
            why = "not checked: needs `write = originate` and our dialplan included"
            findings += [Finding("AMI", f"read = {c}", None, why) for c in requirements.AMI_READ]
            findings += [Finding("module", m, None, why) for m in requirements.MODULES]
        findings += media_findings(settings, probe)
    except AmiError as exc:
        findings.append(Finding("AMI", "session", False, f"AMI failed during the check: {exc}"))
    finally:
        await ami.close()
    return findings


def _probe_channel(probe: str) -> str:
    return str(uuid.UUID(int=int(probe, 16)))


async def _probe(ami: AmiClient, events: list[Message], probe: str, timeout: float) -> list[Message]:
    """Originate the probe and return the events that arrived until it hung up (or `timeout`)."""
    start = len(events)
    channel_id = _probe_channel(probe)
    response = await ami.send_action({
        "Action": "Originate", "ActionID": f"check-{probe}", "Channel": f"Local/probe@{requirements.CHECK_CONTEXT}/n",
        "Context": requirements.CHECK_CONTEXT, "Exten": "end", "Priority": "1", "Async": "true",
        "Timeout": "5000", "ChannelId": channel_id, "Variable": f"IVR_PROBE={probe}"})
    if (get_header(response, "Response") or "").lower() != "success":
        log.warning("probe originate refused: %s", get_header(response, "Message"))
        return []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        done = any(get_header(e, "Event") == "Hangup" and (get_header(e, "Uniqueid") or "").startswith(channel_id)
                   for e in events[start:])
        user = any(get_header(e, "UserEvent") == "HuifangCheck" for e in events[start:])
        if done and user:
            break
    await asyncio.sleep(0.3)  # MixMonitor closes its file as the channel goes
    return events[start:]


def check(settings: Settings) -> tuple[str, int]:
    """Run the check and return (report text, exit status)."""
    return report(asyncio.run(run(settings)))

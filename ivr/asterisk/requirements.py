"""What Huifang needs from an Asterisk it does not manage, each item with the reason, as data.

One list serves both `ivr asterisk dialplan` (what to tell the lender to add) and `ivr asterisk check`
(what to look for on their PBX), so the two can never disagree.

AMI classes, measured on Asterisk 22 (an action is allowed when the user has ANY of its classes;
`ListCommands` shows each action's): Originate needs `originate`, CoreShowChannels `system` or
`reporting`, ShowDialPlan `config` or `reporting`. `reporting` is the narrower one. Events arrive only
in the classes of the user's `read`. Nothing needs `command`, `config`, `system` or `all`.
"""
from __future__ import annotations

# module (as `module show` names it, without .so) -> why Huifang needs it
MODULES: dict[str, str] = {
    "chan_pjsip": "SIP channels to your carrier and to the agents' phones",
    "res_pjsip_header_funcs": "PJSIP_HEADER(): every INVITE carries X-Huifang-Attempt",
    "app_dial": "Dial(): the borrower's leg",
    "res_agi": "AGI(): call control by the dialog server (FastAGI)",
    "res_audiosocket": "the AudioSocket protocol",
    "app_audiosocket": "AudioSocket(): the conversation's audio to and from the dialog server",
    "app_mixmonitor": "MixMonitor(): call recordings and failed calls' early media",
    "app_queue": "Queue(): escalations to your agents",
    "app_userevent": "UserEvent(): each stage of a call reported to Huifang",
    "app_stack": "Gosub handlers of Dial's b() and U() options",
    "app_exec": "TryExec(): the apology when the dialog server is down",
    "app_playback": "Playback(): the apology and the no-agent message",
    "func_channel": "CHANNEL(hangup_handler_push)",
    "func_hangupcause": "HANGUPCAUSE(): the SIP code of a failed call",
    "func_cut": "CUT()",
    "func_logic": "IF()",
    "format_wav": "recordings as WAV",
    "format_sln": "early media as raw 8 kHz audio",
    "func_module": "IFMODULE(): lets `ivr asterisk check` see the modules above",
}

# AMI class -> why; `read` gets events of these classes, `write` may send actions of these
AMI_READ: dict[str, str] = {
    "call": "OriginateResponse, Newstate, DialBegin/DialState, Hangup: each call's progress",
    "user": "UserEvent: the stages our dialplan reports (answered, dialog ended, queued, ...)",
    "agent": "queue events (AgentConnect, QueueCallerJoin, ...): which agent took an escalation",
}
AMI_WRITE: dict[str, str] = {
    "originate": "Originate: placing the calls",
    "reporting": "CoreShowChannels (reconciling calls after a restart) and ShowDialPlan (this check)",
}
# write actions Huifang sends, and which of AMI_WRITE's classes allows each
AMI_ACTIONS: dict[str, str] = {"Originate": "originate", "CoreShowChannels": "reporting", "ShowDialPlan": "reporting"}

# the objects our dialplan names, which the lender defines in their own configuration
TRUNK_ENDPOINT = "huifang-trunk"
AGENT_QUEUE = "huifang-agents"
CHECK_CONTEXT = "huifang-check"


def check_modules_expression() -> str:
    """The UserEvent body of the check probe: `name=${IFMODULE(name.so)}` for every module."""
    return " ".join(f"{m}=${{IFMODULE({m}.so)}}" for m in MODULES)


def parse_classes(value: str) -> set[str]:
    """`read`/`write` of manager.conf as a set of class names."""
    return {c.strip().lower() for c in value.split(",") if c.strip()}

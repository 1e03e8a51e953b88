"""`ivr asterisk check`, the judging half: what Asterisk answered -> what is missing for Huifang.

Why it looks like this: a lender's PBX team needs one answer, in plain words, with the fix next to each
problem, and an exit status a script can act on. Asterisk has no AMI action that shows a user's own
permissions, so everything is observed as Huifang will meet it:

* write classes: `ListCommands` lists exactly the actions this user may send (with their classes);
* our contexts: `ShowDialPlan` per context of our rendered dialplan;
* read classes, modules and the media directory: one probe call, `Local/probe@huifang-check`, that
  never leaves the PBX. Its UserEvent (user class) names the modules loaded (IFMODULE), its channel
  events are call class, the queue member it adds and removes emits agent class events, and the
  MixMonitor file it writes must then appear in Huifang's view of the recordings directory, which
  proves that `asterisk_media_dir` and `media_dir` name the same directory.

Here are pure functions of AMI messages (unit-tested on the shapes Asterisk 22 sent); check_ami.py
talks to Asterisk and feeds them.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from ..ami.protocol import Message, get_header
from ..config import Settings
from . import media, requirements

log = logging.getLogger(__name__)

SECTION = re.compile(r"^\[([^\]]+)\]", re.M)


@dataclass
class Finding:
    topic: str            # "AMI", "module", "dialplan", "media"
    item: str
    ok: bool | None       # None: could not be checked (see detail)
    detail: str = ""


# ---- pure: AMI responses to findings ------------------------------------------------------------
def allowed_actions(list_commands: Message) -> dict[str, set[str]]:
    """`ListCommands` response -> {action: its classes}; only actions this user may send are listed."""
    out = {}
    for key, value in list_commands.items():
        if key in ("Response", "ActionID") or not isinstance(value, str):
            continue
        m = re.search(r"\(Priv: ([^)]*)\)\s*$", value)
        if m:
            out[key] = set() if m.group(1) == "<none>" else requirements.parse_classes(m.group(1))
    return out


def write_findings(allowed: dict[str, set[str]]) -> list[Finding]:
    found = []
    for action, cls in requirements.AMI_ACTIONS.items():
        ok = action in allowed
        found.append(Finding("AMI", f"write = {cls}", ok, f"lets Huifang send {action}" if ok else
                             f"the AMI user may not send {action}: add `{cls}` to its `write` in manager.conf"))
    return _merge_same_items(found)


def _merge_same_items(found: list[Finding]) -> list[Finding]:
    by_item: dict[str, Finding] = {}
    for f in found:
        old = by_item.get(f.item)
        if old is None:
            by_item[f.item] = f
        elif old.ok and not f.ok:
            by_item[f.item] = f
    return list(by_item.values())


def contexts_of(dialplan: str) -> list[str]:
    return SECTION.findall(dialplan)


def context_finding(context: str, response: Message) -> Finding:
    ok = (get_header(response, "Response") or "").lower() == "success"
    message = get_header(response, "Message") or ""
    if ok:
        return Finding("dialplan", context, True, "present")
    if "permission" in message.lower():
        return Finding("dialplan", context, None, "not checked: the AMI user lacks `write = reporting`")
    return Finding("dialplan", context, False, "missing: `#include` the output of `ivr asterisk dialplan` in "
                                               "extensions.conf, then `dialplan reload`")


def module_findings(modules_header: str | None) -> list[Finding]:
    """The probe's `Modules: res_agi=1 app_queue=0 ...` -> one finding per required module."""
    seen = dict(part.split("=", 1) for part in (modules_header or "").split() if "=" in part)
    if not any(v for v in seen.values()):
        why = ("func_module is not loaded, so IFMODULE() cannot tell" if modules_header is not None
               else "no probe event arrived (see the AMI and dialplan lines)")
        return [Finding("module", m, None, f"not checked: {why}; on the PBX: `module show like {m}`")
                for m in requirements.MODULES]
    found = []
    for module, why in requirements.MODULES.items():
        ok = seen.get(module) == "1"
        found.append(Finding("module", module, ok, why if ok else
                             f"not loaded ({why}): `load => {module}.so` in modules.conf, then "
                             f"`module load {module}.so`"))
    return found


def read_findings(events: list[Message], probe: str, channel_id: str) -> list[Finding]:
    """Which of the needed event classes reached this AMI user during the probe call."""
    call = user = agent = False
    for e in events:
        name = get_header(e, "Event") or ""
        if name == "UserEvent" and get_header(e, "UserEvent") == "HuifangCheck" and get_header(e, "Probe") == probe:
            user = True
        elif name.startswith("QueueMember") and "huifang-check" in (get_header(e, "Interface") or ""):
            agent = True
        elif (get_header(e, "Uniqueid") or "").startswith(channel_id) or \
                (get_header(e, "Linkedid") or "").startswith(channel_id):
            call = True
        elif name == "OriginateResponse" and (get_header(e, "ActionID") or "").endswith(probe):
            call = True
    found = []
    for cls, seen in (("call", call), ("user", user), ("agent", agent)):
        found.append(Finding("AMI", f"read = {cls}", seen, requirements.AMI_READ[cls] if seen else
                             f"no {cls} events reach the AMI user: add `{cls}` to its `read` in manager.conf"
                             + (" (or app_userevent is not loaded)" if cls == "user" else "")
                             + (" (or app_queue / queue huifang-agents is missing)" if cls == "agent" else "")))
    return found


def media_findings(settings: Settings, probe: str | None) -> list[Finding]:
    found = []
    recordings = media.on_host(settings, media.RECORDINGS)
    problem = media.writable_problem(recordings)
    found.append(Finding("media", f"{recordings} (Huifang's view)", problem is None,
                         problem or "Huifang can write and delete recordings here"))
    missing = [f"{loc}/{name}.wav" for loc in sorted(p.name for p in settings.prompts_dir.iterdir()
                                                     if (p / "audio").is_dir())
               for name in ("no_agent", "technical_difficulty")
               if not media.on_host(settings, media.SOUNDS, loc, f"{name}.wav").is_file()]
    found.append(Finding("media", f"{media.on_host(settings, media.SOUNDS)}", not missing,
                         "the sounds Asterisk plays are in place" if not missing else
                         "missing " + ", ".join(missing) + ": start `ivr dialog serve` once (it installs them)"))
    if probe is not None:
        made = media.on_host(settings, media.RECORDINGS, f"check-{probe}.wav")
        ok = made.is_file()
        found.append(Finding("media", f"{media.in_asterisk(settings, media.RECORDINGS)} (Asterisk's view)", ok,
                             "Asterisk records here and Huifang sees the file" if ok else
                             f"Asterisk's probe recording did not appear as {made}: Asterisk cannot write "
                             f"{media.in_asterisk(settings, media.RECORDINGS)} (owner/permissions), or "
                             "`media_dir` is not the same directory as `asterisk_media_dir`"))
        made.unlink(missing_ok=True)
    return found


def report(findings: list[Finding]) -> tuple[str, int]:
    """Plain-English lines and the exit status: 1 if anything is missing or could not be checked."""
    lines = []
    marks = {True: "ok     ", False: "MISSING", None: "UNKNOWN"}
    for f in findings:
        lines.append(f"{marks[f.ok]}  {f.topic:<8} {f.item}: {f.detail}")
    bad = [f for f in findings if f.ok is not True]
    lines.append("")
    lines.append("everything Huifang needs is in place" if not bad else
                 f"{len(bad)} item(s) to fix on your PBX (see MISSING/UNKNOWN above)")
    return "\n".join(lines), (1 if bad else 0)

"""`ivr asterisk check` judging AMI responses (shapes as Asterisk 22 sent them to a user with
read=call,user,agent and write=originate,reporting), and `ivr asterisk dialplan` naming everything
our dialplan uses."""
from __future__ import annotations

import re

from ivr import config
from ivr.asterisk import check, guide, render, requirements

# ListCommands lists only what the user may send, each with its classes
LIST_COMMANDS = {
    "Response": "Success", "ActionID": "hf-1",
    "BridgeDestroy": "Destroy a bridge.  (Priv: <none>)",
    "CoreShowChannels": "List currently active channels.  (Priv: system,reporting,all)",
    "Originate": "Originate a call.  (Priv: originate,all)",
    "PJSIPQualify": "Qualify a chan_pjsip endpoint.  (Priv: system,reporting,all)",
    "ShowDialPlan": "Show dialplan contexts and extensions  (Priv: config,reporting,all)",
    "QueueStatus": "Show queue status.  (Priv: <none>)",
}


def settings(tmp_path, **kw):
    return config.load(env={}).replace(cache_dir=tmp_path / "cache", instance="unit", port_base=41000,
                                       asterisk_mode="external", ami_secret="s3cret",
                                       asterisk_media_dir="/data/hf", media_dir=str(tmp_path / "mnt"), **kw)


def test_list_commands_gives_the_actions_allowed_and_their_classes():
    allowed = check.allowed_actions(LIST_COMMANDS)
    assert allowed["Originate"] == {"originate", "all"}
    assert allowed["BridgeDestroy"] == set()
    assert "Response" not in allowed and "ActionID" not in allowed


def test_write_classes_all_present():
    found = check.write_findings(check.allowed_actions(LIST_COMMANDS))
    assert {(f.item, f.ok) for f in found} == {("write = originate", True), ("write = reporting", True)}


def test_missing_originate_names_the_class_to_add():
    without = {k: v for k, v in LIST_COMMANDS.items() if k != "Originate"}
    [bad] = [f for f in check.write_findings(check.allowed_actions(without)) if not f.ok]
    assert bad.item == "write = originate" and "add `originate` to its `write`" in bad.detail


def test_reporting_missing_when_either_of_its_actions_is_refused():
    without = {k: v for k, v in LIST_COMMANDS.items() if k != "ShowDialPlan"}
    [bad] = [f for f in check.write_findings(check.allowed_actions(without)) if not f.ok]
    assert bad.item == "write = reporting" and "ShowDialPlan" in bad.detail


def test_context_present_missing_or_not_checkable():
    ok = check.context_finding("huifang-call", {"Response": "Success", "EventList": "start"})
    missing = check.context_finding("huifang-call", {"Response": "Error",
                                                     "Message": "Did not find context huifang-call"})
    denied = check.context_finding("huifang-call", {"Response": "Error", "Message": "Permission denied"})
    assert (ok.ok, missing.ok, denied.ok) == (True, False, None)
    assert "#include" in missing.detail and "reporting" in denied.detail


def test_modules_from_the_probe_event():
    header = " ".join(f"{m}=1" for m in requirements.MODULES).replace("app_queue=1", "app_queue=0")
    found = {f.item: f for f in check.module_findings(header)}
    assert found["app_queue"].ok is False and "load => app_queue.so" in found["app_queue"].detail
    assert all(f.ok for name, f in found.items() if name != "app_queue")
    assert set(found) == set(requirements.MODULES)


def test_modules_unknown_when_ifmodule_is_not_there_or_no_probe_arrived():
    # without func_module, ${IFMODULE(...)} expands to nothing
    empty = " ".join(f"{m}=" for m in requirements.MODULES)
    assert all(f.ok is None and "func_module" in f.detail for f in check.module_findings(empty))
    assert all(f.ok is None and "no probe event" in f.detail for f in check.module_findings(None))


def probe_events(probe="abc123", channel="00000000-0000-0000-0000-0000000abc12"):
    return [
        {"Event": "Newchannel", "Uniqueid": channel, "Linkedid": channel, "Channel": "Local/probe@huifang-check-1;1"},
        {"Event": "QueueMemberAdded", "Queue": "huifang-agents", "Interface": "Local/nobody@huifang-check/n"},
        {"Event": "UserEvent", "UserEvent": "HuifangCheck", "Probe": probe, "Modules": "res_agi=1"},
        {"Event": "QueueMemberRemoved", "Queue": "huifang-agents", "Interface": "Local/nobody@huifang-check/n"},
        {"Event": "Hangup", "Uniqueid": channel, "Linkedid": channel},
    ]


def test_read_classes_seen_in_the_probe_events():
    found = {f.item: f.ok for f in check.read_findings(probe_events(), "abc123",
                                                         "00000000-0000-0000-0000-0000000abc12")}
    assert found == {"read = call": True, "read = user": True, "read = agent": True}


def test_read_class_missing_when_its_events_never_came():
    events = [e for e in probe_events() if not e["Event"].startswith("QueueMember")]
    found = {f.item: f for f in check.read_findings(events, "abc123", "00000000-0000-0000-0000-0000000abc12")}
    assert found["read = agent"].ok is False and "add `agent` to its `read`" in found["read = agent"].detail
    # another probe's UserEvent is not ours
    other = check.read_findings(probe_events(probe="zzz"), "abc123", "00000000-0000-0000-0000-0000000abc12")
    assert {f.item: f.ok for f in other}["read = user"] is False


def test_report_exit_status():
    good = [check.Finding("AMI", "x", True, "fine")]
    text, status = check.report(good)
    assert status == 0 and "everything Huifang needs is in place" in text
    text, status = check.report(good + [check.Finding("module", "app_queue", False, "not loaded"),
                                        check.Finding("module", "res_agi", None, "not checked")])
    assert status == 1 and "2 item(s) to fix" in text
    assert re.search(r"^MISSING +module +app_queue: not loaded$", text, re.M)
    assert re.search(r"^UNKNOWN +module +res_agi", text, re.M)


def test_media_probe_file_must_appear_on_huifangs_side(tmp_path):
    s = settings(tmp_path)
    (tmp_path / "mnt/recordings").mkdir(parents=True)
    found = {f.item: f for f in check.media_findings(s, "feed01")}
    asterisk_view = found["/data/hf/recordings (Asterisk's view)"]
    assert asterisk_view.ok is False and "`media_dir` is not the same directory" in asterisk_view.detail
    (tmp_path / "mnt/recordings/check-feed01.wav").write_bytes(b"RIFF")
    found = {f.item: f for f in check.media_findings(s, "feed01")}
    assert found["/data/hf/recordings (Asterisk's view)"].ok is True
    assert not (tmp_path / "mnt/recordings/check-feed01.wav").exists()  # the probe's file is removed


def test_the_dialplan_guide_defines_everything_the_dialplan_uses(tmp_path):
    s = settings(tmp_path)
    from ivr.agents import endpoints
    from ivr.db.connect import connect
    db = connect(s.database)
    endpoints.create(db, "zhao")       # the agents' phones and the queue's members come from the database
    db.conn.close()
    dialplan = render.render_dialplan(s)
    text = guide.guide(s)
    endpoints = set(re.findall(r"PJSIP/[^@,)]*@([\w-]+)", dialplan))
    queues = set(re.findall(r"\bQueue\(([\w-]+)", dialplan))
    assert endpoints == {requirements.TRUNK_ENDPOINT} and queues == {requirements.AGENT_QUEUE}
    pjsip = guide.pjsip_snippet(s)
    for name in endpoints:
        assert f"[{name}]\ntype = endpoint" in pjsip and f"[{name}]\ntype = aor" in pjsip
    members = re.findall(r"member => PJSIP/([\w-]+)", guide.queue_snippet(s))
    assert members and all(f"[{m}]\ntype = endpoint" in pjsip for m in members)
    assert f"[{requirements.AGENT_QUEUE}]" in guide.queue_snippet(s)
    for option in guide.MANAGED_ONLY:
        assert not re.search(rf"^{option}\s*=", pjsip, re.M), option
    assert "read = call,user,agent\nwrite = originate,reporting\n" in text
    assert "secret = s3cret" in text and '#include "huifang.conf"' in text
    assert all(f"load => {m}.so" in text for m in requirements.MODULES)
    assert "[huifang-check]" in text  # the dialplan itself, with the check's probe


def test_probe_reports_every_required_module(tmp_path):
    dialplan = render.render_dialplan(settings(tmp_path))
    probe = dialplan[dialplan.index("[huifang-check]"):]
    assert [m for m in requirements.MODULES if f"{m}=${{IFMODULE({m}.so)}}" not in probe] == []

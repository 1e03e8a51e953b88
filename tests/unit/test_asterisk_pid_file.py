"""A managed Asterisk's pid file is trusted only while its pid runs that instance's Asterisk: the file
outlives an Asterisk that was SIGKILLed, and the kernel gives the pid to another process later."""
import subprocess
import sys
import time
from pathlib import Path

from ivr.asterisk.process import Instance, _pid_of


def _instance(tmp_path) -> Instance:
    return Instance(rootfs=tmp_path, conf_in_chroot="/srv/huifang/unit-1/etc/asterisk.conf", state_dir=tmp_path,
                    messages_log=tmp_path / "messages.log", ami_host="127.0.0.1", ami_port=1, ami_user="u",
                    ami_secret="s")


def _sleeper(*argv: str) -> subprocess.Popen:
    """A process whose command line ends with `argv`, once it has exec'd (until then /proc shows
    the forking parent's command line)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", *argv])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")[-2:-1] == [argv[-1].encode()]:
            return proc
        time.sleep(0.01)
    proc.kill()
    raise AssertionError("the sleeper did not start")


def test_a_pid_now_held_by_another_process_is_not_the_instance(tmp_path):
    inst = _instance(tmp_path)
    other = _sleeper("--not-asterisk")
    try:
        inst.pid_file.write_text(str(other.pid))
        assert _pid_of(inst) is None
    finally:
        other.kill()
        other.wait()


def test_the_instances_own_process_is_found(tmp_path):
    inst = _instance(tmp_path)
    ours = _sleeper("-C", inst.conf_in_chroot)      # the command line names its asterisk.conf
    try:
        inst.pid_file.write_text(str(ours.pid))
        assert _pid_of(inst) == ours.pid
    finally:
        ours.kill()
        ours.wait()
    assert _pid_of(inst) is None                     # dead (and reaped): not running

"""What "up" means for each long-running process, and the start of its /metrics + /healthz endpoint.

Why it looks like this: a health check is a named callable returning None when its part is up,
else a short reason (`metrics_http.evaluate` turns a set of them into 200 or 503 + JSON). The
checks of one process are gathered here, next to each other, so "what does the dialer need to be
healthy" is answered in one place and the processes' entry points only call `serve(...)`:

  dialer         AMI logged in, database answering
  dialog server  FastAGI and AudioSocket listeners serving, every installed speech model loaded
  notifier       database answering, its send loop ran recently
  web app        database answering, its login page answering below 500

Checks run in the endpoint's HTTP thread: they only read attributes of the running objects (a
bool, a dict's keys), never await or call into an event loop.
"""
from __future__ import annotations

import time
import urllib.error
import urllib.request

from .config import Settings
from .metrics_http import Check, OpsEndpoint, database_check


def serve(process: str, settings: Settings, checks: dict[str, Check], *, port: int | None = None) -> OpsEndpoint:
    """Start `process`'s endpoint on settings.bind:settings.metrics_port(process) (or `port`: a dialog
    worker's own); print where."""
    endpoint = OpsEndpoint(process, settings.bind, port or settings.metrics_port(process), checks).start()
    print(f"{process}: metrics {endpoint.url}/metrics, health {endpoint.url}/healthz", flush=True)
    return endpoint


def dialer_checks(settings: Settings, controller) -> dict[str, Check]:
    """`controller`: a `dialer.controller.Controller`, or None while there is none yet."""
    def ami() -> str | None:
        placer = controller.placer if controller is not None else None
        if placer is None:
            return "not started"
        return None if placer.ami.connected else f"not connected to AMI {settings.ami_host}:{settings.ami_port_effective}"
    return {"ami": ami, "database": database_check(settings)}


def dialog_checks(server) -> dict[str, Check]:
    """`server`: a `dialog.server.DialogServer` (started or starting)."""
    def listeners() -> str | None:
        serving = [s for s in server._servers if s.is_serving()]
        if len(serving) < 2:
            return f"{len(serving)} of 2 listeners (FastAGI, AudioSocket) serving"
        return None

    def models() -> str | None:
        missing = [loc for loc in server.prompts.locales if server.speech.available(loc)
                   and loc not in server.speech._models]
        return f"speech model not loaded for {', '.join(missing)}" if missing else None
    return {"listeners": listeners, "speech_models": models, "database": database_check(server.settings)}


class Heartbeat:
    """A loop's proof of life: `beat()` each round; `check` fails when the last one is too old."""

    def __init__(self, max_age_s: float, clock=time.monotonic):
        self.max_age_s = max_age_s
        self.clock = clock
        self.last: float | None = None

    def beat(self) -> None:
        self.last = self.clock()

    def check(self) -> str | None:
        if self.last is None:
            return "the loop has not run yet"
        age = self.clock() - self.last
        return f"the loop last ran {age:.0f} s ago" if age > self.max_age_s else None


def notifier_checks(settings: Settings, heartbeat: Heartbeat) -> dict[str, Check]:
    return {"database": database_check(settings), "send_loop": heartbeat.check}


def web_checks(settings: Settings, app_url: str, timeout_s: float = 2.0) -> dict[str, Check]:
    """`app_url`: where the web app listens; its login page must answer below 500."""
    def http() -> str | None:
        try:
            with urllib.request.urlopen(f"{app_url}/login", timeout=timeout_s) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        return f"GET /login answered {status}" if status >= 500 else None
    return {"database": database_check(settings), "http": http}

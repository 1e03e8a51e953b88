"""Every Prometheus metric Huifang exports, defined here and nowhere else.

Why it looks like this:

* One module of definitions, so the names, labels and buckets can be read (and the Grafana
  dashboard, ops/grafana/huifang.json, and the README's alert rules checked) in one place. Code
  that records an event imports the metric from here and calls it at the one place the event
  happens: an attempt's disposition where `dialer.controller.finalize` writes it, an answer where
  `dialog.runner` stores it, a refusal where `dialer.scheduler.record_refusals` writes it.
* Each long-running process (dialer, dialog server, notifier, web app) serves, on its own
  127.0.0.1 port (`ivr.metrics_http`), only the metrics it records (`PROCESS_METRICS`, through
  `registry_for`) plus the health checks and the standard process_* / python_* figures: a
  dialog server showing `huifang_ami_connected 0` would fire the AMI alert. Every metric is also
  in prometheus-client's default registry, where tests read it.
* Label values are closed sets (outcomes, dispositions, policy reasons, decision kinds, via):
  never a phone number, attempt id or text, so no personal data reaches the metrics and the
  number of series stays small. `label()` maps a missing value to "none".
"""
from __future__ import annotations

from prometheus_client import (CollectorRegistry, Counter, GCCollector, Gauge, Histogram, PlatformCollector,
                               ProcessCollector, disable_created_metrics)

disable_created_metrics()   # no *_created series: creation times are noise on every dashboard

PREFIX = "huifang_"


def label(value) -> str:
    """A label value: the text of `value`, "none" when it is missing or empty."""
    text = "" if value is None else str(value).strip()
    return text or "none"


# ---- every process ---------------------------------------------------------------------------
HEALTH_CHECK = Gauge(
    "huifang_health_check", "1 when the process's health check passes, else 0 (the checks of /healthz, "
    "evaluated at each scrape)", ["check"])

# ---- dialer --------------------------------------------------------------------------------------
CALLS = Counter(
    "huifang_calls", "Attempts ended and classified by the dialer, by outcome (answered, failed, ...) "
    "and disposition (ivr/dialer/dispositions.py)", ["outcome", "disposition"])
REFUSALS = Counter(
    "huifang_refusals", "Due borrowers the calling policy refused to dial, by rule "
    "(ivr/dialer/policy.py REASONS: outside-calling-hours, public-holiday, caps, do-not-call, ...)", ["rule"])
AMI_EVENT_LAG = Histogram(
    "huifang_ami_event_lag_seconds", "From an AMI event's Asterisk timestamp to its delivery to the dialer",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
AMI_RECONNECTS = Counter(
    "huifang_ami_reconnects", "AMI connections re-established after a drop")
AMI_CONNECTED = Gauge(
    "huifang_ami_connected", "1 while the AMI connection is logged in, else 0")
QUEUE_WAIT = Histogram(
    "huifang_queue_wait_seconds", "Time an escalated borrower waited in the agents' queue, by how the wait "
    "ended (answered by an agent, timeout, abandoned, ...)", ["result"],
    buckets=(1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300))
CALLS_IN_FLIGHT = Gauge(
    "huifang_dialer_calls_in_flight", "Attempts the dialer is placing or following now")

# ---- dialog server -------------------------------------------------------------------------------
ANSWERS = Counter(
    "huifang_answers", "Answers stored by the dialog server, by decision (accept, confirm, reject; none for "
    "keypad, silence and hangup) and via (voice, keypad, none, hangup)", ["decision", "via"])
TURN_LATENCY = Histogram(
    "huifang_turn_latency_seconds", "From the end of the borrower's answer to the first audio frame of the "
    "reply (bench/turn_latency.py measures the same interval from the database)", ["via"],
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0))
DIALOGS_ACTIVE = Gauge(
    "huifang_dialogs_active", "Conversations the dialog server is running now")

# ---- notifier ------------------------------------------------------------------------------------
OUTBOX_BACKLOG = Gauge(
    "huifang_outbox_backlog", "Messages queued in the outbox and not yet sent or given up, by channel",
    ["channel"])
OUTBOX_OLDEST_AGE = Gauge(
    "huifang_outbox_oldest_age_seconds", "Age of the oldest queued outbox message (0 when none is queued)")
OUTBOX_DELIVERIES = Counter(
    "huifang_outbox_deliveries", "Delivery tries by channel and result (sent, retry, failed)", ["channel", "result"])

# ---- web app -------------------------------------------------------------------------------------
WEB_RESPONSES = Counter(
    "huifang_web_responses", "Responses of the web app by HTTP status code (a 5xx is a bug: alert on it)",
    ["code"])

# ---- what each process serves --------------------------------------------------------------------
_OUTBOX = (OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE, OUTBOX_DELIVERIES)
PROCESS_METRICS = {
    # the dialer also runs the notifier in-process when given --notify-config
    "dialer": (CALLS, REFUSALS, AMI_EVENT_LAG, AMI_RECONNECTS, AMI_CONNECTED, QUEUE_WAIT, CALLS_IN_FLIGHT) + _OUTBOX,
    "dialog": (ANSWERS, TURN_LATENCY, DIALOGS_ACTIVE),
    "notifier": _OUTBOX,
    "web": (WEB_RESPONSES,),
}


def registry_for(process: str) -> CollectorRegistry:
    """A registry of `process`'s own metrics, its health checks and the process_* / python_* figures."""
    if process not in PROCESS_METRICS:
        raise ValueError(f"unknown process {process!r}; one of {', '.join(PROCESS_METRICS)}")
    registry = CollectorRegistry(auto_describe=True)
    for collector in PROCESS_METRICS[process] + (HEALTH_CHECK,):
        registry.register(collector)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry

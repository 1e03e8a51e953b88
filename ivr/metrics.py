"""Every Prometheus metric Huifang exports, defined here and nowhere else.

Why it looks like this:

* One module of definitions, so the names, labels and buckets can be read (and the Grafana
  dashboard, ops/grafana/huifang.json, and the README's alert rules checked) in one place. Code
  that records an event imports the metric from here and calls it at the one place the event
  happens: an attempt's disposition where `dialer.controller.finalize` writes it, an answer where
  `dialog.runner` stores it, a refusal where `dialer.scheduler.record_refusals` writes it.
* The metrics live in prometheus-client's default registry of the process. Each long-running
  process (dialer, dialog server, notifier, web app) serves its own registry on its own
  127.0.0.1 port (`ivr.metrics_http`), so a metric only moves in the process that records it;
  a process that never records one shows it at zero (labelled metrics: no series until used).
* Label values are closed sets (outcomes, dispositions, policy reasons, decision kinds, via):
  never a phone number, attempt id or text, so no personal data reaches the metrics and the
  number of series stays small. `label()` maps a missing value to "none".
"""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PREFIX = "huifang_"


def label(value) -> str:
    """A label value: the text of `value`, "none" when it is missing or empty."""
    text = "" if value is None else str(value).strip()
    return text or "none"


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
HEALTH_CHECK = Gauge(
    "huifang_health_check", "1 when the process's health check passes, else 0 (the checks of /healthz, "
    "evaluated at each scrape)", ["check"])
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

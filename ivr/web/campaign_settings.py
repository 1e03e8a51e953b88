"""A campaign's stored settings (selection, calling policy, retry overrides, fallback — JSON in the
`campaigns` row) in words, in the user's language, for the campaign page.

Why it looks like this: the page used to print the JSON itself (`{"window_start": "09:00", ...}`),
which a supervisor should not have to read. Each known key gets a label and a worded value; a key
this module does not know (written by a newer version or by hand) is still shown, as `key: value`,
so nothing stored is hidden.
"""
from __future__ import annotations

import json

from .common import loads
from .i18n import label
from .i18n import translate as t


def duration(seconds) -> str:
    try:
        s = int(seconds)
    except (TypeError, ValueError):
        return str(seconds)
    if s % 86400 == 0 and s >= 86400:
        return t("campaign.dur.days", n=s // 86400)
    if s % 3600 == 0 and s >= 3600:
        return t("campaign.dur.hours", n=s // 3600)
    if s % 60 == 0:
        return t("campaign.dur.minutes", n=s // 60)
    return t("campaign.dur.seconds", n=s)


def _raw(key, value) -> tuple[str, str]:
    return str(key), value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _setting(name: str) -> str:
    key = f"limit.setting.{name}"
    text = t(key)
    return name if text == key else text


def selection(text) -> list[tuple[str, str]]:
    sel = loads(text, {}) or {}
    if not isinstance(sel, dict):
        return [_raw("selection", sel)]
    if sel.get("all"):
        return [(t("campaign.selection"), t("campaign.source_all"))]
    rows = []
    if "batch_id" in sel:
        rows.append((t("campaign.selection"), t("campaign.sel_batch", id=sel["batch_id"])))
    if "due_from" in sel or "due_to" in sel:
        rows.append((t("campaign.selection"), t("campaign.sel_due", since=sel.get("due_from") or "…",
                                                 until=sel.get("due_to") or "…")))
    rows += [_raw(k, v) for k, v in sel.items() if k not in ("all", "batch_id", "due_from", "due_to")]
    return rows


def policy(text) -> list[tuple[str, str]]:
    pol = loads(text, {}) or {}
    if not isinstance(pol, dict):
        return [_raw("policy", pol)]
    rows = []
    if "window_start" in pol or "window_end" in pol:
        rows.append((t("campaign.window"), f"{pol.get('window_start', '08:00')}–{pol.get('window_end', '22:00')}"))
    for k, v in pol.items():
        if k in ("window_start", "window_end"):
            continue
        if k == "skip_holidays":
            rows.append((_setting(k), t("common.yes") if v else t("common.no")))
        else:   # the label names the unit (seconds, times a day...)
            rows.append((_setting(k), str(v)) if _setting(k) != k else _raw(k, v))
    return rows or [(t("campaign.policy"), t("campaign.policy_default"))]


def retry(text) -> list[tuple[str, str]]:
    overrides = loads(text, {}) or {}
    if not isinstance(overrides, dict):
        return [_raw("retry_policy", overrides)]
    rows = []
    for disposition, rule in overrides.items():
        name = t("campaign.retry_after", disposition=label("disp", disposition))
        if not isinstance(rule, dict):
            rows.append(_raw(name, rule))
            continue
        action = rule.get("action", "retry")
        if action in ("retry", "callback"):
            words = t(f"campaign.rule.{action}", delay=duration(rule.get("delay_s", 0)))
        elif action == "done":
            words = t("campaign.rule.done")
        else:
            words = str(action)
        extra = {k: v for k, v in rule.items() if k not in ("action", "delay_s")}
        rows.append((name, words + (f" ({json.dumps(extra, ensure_ascii=False)})" if extra else "")))
    return rows + [(t("campaign.retry"), t("campaign.retry_default"))]


def fallback(text) -> list[tuple[str, str]]:
    fb = loads(text, {}) or {}
    if not isinstance(fb, dict):
        return [_raw("fallback", fb)]
    channel = fb.get("channel")
    words = t(f"campaign.channel.{channel}") if channel in ("sms", "wechat") else (channel or t("campaign.fallback_none"))
    return [(t("campaign.fallback"), words)] + [_raw(k, v) for k, v in fb.items() if k != "channel"]


def describe(c) -> dict[str, list[tuple[str, str]]]:
    return {"selection": selection(c["selection"]), "policy": policy(c["policy"]),
            "retry": retry(c["retry_policy"]), "fallback": fallback(c["fallback"])}

"""Campaigns: create from a borrower upload (CSV/XLSX through the importer, with its per-row error
report) or an existing selection; flow, locale, schedule, pacing, retry policy; start / pause /
resume / stop through the `commands` table the controller processes; progress live."""
from __future__ import annotations

import datetime as dt
import functools
import math
import re
import secrets
import zoneinfo
from pathlib import Path

from flask import Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for

from ..db.store import HasStore, Store, store_of
from ..dialer import caller_id as caller_ids
from ..dialer import campaigns as campaigns_mod
from ..dialer import heartbeat, importer, limits
from . import audit, campaign_settings, get_db, import_messages, params, security
from .common import OPEN_STATES, by_id, indexed_by, loads, local, tz
from .i18n import label
from .i18n import translate as t

bp = Blueprint("campaigns", __name__)
UPLOAD_SUFFIXES = (".csv", ".xlsx", ".txt")
RETRY_FIELDS = ("busy", "no-answer", "rejected", "answered-hung-up-early", "answered-no-input")
LOCALES = ("zh-CN", "ko-KR")
FALLBACKS = ("sms", "wechat")
SOURCES = ("upload", "batch", "due", "all")
MAX_NAME = 200


@functools.lru_cache(maxsize=1)
def time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def flows() -> list[str]:
    return sorted(p.stem for p in Path(current_app.config["SETTINGS"].flows_dir).glob("*.yaml"))


@bp.get("/campaigns")
@security.require("campaigns")
def index():
    rows = store_of(get_db()).query("""
        SELECT c.*, (SELECT count(*) FROM campaign_targets t WHERE t.campaign_id = c.id) AS targets,
               (SELECT count(*) FROM campaign_targets t WHERE t.campaign_id = c.id AND t.status = 'done') AS done
        FROM campaigns c ORDER BY c.id DESC LIMIT 200""")
    return render_template("campaigns.html", rows=rows)


def _save_upload(storage) -> Path:
    name = storage.filename or ""
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise ValueError(t("campaign.bad_file"))
    folder = Path(current_app.config["UPLOAD_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^\w.-]", "_", Path(name).stem)[:60] or "upload"
    path = folder / f"{dt.datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(4)}-{safe}{suffix}"
    storage.save(path)
    return path


def _local_to_utc(form, name: str, zone: str) -> str | None:
    local = params.local_datetime(form, name)
    if local is None:
        return None
    return local.replace(tzinfo=tz(zone)).astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def _form_settings(form) -> dict:
    """The form's campaign settings, each value checked (params.BadParam / limits.LimitError)."""
    name = form.get("name", "").strip()
    if not name:
        raise params.BadParam("required", name="name")
    if len(name) > MAX_NAME:
        raise params.BadParam("too_long", name="name", limit=MAX_NAME)
    zone = params.choice(form, "tz", time_zones(), "Asia/Shanghai")
    locale = params.choice(form, "locale", LOCALES, "zh-CN")
    channel = params.choice(form, "fallback", FALLBACKS, "")
    retry = {}
    for key in RETRY_FIELDS:
        raw = form.get(f"retry_{key}", "").strip()
        if raw:  # minutes in the form; the limits apply to the seconds stored
            minutes, _ = limits.number(f"retry_delay:{key}", raw, limits.Limit(0, math.inf, whole=False))
            seconds = minutes * 60
            retry[key] = {"delay_s": round(seconds) if math.isfinite(seconds) else limits.RETRY_DELAY.high + 1}
    policy = {}
    for key in ("window_start", "window_end"):
        if form.get(key):
            policy[key] = form[key]
    if form.get("max_connected_per_borrower_day"):
        policy["max_connected_per_borrower_day"] = form["max_connected_per_borrower_day"]
    if form.get("skip_holidays"):
        policy["skip_holidays"] = True
    fallback = {"channel": channel} if channel else {}
    start, end = _local_to_utc(form, "schedule_start", zone), _local_to_utc(form, "schedule_end", zone)
    if start and end and end <= start:
        raise params.BadParam("schedule_order")
    return {"name": name, "flow": form.get("flow") or "followup", "locale_default": locale,
            "schedule_start": start, "schedule_end": end,
            "max_concurrent": form.get("max_concurrent") or 4, "max_cps": form.get("max_cps") or 1,
            "max_attempts": form.get("max_attempts") or 6, "retry_policy": retry, "policy": policy,
            "fallback": fallback, "caller_id": form.get("caller_id", "").strip(),
            "caller_id_pool": form.get("caller_id_pool", "").strip()}


def _capped(values: dict) -> dict:
    """The form's caps through `limits` (the same as every entry point): refused with a message in
    the user's language, or clamped to their hard limits with a note saying so."""
    keys = ("max_concurrent", "max_cps", "max_attempts", "retry_policy", "policy")
    capped, notes = limits.campaign_settings(**{k: values[k] for k in keys})
    caller_id, pool = campaigns_mod.caller_id_settings(values.get("caller_id", ""), values.get("caller_id_pool"))
    notes += caller_ids.parse_pool(values["caller_id_pool"])[1] if values.get("caller_id_pool") else []
    capped.update(caller_id=caller_id, caller_id_pool=pool)
    for note in notes:
        flash(t("limit.clamped", name=_setting_name(note.name), given=note.given, applied=note.applied), "ok")
    return {**values, **capped}


def _setting_name(name: str) -> str:
    if name.startswith("retry_delay:"):
        disposition = name.split(":", 1)[1]
        return t("limit.setting.retry_delay", disposition=label("disp", disposition))
    key = f"limit.setting.{name}"
    text = t(key)
    return name if text == key else text


def limit_message(exc: limits.LimitError) -> str:
    """A limit refusal in the user's language."""
    params = {**exc.params}
    if "name" in params:
        params["name"] = _setting_name(str(params["name"]))
    return t(f"limit.{exc.key}", **params)


@bp.route("/campaigns/new", methods=["GET", "POST"])
@security.require("campaigns.write")
def new():
    db = get_db()
    batches = store_of(db).query("SELECT * FROM import_batches WHERE kind = 'borrowers' ORDER BY id DESC LIMIT 30")
    ctx = {"batches": batches, "flows": flows(), "form": request.form, "report": None}
    if request.method == "GET":
        return render_template("campaign_new.html", **ctx)
    try:
        values = _capped(_form_settings(request.form))
        if values["flow"] not in flows():
            raise campaigns_mod.CampaignError(t("campaign.bad_flow"))
        source = params.choice(request.form, "source", SOURCES, "upload")
        upload = request.files.get("file")
        if source == "upload":
            if not upload or not upload.filename:
                raise campaigns_mod.CampaignError(t("campaign.need_file"))
            path = _save_upload(upload)
            try:
                report = importer.import_file(db, path)
            except importer.ImportFileError as exc:
                raise campaigns_mod.CampaignError(import_messages.file_error(exc, path, upload.filename)) from None
            ctx["report"] = report
            audit.log(db, "import_borrowers", "import_batch", report.batch_id,
                      {"file": upload.filename, "rows": report.rows, "created": report.created,
                       "updated": report.updated, "rejected": report.rejected})
            if report.rows - report.rejected == 0:
                flash(t("campaign.no_good_rows"), "error")
                return render_template("campaign_new.html", **ctx), 400
            selection = {"batch_id": report.batch_id}
        elif source == "batch":
            batch_id = params.integer(request.form, "batch_id")
            if batch_id is None or store_of(db).one(
                    "SELECT id FROM import_batches WHERE id = :id AND kind = 'borrowers'", {"id": batch_id}) is None:
                raise campaigns_mod.CampaignError(t("campaign.bad_batch"))
            selection = {"batch_id": batch_id}
        elif source == "due":
            selection = {k: v.isoformat() for k in ("due_from", "due_to")
                         if (v := params.date(request.form, k)) is not None} or {"all": True}
        else:
            selection = {"all": True}
        campaign_id = campaigns_mod.create(db, selection=selection, created_by=g.user["username"], **values)
    except limits.LimitError as exc:
        flash(t("campaign.invalid", reason=limit_message(exc)), "error")
        return render_template("campaign_new.html", **ctx), 400
    except params.BadParam as exc:
        flash(t("campaign.invalid", reason=params.message(exc)), "error")
        return render_template("campaign_new.html", **ctx), 400
    except (campaigns_mod.CampaignError, ValueError, KeyError) as exc:
        flash(t("campaign.invalid", reason=str(exc)), "error")
        return render_template("campaign_new.html", **ctx), 400
    audit.log(db, "campaign_create", "campaign", campaign_id, {**values, "selection": selection})
    flash(t("campaign.created"), "ok")
    return redirect(url_for("campaigns.detail", campaign_id=campaign_id))


def controller_status(db: Store | HasStore) -> dict:
    """The dialer controller's heartbeat, with its last beat in words for the page."""
    st = heartbeat.status(db)
    when = local(st["last_beat_at"]) if st["last_beat_at"] else t("campaign.never")
    return {**st, "when": when}


def progress(db: Store | HasStore, campaign_id: int) -> dict:
    st = campaigns_mod.status(db, campaign_id)
    total = sum(st["targets"].values())
    if not total:
        c = campaigns_mod.get(db, campaign_id)
        if c["state"] == "draft":
            total = len(campaigns_mod.select_borrowers(db, loads(c["selection"], {})))
    done = st["targets"].get("done", 0)
    live = store_of(db).scalar(f"SELECT count(*) FROM attempts {indexed_by(db, 'attempts_state')} "
                               f"WHERE campaign_id = :id AND state IN {OPEN_STATES}", {"id": campaign_id})
    connected = sum(n for d, n in st["dispositions"].items() if d and d.startswith("answered"))
    return {**st, "total": total, "done": done, "active": st["targets"].get("active", 0), "live": live,
            "connected": connected, "percent": round(100 * done / total) if total else 0}


@bp.get("/campaigns/<int:campaign_id>")
@security.require("campaigns")
def detail(campaign_id: int):
    db = get_db()
    s = store_of(db)
    c = by_id(s, "campaigns", campaign_id)
    if c is None:
        abort(404)
    selection = loads(c["selection"], {})
    batch = _batch(s, selection.get("batch_id"))
    commands = s.query("SELECT * FROM commands WHERE campaign_id = :id ORDER BY id DESC LIMIT 20", {"id": campaign_id})
    pending = any(cmd["processed_at"] is None for cmd in commands)
    return render_template("campaign.html", c=c, selection=selection, batch=batch,
                           batch_errors=loads(batch["errors"], []) if batch else [], commands=commands,
                           p=progress(db, campaign_id), loads=loads, controller=controller_status(db),
                           settings=campaign_settings.describe(c),
                           settings_caller_id=current_app.config["SETTINGS"].default_caller_id,
                           caller_id_pool=caller_ids.pool_text(loads(c["caller_id_pool"], {})),
                           allowed=[] if pending else [cmd for cmd in campaigns_mod.COMMANDS
                                                       if (c["state"], cmd) in campaigns_mod.TRANSITIONS])


def _batch(s: Store, batch_id) -> dict | None:
    """The import batch a campaign's selection names (a stored selection is JSON: the id may be any
    type, and PostgreSQL compares an integer column only with an integer)."""
    try:
        return by_id(s, "import_batches", int(batch_id)) if batch_id is not None else None
    except (TypeError, ValueError):
        return None


def _pending_commands(db: Store | HasStore, campaign_id: int) -> int:
    return store_of(db).scalar("SELECT count(*) FROM commands WHERE campaign_id = :id AND processed_at IS NULL",
                               {"id": campaign_id})


@bp.get("/campaigns/<int:campaign_id>/progress.json")
@security.require("campaigns")
def progress_json(campaign_id: int):
    db = get_db()
    if by_id(db, "campaigns", campaign_id) is None:
        abort(404)
    p = progress(db, campaign_id)
    p["state_label"] = t(f"cstate.{p['state']}")
    p["controller_alive"] = controller_status(db)["alive"]
    p["pending_commands"] = _pending_commands(db, campaign_id)
    return jsonify(p)


@bp.post("/campaigns/<int:campaign_id>/command")
@security.require("campaigns.write")
def command(campaign_id: int):
    db = get_db()
    c = by_id(db, "campaigns", campaign_id)
    if c is None:
        abort(404)
    cmd = request.form.get("command", "")
    if _pending_commands(db, campaign_id):
        flash(t("campaign.command_pending"), "error")  # one at a time: the state it applies to must be known
        return redirect(url_for("campaigns.detail", campaign_id=campaign_id))
    try:
        campaigns_mod.transition(c["state"], cmd)
        if cmd not in campaigns_mod.COMMANDS:
            raise campaigns_mod.CampaignError(cmd)
        cmd_id = campaigns_mod.request(db, campaign_id, cmd, requested_by=g.user["username"])
    except campaigns_mod.CampaignError:
        flash(t("campaign.command_refused", command=t(f"ccmd.{cmd}"), state=t(f"cstate.{c['state']}")), "error")
        return redirect(url_for("campaigns.detail", campaign_id=campaign_id))
    audit.log(db, "campaign_command", "campaign", campaign_id, {"command": cmd, "command_id": cmd_id})
    controller = controller_status(db)
    if controller["alive"]:
        flash(t("campaign.command_queued", command=t(f"ccmd.{cmd}")), "ok")
    else:  # queued all the same (a controller started later applies it), but nobody waits blind
        flash(t("campaign.queued_without_controller", command=t(f"ccmd.{cmd}"), when=controller["when"]), "error")
    return redirect(url_for("campaigns.detail", campaign_id=campaign_id))

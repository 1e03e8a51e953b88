"""The web app in a real browser (Debian's chromium via playwright) against a database filled by
a real demo run: each role signs in and walks its areas; a screenshot of every main page is saved
in tests/artifacts/screenshots/. Every test runs twice, on SQLite and on PostgreSQL (conftest.py)."""
from __future__ import annotations

import csv
import io
import re

import pytest

pytestmark = pytest.mark.browser
FULL_NUMBER = re.compile(r"137000000\d\d")


def no_full_numbers(page):
    assert not FULL_NUMBER.search(page.content()), page.url


def test_demo_run_filled_the_database(demo_calls):
    """The demo's personas produced what the pages show: answered, busy, no-answer and a transfer;
    the live monitor showed calls in progress, masked."""
    outcomes = {n: r["outcome"] for n, r in demo_calls["rows"].items()}
    assert outcomes["13700000003"] == "busy" and outcomes["13700000004"] == "no-answer"
    assert outcomes["13700000001"] == outcomes["13700000005"] == "answered"
    assert demo_calls["live_shot"] is not None
    assert "137****000" in demo_calls["live_html"] and not FULL_NUMBER.search(demo_calls["live_html"])


def test_supervisor_campaign_monitor_borrower_reports(login, server, demo_db, shot, tmp_path):
    """A supervisor creates a campaign from an upload (with a bad row reported), queues start,
    watches the live monitor, opens a borrower's record with the conversation and recording, and
    the reports with their charts."""
    page = login("supervisor")
    assert "今日概况" in page.content()
    shot(page, "01-dashboard-supervisor")
    csv_file = tmp_path / "december.csv"
    csv_file.write_text("loan_id,name,phone,amount_due,due_date\nWEB-1,周杰,13600000001,2800,2026-12-20\n"
                        "WEB-2,林峰,12345,2800,2026-12-20\n", encoding="utf-8")
    page.goto(server.url + "/campaigns/new")
    page.fill("input[name=name]", "十二月到期回访")
    page.set_input_files("input[name=file]", str(csv_file))
    page.fill("input[name=max_concurrent]", "6")
    shot(page, "02-campaign-new")
    page.click("#create-campaign")
    page.wait_for_load_state()
    body = page.content()
    assert "任务已创建" in body and "共 2 行：新增 1，更新 0，未变 0，拒绝 1" in body and "12345" in body
    page.click("#cmd-start")
    page.wait_for_load_state()
    assert "已提交" in page.content()
    shot(page, "03-campaign")
    page.goto(server.url + "/monitor")
    page.wait_for_selector("#updated:not(:empty)", timeout=10000)  # the live refresh ran
    no_full_numbers(page)
    shot(page, "04-monitor-after")
    page.goto(server.url + "/borrowers")
    no_full_numbers(page)
    shot(page, "05-borrowers")
    bid = demo_db.scalar("SELECT borrower_id FROM attempts WHERE number = '13700000001'")
    page.goto(f"{server.url}/borrowers/{bid}")
    body = page.content()
    assert "13700000001" in body and "陈静" in body  # supervisors see the record, audited
    assert page.locator("ol.turns li.ivr").count() >= 2 and page.locator("ol.turns li.borrower").count() >= 3
    audio = page.locator("audio").first
    src = audio.get_attribute("src")
    r = page.request.get(server.url + src)
    assert r.status == 200 and r.body()[:4] == b"RIFF"
    shot(page, "06-borrower")
    page.goto(server.url + "/reports")
    assert page.locator("svg.chart").count() >= 7   # an amount chart per currency with promises
    shot(page, "07-reports")
    with page.expect_download() as dl:
        page.click("#export-xlsx")
    assert dl.value.suggested_filename.endswith(".xlsx")


def test_supervisor_reads_the_calls_and_one_call_turn_by_turn(login, server, demo_db, shot):
    """The calls list shows every call the demo placed (masked), and an answered call's page shows
    its conversation turn by turn, its events and its recording."""
    page = login("supervisor")
    page.goto(server.url + "/calls")
    no_full_numbers(page)
    attempts = demo_db.query("SELECT id, number, disposition FROM attempts")
    assert len(attempts) >= 7
    links = page.locator("a[href^='/calls/']")
    assert links.count() == len(attempts)
    shot(page, "05b-calls")
    answered = next(a for a in attempts if a["number"] == "13700000001")
    page.click(f"a[href='/calls/{answered['id']}']")
    page.wait_for_load_state()
    assert page.url.endswith(f"/calls/{answered['id']}")
    assert page.locator("ol.turns li.ivr").count() >= 2 and page.locator("ol.turns li.borrower").count() >= 3
    assert page.locator("table tr td code").count() >= 1     # the call's events
    src = page.locator("audio").first.get_attribute("src")
    r = page.request.get(server.url + src)
    assert r.status == 200 and r.body()[:4] == b"RIFF"
    shot(page, "05c-call")


def test_agent_takes_the_escalation_and_records_a_promise(demo_calls, login, server, demo_db, shot):
    """The transfer persona's escalation pops for the agent whose phone answered it (the dialer
    assigned it from AgentConnect); the promise recorded shows on the borrower's record."""
    answered_by = demo_db.scalar("SELECT e.agent FROM escalations e JOIN attempts a ON a.id = e.attempt_id "
                                 "WHERE a.number = '13700000005'")
    assert answered_by in ("agent1", "agent2")
    demo_db.execute("UPDATE users SET agent_ext = :ext WHERE username = 'agent'", {"ext": answered_by})
    page = login("agent")
    assert "坐席工作台" in page.content()
    no_full_numbers(page)
    shot(page, "08-agent-queue")
    page.locator("a[id^=open-]").first.click()
    page.wait_for_load_state()
    assert "来电弹屏" in page.title() and "黄磊" in page.content() and "13700000005" in page.content()
    shot(page, "09-agent-screen-pop")
    page.select_option("#outcome", "promise")
    page.fill("input[name=promise_date]", "2026-12-25")
    page.fill("input[name=promise_amount]", "3100")
    page.fill("textarea[name=note]", "客户要求人工，承诺圣诞节前还款")
    page.click("#save-outcome")
    page.wait_for_load_state()
    assert "处理结果已保存" in page.content()
    sup = login("supervisor")
    bid = demo_db.scalar("SELECT borrower_id FROM attempts WHERE number = '13700000005'")
    sup.goto(f"{server.url}/borrowers/{bid}")
    promises = sup.locator("#promises").inner_text()
    assert "2026-12-25" in promises and "3,100" in promises and "坐席" in promises


def test_qa_samples_scores_and_locks(login, server, shot):
    page = login("qa")
    page.click("#do-sample")
    page.wait_for_load_state()
    assert "已加入" in page.content()
    no_full_numbers(page)
    shot(page, "10-qa-queue")
    page.locator("a.review-link").first.click()
    page.wait_for_load_state()
    no_full_numbers(page)
    for item, mark in (("disclosure", "pass"), ("identity", "pass"), ("courtesy", "pass"), ("amount", "fail")):
        page.check(f"input[name=c_{item}][value={mark}]")
    page.check("input[name=tags][value=script_issue]")
    page.fill("textarea[name=comment]", "金额播报需复核")
    shot(page, "11-qa-review")
    page.on("dialog", lambda d: d.accept())
    page.click("#finish")
    page.wait_for_load_state()
    assert "质检已完成并锁定" in page.content()


def test_auditor_exports_compliance_and_reads_the_audit_log(login, server, shot):
    page = login("auditor")
    page.goto(server.url + "/compliance?since=2026-01-01&until=2030-12-31")
    no_full_numbers(page)
    assert page.locator("#compliance-rows tr").count() >= 8
    shot(page, "12-compliance")
    with page.expect_download() as dl:
        page.click("#export-csv")
    text = open(dl.value.path(), encoding="utf-8-sig").read()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0] == "外呼编号" and not FULL_NUMBER.search(text)
    assert page.request.post(server.url + "/compliance/purge").status in (400, 403)  # read-only (and no token)
    page.goto(server.url + "/audit")
    body = page.content()
    assert "查看未脱敏信息" in body and "坐席处理结果" in body
    shot(page, "13-audit")


def test_admin_users_tokens_and_languages(login, server, shot):
    page = login("admin")
    page.goto(server.url + "/admin/users")
    shot(page, "14-admin-users")
    page.goto(server.url + "/admin/tokens")
    page.fill("form:has(#create-token) input[name=name]", "core-banking")
    page.click("#create-token")
    page.wait_for_load_state()
    token = page.inner_text("#new-token")
    assert token.startswith("hf_")
    r = page.request.get(server.url + "/api/v1/results?limit=3", headers={"Authorization": f"Bearer {token}"})
    assert r.status == 200 and len(r.json()["results"]) == 3
    shot(page, "15-admin-tokens")
    page.click("form.lang button[value='en']")
    page.wait_for_load_state()
    assert "Tokens" in page.content() or "API tokens" in page.content()
    page.goto(server.url + "/")
    assert "Today at a glance" in page.content()
    shot(page, "16-dashboard-en")
    page.click("form.lang button[value='ko-KR']")
    page.wait_for_load_state()
    page.goto(server.url + "/reports")
    assert "보고서" in page.content()
    shot(page, "17-reports-ko")
    page.click("form.lang button[value='zh-CN']")


def test_wrong_role_is_refused_in_the_browser(login, server):
    page = login("qa")
    r = page.goto(server.url + "/campaigns")
    assert r.status == 403 and "无权访问" in page.content()

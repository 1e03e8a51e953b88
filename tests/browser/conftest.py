"""One real demo run per engine: the stack (Asterisk, dialog server, pjsua2 phones) on ports of its
own (`stack_settings`, instance web-<base>) calls keypad personas once while a supervisor watches the
live monitor; the web app is served by a real server on 127.0.0.1 against that database and
Debian's chromium is driven by playwright (no `playwright install`: executable_path).

Every browser test runs on SQLite and on PostgreSQL: `engine` is a module-scoped parameter (ids
`sqlite`, `postgresql`) that `demo_settings` and everything built on it follow, so pytest runs the
module's tests on a demo run into an SQLite file, tears that web app down, then runs them again on a
demo run into a PostgreSQL database of the session's cluster (`database_url`: the stack's
processes, the web app and the tests' own reads all use it). The browser itself is shared.

Screenshots of every main page go to tests/artifacts/screenshots/ (gitignored), those of the
PostgreSQL run to its postgresql/ folder.

The fixtures are module-scoped (the browser tests are one module, so they are still built once): Playwright's
sync API keeps an event loop running in the main thread while it is open, and `asyncio.run` fails under
it. Closed at the module's end, it lets other tests run after the browser tests in the same process, as
they do on a pytest-xdist worker (tests/support/distribution.py).
"""
from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest

from ivr.db.connect import open_database
from ivr.db.store import store_of
from ivr.demo import call_all
from ivr.sim.personas import load_personas
from ivr.stack import Stack, ensure_installed
from ivr.web import create_app, security
from ivr.web.server import Server
from tests.support.postgres import fail_on_errors

HERE = Path(__file__).parent
SHOTS = HERE.parent / "artifacts" / "screenshots"
PASSWORD = "browser-test-password"
ROLES = ("admin", "supervisor", "agent", "qa", "auditor")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def shot(engine):
    """shot(page, name) -> the path of a full-page screenshot (the PostgreSQL run's in a folder of its own)."""
    folder = SHOTS if engine == "sqlite" else SHOTS / engine

    def take(page, name: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path
    return take


@pytest.fixture(scope="module")
def demo_settings(request, engine, stack_settings):
    """The demo's settings: its SQLite file, or a fresh PostgreSQL database (dropped at the module's end;
    its server must have logged no ERROR meanwhile)."""
    if engine == "sqlite":
        s = stack_settings("web", ring_timeout_s=8)
        ensure_installed(s)
        yield s
        return
    cluster = request.getfixturevalue("postgres_cluster")
    name = cluster.create_database()
    mark = cluster.log_mark()
    try:
        s = stack_settings("web-pg", ring_timeout_s=8, database_url=cluster.url(name))
        ensure_installed(s)
        yield s
    finally:
        errors = cluster.errors_since(mark)
        cluster.drop_database(name)
    fail_on_errors(errors, "the browser tests on PostgreSQL")


@pytest.fixture
def demo_db(demo_settings):
    """A Store on the demo's database, on either engine (`:name` parameters)."""
    s = store_of(open_database(demo_settings, migrate=False))
    yield s
    s.close()


@pytest.fixture(scope="module")
def server(demo_settings):
    """The web app on 127.0.0.1 (a real threaded server), with one account per role."""
    app = create_app(demo_settings)  # applies the migrations to the fresh database
    db = open_database(demo_settings, migrate=False)
    for role in ROLES:
        security.add_user(db, role, PASSWORD, role)
    store_of(db).close()
    srv = Server(app, "127.0.0.1", demo_settings.web_port_effective, webhooks=False).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def new_page(browser, server, role: str, lang: str | None = None):
    ctx = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
    page = ctx.new_page()
    page.goto(server.url + "/login")
    if lang:
        page.click(f"form.lang button[value='{lang}']")
    page.fill("input[name=username]", role)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login")
    page.wait_for_load_state()
    return ctx, page


@pytest.fixture(scope="module")
def demo_calls(demo_settings, server, browser, shot, tmp_path_factory):
    """Every persona called once through the real stack while a supervisor watches the live monitor
    (a screenshot of calls in progress); the stack is stopped afterwards: the pages need only the
    database and the recordings."""
    personas_path = HERE / "personas.json"
    stack = Stack(demo_settings, tmp_path_factory.mktemp("web-run"), personas_path)
    stack.start()
    result: dict = {}

    def run():
        try:
            result["rows"] = asyncio.run(call_all(demo_settings, load_personas(personas_path),
                                                  json.loads((HERE / "borrowers.json").read_text()),
                                                  concurrency=4, run_tag="web"))
        except BaseException as exc:  # re-raised in the test thread
            result["error"] = exc

    caller = threading.Thread(target=run, name="demo-calls")
    try:
        caller.start()
        ctx, page = new_page(browser, server, "supervisor")
        page.goto(server.url + "/monitor")
        try:  # the page refreshes itself: wait until it shows a call in progress
            page.wait_for_function("document.querySelectorAll('#calls tbody tr td').length > 1", timeout=90000)
            for _ in range(40):  # and, better, until one is in the conversation (a node answered)
                if any(x.strip() for x in page.locator("#calls tbody tr td:nth-child(3)").all_inner_texts()):
                    break
                page.wait_for_timeout(500)
            result["live_shot"] = shot(page, "04-monitor-live")
            result["live_html"] = page.content()
        except Exception:  # every call may end between two refreshes; the tests still run
            pass
        ctx.close()
        caller.join(600)
    finally:
        stack.stop()
    if "error" in result:
        raise result["error"]
    return {"rows": {r["number"]: r for r in result["rows"]}, "live_shot": result.get("live_shot"),
            "live_html": result.get("live_html", "")}


@pytest.fixture
def login(browser, server, demo_calls):
    """login(role) -> a signed-in page in a fresh browser context (after the demo run)."""
    contexts = []

    def go(role: str, lang: str | None = None):
        ctx, page = new_page(browser, server, role, lang)
        contexts.append(ctx)
        return page

    yield go
    for ctx in contexts:
        ctx.close()

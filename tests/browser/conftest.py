"""A live server for the test app and Debian's Chromium driven by Playwright.

Screenshots land in ``test-artifacts/`` (kept by CI as artifacts). Chromium is started the way
this offline machine needs: headless, no sandbox (root), and no background network.
"""
import os
import shutil
import socket
import threading

import pytest
from werkzeug.serving import make_server

from tests.conftest import PASSWORD

ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                         "test-artifacts")
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")


@pytest.fixture(scope="session")
def live_server(app):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    os.makedirs(ARTIFACTS, exist_ok=True)
    pw = sync_playwright().start()
    browser = pw.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    )
    yield browser
    browser.close()
    pw.stop()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    page.console_errors = []
    page.outside_requests = []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    page.on("request", lambda r: (not r.url.startswith(live_server) and not r.url.startswith("data:"))
            and page.outside_requests.append(r.url))
    page.failed_responses = []
    page.on("response", lambda r: r.status >= 400 and page.failed_responses.append(f"{r.status} {r.url}"))
    page.base = live_server
    yield page
    context.close()


def login(page, username, password=PASSWORD):
    page.goto(page.base + "/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form[name=login] [type=submit]")  # not the account menu's (hidden) language buttons
    page.wait_for_load_state("networkidle")


def shot(page, name):
    page.screenshot(path=os.path.join(ARTIFACTS, f"{name}.png"), full_page=True)


def switch_language(page, lang):
    """The account menu's language entry: a form that POSTs (with the page's CSRF token)."""
    with page.expect_navigation():
        page.locator(f"form.app-menu-form button[lang='{lang}']").first.evaluate("b => b.form.requestSubmit(b)")
    page.wait_for_load_state("networkidle")


def logout(page):
    """The account menu's logout entry: a form that POSTs."""
    with page.expect_navigation():
        page.locator("#app-logout").evaluate("b => b.form.requestSubmit(b)")
    page.wait_for_load_state("networkidle")

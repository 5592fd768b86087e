"""Real Chromium (Debian's package) driven by Playwright against pytest-django's live server.

Chromium missing: the tests skip on a developer machine and fail in CI
(`CI=true`), like the other services in tests/conftest.py.

Playwright's sync API runs an asyncio loop in the test's thread, and while it
runs, Django keys database connections by async context instead of by thread:
the test then talks to the database through a second connection. So the
browser is started per test, after the database is set up, and that second
connection is closed before the browser stops: the database teardown runs on
Django's usual connection again, and PostgreSQL is left no stray connection.
"""

import os
import tempfile
from pathlib import Path

import pytest
from django.db import connections

from tests.services import require_service

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# The README's screenshots are refreshed on request (ATLAS_SCREENSHOTS=docs/screenshots); ordinary runs
# write them to a temporary folder so that running the suite leaves the checkout clean.
SCREENSHOTS = Path(os.environ.get("ATLAS_SCREENSHOTS") or Path(tempfile.gettempdir()) / "atlas-screenshots")
PASSWORD = "correct horse battery staple"  # the personas' password, see tests/conftest.py
VIEWPORT = {"width": 1200, "height": 850}
# Installed in every page before its own scripts run: collects what the Content-Security-Policy
# blocked, and whether any injected script ran (hostile text sets window.__xss).
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__csp.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"} at ${where}`);
});
"""


@pytest.fixture
def browser(live_server, monkeypatch):
    require_service("Chromium", os.access(CHROMIUM, os.X_OK), f"install Debian's chromium ({CHROMIUM})")
    # Playwright's sync API runs an event loop in this thread, and Django then refuses ORM calls
    # unless told it is safe. Here it is, and only for browser tests: the test thread only
    # reads and writes the test database while the browser waits.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
            connections.close_all()


@pytest.fixture
def new_page(browser):
    """Opens pages in separate browser contexts: one per person, each with its own cookies."""
    contexts = []

    def open_page():
        context = browser.new_context(viewport=VIEWPORT, locale="en-GB")
        context.set_default_timeout(20_000)
        context.add_init_script(RECORD_VIOLATIONS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")


def violations(page) -> list[str]:
    """What the Content-Security-Policy blocked on the page since it last loaded."""
    return page.evaluate("window.__csp || []")


def screenshot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))

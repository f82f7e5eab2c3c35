"""Playwright on Debian's Chromium against pytest-django's live server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Response,
    sync_playwright,
)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls
    # (fixtures) are still plain synchronous code, so Django's async guard is relaxed here only.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
            )
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


def watch_errors(page: Page) -> list[str]:
    """Collect what a person's browser would report as broken: script errors, console errors,
    sub-resources (scripts, styles, images, fetches) that fail, and a CSRF token in a URL. A
    page answering 403/404 on purpose is a document response, which tests check themselves, so
    it is not counted."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # "Failed to load resource" is Chromium's echo of a failed response; the response
        # handler below decides (a document's status is the test's business).
        if message.type == "error" and "Failed to load resource" not in message.text:
            errors.append(f"console: {message.text} ({message.location.get('url', '')})")

    def on_response(response: Response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            errors.append(f"{response.status} {response.request.resource_type} {response.url}")

    def on_request(request: Request) -> None:
        # The CSRF token never travels in a URL (logs and Referer headers keep URLs).
        if "csrfmiddlewaretoken=" in request.url:
            errors.append(f"CSRF token in a URL: {request.method} {request.url}")

    page.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("response", on_response)
    return errors


@pytest.fixture
def page(browser: Browser, live_server: object) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors = watch_errors(page)
    yield page
    context.close()
    # Every browser test fails on a console error, a script error or a broken sub-resource.
    assert errors == [], "the browser reported errors:\n" + "\n".join(errors)


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def login(page: Page, base_url: str, email: str, password: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()

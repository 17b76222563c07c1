"""Fixtures of the browser tests: one Chromium per module, a page signed in as the lab's admin."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.utils.browser import ARGS, CHROMIUM, sign_in, watch_errors
from tests.utils.services import require


@pytest.fixture(scope="module")
def browser():
    require(Path(CHROMIUM).is_file(), f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, lab, artifacts, request):
    """A browser signed in as the lab's admin, through the sign-in page. Playwright's
    wait_for_function evaluates strings, which the pages' policy forbids, so these contexts bypass
    it; test_every_page_works_under_its_content_security_policy and the people test do not."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=lab.url, bypass_csp=True)
    page = context.new_page()
    errors = watch_errors(page)
    sign_in(page, "tester", lab.admin_password)
    yield page
    page.screenshot(path=str(artifacts / f"{request.node.name}.png"), full_page=True, timeout=90_000)
    context.close()
    assert errors == [], errors

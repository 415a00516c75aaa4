"""Fixtures for real-browser tests: an isolated JupyterLab and a headless Chromium page.

Chromium is Debian's /usr/bin/chromium (installed by .ci/setup), never a Playwright
download. Without it these tests are skipped locally but fail in CI (CI=true), so a
broken CI image cannot pass silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, Route, WebSocketRoute, sync_playwright

from tests.browser.lab_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LabServer,
    PageRecord,
    is_loopback_url,
    shutdown_sessions,
    start_lab,
    stop_lab,
)

_BROWSER_DIR = Path(__file__).resolve().parent


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


# tryfirst: xdist turns `xdist_group` marks into node ids in its own hook, which must see ours.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees the whole session's items: only mark the ones in this folder.
    for item in items:
        if _BROWSER_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)
            # With `-n N --dist loadgroup` (.ci/test) all browser tests share one worker,
            # hence one JupyterLab and one Chromium instead of one per worker.
            item.add_marker(pytest.mark.xdist_group("browser"))


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} not found: run `bash .ci/setup` as root (apt-get install chromium)"
    if _in_ci():
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def jupyter_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab serving a temp root dir (tests write notebooks into `jupyter_lab.root`)."""
    _require_chromium()
    server = start_lab(tmp_path_factory.mktemp("lab-root"))
    try:
        yield server
    finally:
        stop_lab(server)


@pytest.fixture(autouse=True)
def _fresh_kernels_per_test(request: pytest.FixtureRequest) -> Iterator[None]:
    # Kernels outlive closed pages; without this each browser test's kernels pile up.
    yield
    if "jupyter_lab" in request.fixturenames:
        shutdown_sessions(request.getfixturevalue("jupyter_lab"))


@pytest.fixture(scope="session")
def _playwright() -> Iterator[Playwright]:
    _require_chromium()
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def chromium_browser(_playwright: Playwright) -> Iterator[Browser]:
    browser = _playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def page_record() -> PageRecord:
    """External requests the page attempted (all blocked) and uncaught page errors."""
    return PageRecord()


@pytest.fixture
def browser_page(chromium_browser: Browser, page_record: PageRecord) -> Iterator[Page]:
    """A fresh page in its own browser context; every non-loopback request is blocked.

    Blocked requests are only recorded (fonts, CDNs, ...), not failed on: a test that
    promises "nothing leaves the machine" asserts `page_record.external_requests == []`.
    """
    context = chromium_browser.new_context(
        viewport={"width": 1400, "height": 1000},
        service_workers="block",  # a service worker's fetches would bypass the routes
    )
    context.set_default_timeout(30_000)

    def block_http(route: Route) -> None:
        page_record.external_requests.append(route.request.url)
        route.abort("blockedbyclient")

    def block_websocket(ws: WebSocketRoute) -> None:
        # Not connecting to the server is the block; close so the page sees a failure.
        page_record.external_requests.append(ws.url)
        ws.close()

    context.route(lambda url: not is_loopback_url(url), block_http)
    context.route_web_socket(lambda url: not is_loopback_url(url), block_websocket)
    page = context.new_page()
    page.on("pageerror", lambda error: page_record.page_errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()

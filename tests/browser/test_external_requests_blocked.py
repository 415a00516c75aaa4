"""The browser fixture blocks and records every request that would leave the machine.

Browser tests prove "nothing is fetched from outside" with `page_record.external_requests`;
this checks that record is real, for http(s) and websockets alike.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.lab_helpers import PageRecord, wait_for

pytestmark = pytest.mark.timeout(60)

_PAGE = """
<img src="https://example.com/pixel.png">
<script>
  fetch("https://cdn.example.org/lib.js").catch(() => {});
  new WebSocket("wss://ws.example.net/socket");
</script>
"""


def test_external_http_and_websocket_requests_are_blocked_and_recorded(
    browser_page: Page, page_record: PageRecord
) -> None:
    browser_page.set_content(_PAGE)

    wait_for(browser_page, "() => true")  # page scripts have run
    browser_page.wait_for_timeout(500)
    assert sorted(page_record.external_requests) == [
        "https://cdn.example.org/lib.js",
        "https://example.com/pixel.png",
        "wss://ws.example.net/socket",
    ]

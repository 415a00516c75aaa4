"""Create a pool by filling in and clicking the PoolForm widget, in JupyterLab (headless Chromium).

The form validates as the user types (a bad id disables the button and says why), creates the pool
on click, and turns into the pool's monitor.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.lab_helpers import (
    LabServer,
    PageRecord,
    open_notebook,
    run_all,
    screenshot,
    unexpected_page_errors,
    wait_for,
    write_notebook,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

POOL = "form-pool"


def test_pool_form_creates_the_pool_it_was_filled_in_with(jupyter_lab: LabServer, browser_page: Page,
                                                          page_record: PageRecord, local_service,
                                                          batch_client) -> None:
    page = browser_page
    path = write_notebook(jupyter_lab, "pool_form_lab.ipynb", [
        "import batchnb\n"
        f"session = batchnb.connect('local', state_dir={str(local_service.state_dir)!r})\n"
        "from batchnb.views.widgets import PoolForm\n"
        "form = PoolForm(session, pool_id='change-me')\n"
        "form",
    ])
    open_notebook(page, jupyter_lab, path)
    assert run_all(page, timeout=60) is True
    wait_for(page, "() => document.querySelector('.batchnb-pool-form')", timeout=30)

    pool_id = page.locator(".batchnb-form-id input")
    create = page.locator("button.batchnb-form-create")
    # Validation as you type: an id Batch would reject disables the button and names the problem.
    pool_id.fill("bad id!")
    wait_for(page, "() => document.querySelector('button.batchnb-form-create').disabled", timeout=15)
    wait_for(page, "() => [...document.querySelectorAll('.batchnb-form-error')]"
                   ".some(e => e.textContent.includes('bad id!'))", timeout=15)

    pool_id.fill(POOL)
    for field, value in (("dedicated-nodes", "2"), ("task-slots-per-node", "3")):
        box = page.locator(f".batchnb-form-{field} input")
        box.fill(value)
        box.press("Enter")  # IntText syncs on Enter/blur
    page.locator(".batchnb-form-metrics input").uncheck()
    wait_for(page, "() => !document.querySelector('button.batchnb-form-create').disabled", timeout=15)
    screenshot(page, "pool_form_filled", selector=".batchnb-pool-form")
    create.click()

    # On success the form turns into the pool's monitor.
    wait_for(page, "() => document.querySelector('.batchnb-pool-monitor')", timeout=90)
    try:
        pool = batch_client.get_pool(POOL)
        assert pool.target_dedicated_nodes == 2
        assert pool.task_slots_per_node == 3
        assert str(pool.vm_size).lower() == "standard_d2s_v3"
        assert unexpected_page_errors(page_record.page_errors) == [], page_record.page_errors
        assert page_record.external_requests == []
    finally:
        batch_client.begin_delete_pool(POOL)

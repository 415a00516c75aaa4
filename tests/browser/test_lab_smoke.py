"""JupyterLab in a real browser shows kernel-driven ipywidgets and plotly FigureWidgets.

This is the ground every widget test stands on: if it fails, the browser setup is broken,
not batchnb.
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

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

_CELLS = [
    # Displayed first, then driven from a later cell: the view must follow kernel updates.
    "import ipywidgets as widgets\n"
    "bar = widgets.IntProgress(value=0, min=0, max=100)\n"
    "bar.add_class('smoke-progress')\n"
    "bar",
    "import time\n"
    "for value in range(0, 101, 20):\n"
    "    bar.value = value\n"
    "    time.sleep(0.05)",
    # plotly 7's FigureWidget is an anywidget: this proves anywidget's ESM loads offline.
    "import plotly.graph_objects as go\n"
    "fig = go.FigureWidget(go.Bar(x=['a', 'b', 'c'], y=[1, 3, 2]))\n"
    "fig",
]


def test_progress_and_figure_widget_render(
    jupyter_lab: LabServer, browser_page: Page, page_record: PageRecord
) -> None:
    path = write_notebook(jupyter_lab, "lab_smoke.ipynb", _CELLS)
    open_notebook(browser_page, jupyter_lab, path)

    assert run_all(browser_page, timeout=120) is True

    wait_for(
        browser_page,
        """() => {
            const bar = document.querySelector('.smoke-progress.widget-hprogress .progress-bar');
            return bar && bar.style.width === '100%';
        }""",
        timeout=30,
    )
    # The first FigureWidget in a fresh kernel can take several seconds to draw.
    bars = wait_for(
        browser_page,
        "() => document.querySelectorAll('.js-plotly-plot .bars path').length",
        timeout=60,
    )
    assert bars == 3
    screenshot(browser_page, "lab_smoke_figure", selector=".js-plotly-plot")
    screenshot(browser_page, "lab_smoke")
    assert page_record.external_requests == []
    assert unexpected_page_errors(page_record.page_errors) == [], page_record.page_errors

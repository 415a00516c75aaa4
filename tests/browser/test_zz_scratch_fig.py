from __future__ import annotations
import pytest
from tests.browser.lab_helpers import open_notebook, run_all, screenshot, wait_for, write_notebook

CELLS = [
 "import ipywidgets as w, plotly.graph_objects as go, asyncio, numpy as np",
 "e = go.FigureWidget(go.Bar(x=['a','b','c'], y=[1,3,2])); e.layout.title='E direct'\ne",
 "f = go.FigureWidget(go.Bar(x=['a','b','c'], y=[1,3,2])); f.layout.title='F'\nboxF = w.VBox([f]); boxF.add_class('sF'); boxF",
 "g = go.FigureWidget(go.Bar(x=['a','b','c'], y=[1,3,2])); g.layout.title='G'\ng._repr_mimebundle_()\nboxG = w.Box([g]); boxG.add_class('sG'); boxG",
 "h = go.FigureWidget(go.Bar(x=['a','b','c'], y=[1,3,2])); h.layout.title='H'\nh._widget_data = []\nh._widget_data = __import__('copy').deepcopy(h._data)\nboxH = w.Box([h]); boxH.add_class('sH'); boxH",
]

def test_scratch(jupyter_lab, browser_page):
    path = write_notebook(jupyter_lab, "scratch.ipynb", CELLS)
    open_notebook(browser_page, jupyter_lab, path)
    run_all(browser_page, timeout=60)
    browser_page.wait_for_timeout(8000)
    print('E', browser_page.evaluate("() => document.querySelectorAll('.js-plotly-plot .bars path').length"))
    for s in ("sF", "sG", "sH"):
        n = browser_page.evaluate(f"() => document.querySelectorAll('.{s} .js-plotly-plot .bars path').length")
        print(s, n)
    screenshot(browser_page, "scratch")

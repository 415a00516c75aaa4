"""Static text/html for frontends that cannot show widgets (GitHub, nbconvert, plain consoles).

Plain HTML and inline styles only: no JavaScript, no external resources, so the summary reads
the same in a saved notebook on GitHub as in an exported HTML file.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping

from batchnb.views.plots._style import TASK_STATE_COLORS

_COUNT_ORDER = ("active", "running", "succeeded", "failed", "completed")


def progress_bar_html(done: int, total: int, *, failed: int = 0) -> str:
    pct = 100.0 * done / total if total else 0.0
    fail_pct = 100.0 * failed / total if total else 0.0
    ok_pct = max(0.0, pct - fail_pct)
    return (
        "<div style='width:360px;max-width:100%;height:12px;background:#e6e8eb;border-radius:3px;overflow:hidden;display:flex'>"
        f"<div style='width:{ok_pct:.1f}%;background:{TASK_STATE_COLORS['succeeded']}'></div>"
        f"<div style='width:{fail_pct:.1f}%;background:{TASK_STATE_COLORS['failed']}'></div></div>"
    )


def counts_table_html(counts: Mapping[str, int]) -> str:
    head = "".join(f"<th style='text-align:right;padding:0 8px'>{html.escape(k)}</th>" for k in _COUNT_ORDER)
    cells = "".join(f"<td style='text-align:right;padding:0 8px'>{int(counts.get(k, 0)):,}</td>"
                    for k in _COUNT_ORDER)
    return f"<table><tr>{head}</tr><tr>{cells}</tr></table>"


def rows_table_html(columns: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    cols = list(columns)
    head = "".join(f"<th style='text-align:left;padding:0 8px'>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td style='padding:0 8px'>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "" if text in ("<NA>", "NaT", "nan") else text


def section(title: str, *parts: str) -> str:
    return f"<div class='batchnb-static'><b>{html.escape(title)}</b>{''.join(parts)}</div>"

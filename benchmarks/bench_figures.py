"""Monitor figures at a million tasks: kernel-side update time, figure size, and where the browser gives up.

Synthetic task frames (``_synthetic_tasks.packed_tasks_frame``: the dtypes ``tasks_frame()``
produces, tasks back to back on 500 nodes x 4 slots; no service needed). For each figure of the
job monitor, the kernel-side cost of one refresh: build the figure from the frame and copy it into
the FigureWidget on show (``LiveFigure.show``, one ``batch_update()``), median of a few rounds, at
the big size and at a size 100x smaller, and the figure's JSON size. The baseline, in the same
run: the timeline drawn one bar per task at the big size (what the monitor did before it binned).
Zoom: the binned timeline re-binned for a tenth of the job's time.

With ``--browser``: the time headless Chromium (this machine's, software WebGL) takes to draw the
per-task timeline at growing task counts and to redraw it after a zoom, against the binned
timeline of the big job: how ``AGGREGATE_ABOVE`` in ``batchnb/views/plots/timeline.py`` was chosen.

    python benchmarks/bench_figures.py              # 1,000,000 vs 10,000 tasks (+ per-task baseline)
    python benchmarks/bench_figures.py --quick      # 100,000 vs 1,000 (CI smoke run)
    python benchmarks/bench_figures.py --browser    # add the browser draw times
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import plotly.io as pio

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import add_check_option, finish, print_table  # noqa: E402
from _synthetic_tasks import check_dtypes, counts_history, packed_tasks_frame  # noqa: E402

from batchnb.data import frames  # noqa: E402
from batchnb.views import plots  # noqa: E402
from batchnb.views.plots.timeline import AGGREGATE_ABOVE  # noqa: E402

TARGET_UPDATE_S = 1.0  # progress, durations and failures at 10^6 tasks, kernel side
NODES, SLOTS = 500, 4
BROWSER_COUNTS = (10_000, 25_000, 50_000, 100_000, 200_000)


def _seconds(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def nodes_frame(count: int):
    return frames.nodes_frame([{"id": f"tvmps_{k:06d}_d", "state": "running" if k % 7 else "idle",
                                "runningTaskSlotsCount": k % (SLOTS + 1)} for k in range(count)])


def builders(tasks, history, nodes) -> dict[str, Callable[[], Any]]:
    return {
        "progress": lambda: plots.progress_figure(history.frame, total=len(tasks)),
        "durations": lambda: plots.duration_histogram(tasks),
        "failures": lambda: plots.failures_by_code(tasks),
        "timeline": lambda: plots.timeline_figure(tasks),
        "node heatmap": lambda: plots.node_heatmap_figure(nodes, task_slots_per_node=SLOTS),
    }


def measure(count: int, *, repeats: int) -> dict[str, Any]:
    """Per figure: median seconds of build + in-place update, and JSON bytes."""
    from batchnb.views.widgets._live_figure import LiveFigure

    made, tasks = _seconds(lambda: packed_tasks_frame(count, nodes=NODES, slots=SLOTS))
    history = counts_history(tasks)
    nodes = nodes_frame(NODES)
    out: dict[str, Any] = {"count": count, "frame_s": made, "dtype_problems": check_dtypes(tasks),
                           "frame_mib": tasks.memory_usage(deep=True).sum() / 2**20, "figures": {}, "tasks": tasks}
    for name, build in builders(tasks, history, nodes).items():
        live = LiveFigure(f"bench-{name}")
        fig = build()
        live.show(fig)  # creates the widget (plotly.js travels once): not a refresh
        first = live.widget
        rounds = []
        for _ in range(repeats):
            b, fig = _seconds(build)
            u, _ = _seconds(lambda fig=fig: live.show(fig))
            rounds.append(b + u)
        if live.widget is not first:
            raise SystemExit(f"{name}: the figure was re-created instead of updated in place")
        out["figures"][name] = {"update_s": statistics.median(rounds), "json_bytes": len(pio.to_json(fig, validate=False)),
                                "traces": [t.type for t in fig.data]}
        live.close()
    return out


def check_density(tasks) -> list[str]:
    """The binned timeline's counts per time bin, summed over nodes, against an independent count."""
    fig = plots.timeline_figure(tasks, aggregate_above=0)
    edges = np.asarray(fig.data[0].x, dtype="datetime64[ns]").astype(np.int64)
    z = np.asarray(fig.data[0].z)
    started = tasks["start_time"].notna().to_numpy()
    start = np.sort(tasks["start_time"].to_numpy(dtype="datetime64[ns]").astype(np.int64)[started])
    latest = max(tasks["end_time"].max(), tasks["state_time"].max()).value
    end_all = tasks["end_time"].to_numpy(dtype="datetime64[ns]").astype(np.int64)[started]
    end = np.sort(np.where(end_all == np.iinfo(np.int64).min, latest, end_all))
    # A task with end > start overlaps [lo, hi) iff start < hi and end > lo.
    expected = np.searchsorted(start, edges[1:], side="left") - np.searchsorted(end, edges[:-1], side="right")
    if not np.array_equal(z.sum(axis=0), expected):
        return [f"binned timeline: counts per bin differ from the tasks running in it "
                f"({int(np.abs(z.sum(axis=0) - expected).sum())} off)"]
    return []


def measure_zoom(tasks, *, repeats: int) -> dict[str, float]:
    whole = plots.timeline_figure(tasks, aggregate_above=0)
    x = np.asarray(whole.data[0].x, dtype="datetime64[ns]")
    span = x[-1] - x[0]
    x_range = (str(x[0] + span * 4 // 10), str(x[0] + span // 2))
    times = [_seconds(lambda: plots.timeline_figure(tasks, aggregate_above=0, x_range=x_range))[0]
             for _ in range(repeats)]
    zoomed = plots.timeline_figure(tasks, aggregate_above=0, x_range=x_range)
    bin_whole = int(x[1] - x[0])
    zx = np.asarray(zoomed.data[0].x, dtype="datetime64[ns]")
    return {"zoom_s": statistics.median(times), "bin_whole_s": bin_whole / 1e9, "bin_zoom_s": int(zx[1] - zx[0]) / 1e9}


def measure_baseline(tasks) -> dict[str, float]:
    build_s, fig = _seconds(lambda: plots.timeline_figure(tasks, aggregate_above=len(tasks) + 1))
    json_s, text = _seconds(lambda: pio.to_json(fig, validate=False))
    return {"build_s": build_s, "json_s": json_s, "json_bytes": len(text)}


# ----------------------------------------------------------------------------------- browser

_DRAW_JS = """async ([fig, zoom]) => {
    const div = document.getElementById('fig');
    const frame = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    let t = performance.now();
    await Plotly.newPlot(div, fig.data, fig.layout, {responsive: true});
    await frame();
    const draw = performance.now() - t;
    t = performance.now();
    await Plotly.relayout(div, {'xaxis.range': zoom});
    await frame();
    const relayout = performance.now() - t;
    Plotly.purge(div);
    return [draw, relayout];
}"""


def _x_extent_ms(fig) -> tuple[float, float]:
    xs = [np.asarray(t.x) for t in fig.data if t.x is not None and len(t.x)]
    x = np.concatenate([v.astype("datetime64[ns]").astype(np.int64) / 1e6 if v.dtype.kind == "M" else
                        v.astype(float) for v in xs])
    return float(np.nanmin(x)), float(np.nanmax(x))


def measure_browser(big_tasks, counts: tuple[int, ...]) -> list[tuple[str, float, float, int]]:
    """(figure, draw ms, zoom redraw ms, JSON bytes) in headless Chromium, software WebGL."""
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("BATCHNB_CHROMIUM", "/usr/bin/chromium")
    plotly_js = os.path.join(os.path.dirname(pio.__file__), "..", "package_data", "plotly.min.js")
    figures = []
    for count in counts:
        tasks = big_tasks.iloc[:count] if count <= len(big_tasks) else packed_tasks_frame(count, nodes=NODES)
        figures.append((f"per task, {count:,} tasks", plots.timeline_figure(tasks, aggregate_above=count + 1)))
    figures.append((f"binned, {len(big_tasks):,} tasks", plots.timeline_figure(big_tasks, aggregate_above=0)))
    results = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--headless=new"])
        try:
            for name, fig in figures:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.set_content("<div id='fig' style='width:1300px;height:400px'></div>")
                page.add_script_tag(path=os.path.abspath(plotly_js))
                spec = json.loads(pio.to_json(fig, validate=False))
                lo, hi = _x_extent_ms(fig)
                mid, span = (lo + hi) / 2, (hi - lo) / 20
                draw, zoom = page.evaluate(_DRAW_JS, [spec, [mid - span, mid + span]])
                results.append((name, draw, zoom, len(json.dumps(spec))))
                page.close()
        finally:
            browser.close()
    return results


# ------------------------------------------------------------------------------------ report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 100,000 vs 1,000 tasks")
    parser.add_argument("--tasks", type=int, default=None, help="the big size (default 1,000,000)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-baseline", action="store_true", help="skip the per-task timeline of the big job")
    parser.add_argument("--browser", action="store_true", help="also time drawing in headless Chromium")
    add_check_option(parser)
    args = parser.parse_args(argv)
    big_n = args.tasks or (100_000 if args.quick else 1_000_000)
    small_n = max(100, big_n // 100)

    failures: list[str] = []
    missed: list[str] = []
    small = measure(small_n, repeats=args.repeats)
    big = measure(big_n, repeats=args.repeats)
    for res in (small, big):
        failures += [f"{res['count']:,} tasks: dtype {p}" for p in res["dtype_problems"]]
    failures += check_density(big["tasks"])
    zoom = measure_zoom(big["tasks"], repeats=args.repeats)

    rows = [("synthetic frames", f"{small_n:,} tasks in {small['frame_s']:.1f} s; {big_n:,} tasks in "
                                 f"{big['frame_s']:.1f} s, {big['frame_mib']:.0f} MiB (dtypes as tasks_frame())")]
    for name, b in big["figures"].items():
        s = small["figures"][name]
        ratio = b["update_s"] / s["update_s"] if s["update_s"] else float("inf")
        rows.append((f"{name}: update at {big_n:,} / at {small_n:,}",
                     f"{b['update_s'] * 1000:8.0f} ms / {s['update_s'] * 1000:6.0f} ms = x{ratio:5.1f}   "
                     f"JSON {b['json_bytes'] / 1024:8,.0f} KiB / {s['json_bytes'] / 1024:6,.0f} KiB   "
                     f"({'+'.join(sorted(set(b['traces'])))} / {'+'.join(sorted(set(s['traces'])))})"))
        if name in ("progress", "durations", "failures") and b["update_s"] > TARGET_UPDATE_S:
            missed.append(f"{name} updates in {b['update_s']:.2f} s at {big_n:,} tasks (target <= {TARGET_UPDATE_S} s)")
    rows.append(("timeline zoom to a tenth: re-bin", f"{zoom['zoom_s'] * 1000:8.0f} ms   bins "
                                                     f"{zoom['bin_whole_s']:.3g} s -> {zoom['bin_zoom_s']:.3g} s"))
    if not args.no_baseline:
        base = measure_baseline(big["tasks"])
        binned = big["figures"]["timeline"]
        rows.append((f"baseline: per-task timeline of {big_n:,}",
                     f"build {base['build_s'] * 1000:8.0f} ms + JSON {base['json_s'] * 1000:6.0f} ms, "
                     f"{base['json_bytes'] / 2**20:7.1f} MiB"))
        rows.append(("binned / per-task timeline",
                     f"time {binned['update_s'] / (base['build_s'] + base['json_s']):.2%} (update vs build+JSON)   "
                     f"bytes {binned['json_bytes'] / base['json_bytes']:.3%}"))
    print_table(f"Monitor figures, kernel side: {big_n:,} vs {small_n:,} tasks on {NODES} nodes x {SLOTS} slots "
                f"(threshold: binned above {AGGREGATE_ABOVE:,} started tasks)", rows)

    if args.browser:
        counts = tuple(c for c in BROWSER_COUNTS if c <= big_n) or (small_n,)
        brows = [(name, f"draw {draw:8.0f} ms   zoom redraw {zoom_ms:7.0f} ms   JSON {size / 2**20:6.1f} MiB")
                 for name, draw, zoom_ms, size in measure_browser(big["tasks"], counts)]
        print()
        print_table("Timeline in headless Chromium (software WebGL, 1300 x 400 px)", brows)
    return finish(args, failures=failures, missed=missed, targets_apply=not args.quick)


if __name__ == "__main__":
    sys.exit(main())

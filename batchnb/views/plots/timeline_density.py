"""Task intervals binned per node and time: the timeline of a job too big to draw task by task.

The idea is datashader's (aggregate onto a grid about the size of the screen, and aggregate again
for the range the user zoomed to), done with two ``np.bincount`` calls: datashader itself brings
numba, dask and xarray for what is, for intervals on lanes, a difference array and a cumulative
sum. plotly-resampler's approach (re-sample on ``layout.on_change`` of the axis ranges) is what the
widget layer does with it; its downsamplers (LTTB and friends) thin out one series of points, which
a Gantt chart of intervals on node lanes is not.

A cell holds the number of tasks that ran on that node (or group of nodes) at some time during
that time bin: a task is counted in every bin its ``[start, end)`` overlaps, and a task that took
no time at all counts in the bin of its start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TimelineBins:
    """Counts per (row, time bin) and where the rows and bins are.

    ``lane_edges`` are in lane units (lane ``i`` spans ``[i - 0.5, i + 0.5)``, the per-task
    timeline's y coordinates); a row holds ``nodes_per_row`` consecutive lanes (the last may hold
    fewer). ``time_edges`` are int64 nanoseconds since the epoch.
    """

    counts: np.ndarray  # (rows, bins) int64: tasks overlapping each cell
    failed: np.ndarray  # (rows, bins) int64: of those, tasks that failed
    time_edges: np.ndarray  # (bins + 1,) int64 ns
    lane_edges: np.ndarray  # (rows + 1,) float64
    first_lane: int
    nodes_per_row: int
    tasks_in_view: int

    @property
    def bin_ns(self) -> int:
        return int(self.time_edges[1] - self.time_edges[0]) if len(self.time_edges) > 1 else 0


def _cell_counts(row: np.ndarray, b0: np.ndarray, b1: np.ndarray, rows: int, bins: int) -> np.ndarray:
    # Difference array: +1 at a task's first bin, -1 after its last, then a running sum along time.
    width = bins + 1
    size = rows * width
    diff = np.bincount(row * width + b0, minlength=size) - np.bincount(row * width + b1 + 1, minlength=size)
    return np.cumsum(diff.reshape(rows, width), axis=1)[:, :bins]


def bin_task_intervals(
    lane: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    failed: np.ndarray,
    *,
    lanes: int,
    time_range: tuple[int, int] | None = None,
    lane_range: tuple[float, float] | None = None,
    time_bins: int = 400,
    max_rows: int = 200,
) -> TimelineBins:
    """Bin tasks (``lane`` index, ``start``/``end`` in int64 ns, ``failed`` flags) into a grid.

    ``time_range`` and ``lane_range`` restrict the grid to a zoomed view (default: everything);
    the view is split into ``time_bins`` equal bins (at least 1 ns each) and into at most
    ``max_rows`` rows of whole lanes.
    """
    if time_range is None:
        t0, t1 = (int(start.min()), int(end.max())) if len(start) else (0, 1)
    else:
        t0, t1 = int(min(time_range)), int(max(time_range))
    bin_ns = max(1, math.ceil((t1 - t0) / time_bins)) if t1 > t0 else 1
    bins = max(1, min(time_bins, math.ceil((t1 - t0) / bin_ns))) if t1 > t0 else 1
    time_edges = t0 + bin_ns * np.arange(bins + 1, dtype=np.int64)

    lo, hi = 0, max(lanes, 1)
    if lane_range is not None:
        y0, y1 = min(lane_range), max(lane_range)
        lo = min(max(0, math.floor(y0 + 0.5)), hi - 1)
        hi = max(lo + 1, min(hi, math.floor(y1 + 0.5) + 1))
    per_row = max(1, math.ceil((hi - lo) / max_rows))
    rows = math.ceil((hi - lo) / per_row)
    lane_edges = np.minimum(lo - 0.5 + per_row * np.arange(rows + 1, dtype=np.float64), hi - 0.5)

    b0 = (start - t0) // bin_ns
    # The bin of the last instant before the end; a zero-length task stays in its start bin.
    b1 = np.maximum(b0, (end - t0 - 1) // bin_ns)
    keep = (b1 >= 0) & (b0 < bins) & (lane >= lo) & (lane < hi)
    row = (lane[keep] - lo) // per_row
    b0 = np.clip(b0[keep], 0, bins - 1)
    b1 = np.clip(b1[keep], 0, bins - 1)
    counts = _cell_counts(row, b0, b1, rows, bins)
    bad = failed[keep]
    failed_counts = _cell_counts(row[bad], b0[bad], b1[bad], rows, bins)
    return TimelineBins(counts=counts, failed=failed_counts, time_edges=time_edges, lane_edges=lane_edges,
                        first_lane=lo, nodes_per_row=per_row, tasks_in_view=int(keep.sum()))

"""A week-long job's progress figure: drawn from at most MAX_PROGRESS_POINTS samples, titled from all."""

from __future__ import annotations

import datetime as dt

import numpy as np

from batchnb.data import frames
from batchnb.views import plots
from batchnb.views.plots.progress import MAX_PROGRESS_POINTS


def test_a_long_history_is_drawn_from_few_samples_and_keeps_its_ends():
    history = frames.CountsHistory()
    t0 = dt.datetime(2026, 1, 5, 8, tzinfo=dt.UTC)
    n, total = 20_000, 1_000_000
    for k in range(n):
        done = total * k // (n - 1)
        history.append({"active": total - done, "running": 0, "completed": done, "succeeded": done, "failed": 0},
                       t0 + dt.timedelta(seconds=30 * k))
    frame = history.frame
    fig = plots.progress_figure(frame)
    succeeded = fig.data[0]
    assert len(succeeded.x) == MAX_PROGRESS_POINTS and all(len(t.y) == MAX_PROGRESS_POINTS for t in fig.data)
    assert succeeded.y[0] == 0 and succeeded.y[-1] == total  # first and latest samples drawn exactly
    assert np.all(np.diff(np.asarray(succeeded.y)) >= 0)  # still the same monotone curve
    assert "1,000,000 / 1,000,000 done (100 %)" in fig.layout.title.text
    # A short history is drawn sample by sample.
    assert len(plots.progress_figure(frame.iloc[:50]).data[0].x) == 50

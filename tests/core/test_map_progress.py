"""session.map() shows its progress while it waits (tqdm.auto: a widget in a notebook, text here),
and nothing with progress=False. Real tasks on the local service's nodes."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(240)


def test_map_shows_tasks_completed_and_is_silent_when_asked(session, pool, capfd):
    assert session.map(lambda v: v * 2, range(6), pool=pool.id, chunk_size=2) == [0, 2, 4, 6, 8, 10]
    shown = capfd.readouterr().err
    assert "map map-" in shown and "3/3" in shown and "task" in shown  # outside a notebook: a text bar

    assert session.map(lambda v: v + 1, range(4), pool=pool.id, chunk_size=2, progress=False) == [1, 2, 3, 4]
    assert "/2" not in capfd.readouterr().err

"""session.map(): real pickles through Azurite, real runner processes on the local nodes."""

from __future__ import annotations

import pytest

import batchnb
from batchnb.core.remote.result import RemoteItemError
from batchnb.errors import TaskFailedError, ValidationError

pytestmark = pytest.mark.timeout(180)


def test_map_1000_items_returns_results_in_order_and_reports_the_failing_item(session, pool):
    # Defined here, not at module level: like a notebook's functions, it is pickled by value
    # (a module-level function of this test file would be pickled by reference to 'test_map').
    def _square_but_fail_on_500(v):
        if v == 500:
            raise ValueError(f"bad item {v}")
        return v * v

    with pytest.raises(TaskFailedError) as info:
        session.map(_square_but_fail_on_500, range(1000), pool=pool.id, chunk_size=60, timeout=120)
    error = info.value
    assert isinstance(error, RemoteItemError)
    assert error.item_index == 500 and error.exception_type == "ValueError"
    assert "bad item 500" in str(error)
    assert "ValueError: bad item 500" in error.remote_traceback
    assert "in _square_but_fail_on_500" in error.remote_traceback
    assert isinstance(error.exception, ValueError)
    assert any("Remote traceback" in note for note in error.__notes__)

    # The same job, collected: 1,000 results in input order, one error.
    result = session.map_result(error.job_id)
    assert result.n_tasks == 17
    values = result.values(errors="collect")
    assert len(values) == 1000
    assert values[:3] == [0, 1, 4] and values[999] == 999 * 999 and values[500] is None
    assert [v for i, v in enumerate(values) if i != 500] == [i * i for i in range(1000) if i != 500]
    assert [(e.index, e.exception_type) for e in result.errors] == [(500, "ValueError")]
    # The job shows the chunk with the failing item as failed, the others as succeeded.
    counts = result.job.task_counts()
    assert counts["failed"] == 1 and counts["succeeded"] == 16


def test_map_collect_mode_and_closures(session, pool):
    offset = 10
    result = session.map(lambda v: v + offset if v % 3 else 1 / 0, range(9), pool=pool.id, chunk_size=4,
                         errors="collect")
    assert [e.index for e in result.errors] == [0, 3, 6]
    assert all(e.exception_type == "ZeroDivisionError" for e in result.errors)
    assert [result.results[i] for i in (1, 2, 4)] == [11, 12, 14]


def test_map_result_reattaches_from_a_new_session(session, pool):
    pending = session.map(str.upper, ["a", "b", "c"], pool=pool.id, wait=False, job_id="map-reattach")
    fresh = batchnb.connect("local", state_dir=str(session.local_service.state_dir))
    again = fresh.map_result(pending.job_id).wait(timeout=60)
    assert again.values() == ["A", "B", "C"]
    fresh.close()


def test_a_function_the_node_cannot_load_is_reported_per_item(session, pool, tmp_path, monkeypatch):
    # A module only the notebook has: cloudpickle pickles its functions by reference.
    (tmp_path / "notebook_only_mod.py").write_text("def f(x):\n    return x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import notebook_only_mod

    result = session.map(notebook_only_mod.f, [1, 2], pool=pool.id, errors="collect")
    assert [e.exception_type for e in result.errors] == ["ModuleNotFoundError", "ModuleNotFoundError"]
    assert "notebook_only_mod" in result.errors[0].message


def test_map_checks_its_arguments_before_submitting(session, pool):
    with pytest.raises(ValidationError):
        session.map(lambda v: v, [], pool=pool.id)
    with pytest.raises(ValidationError):
        session.map(lambda v: v, [1], pool=pool.id, chunk_size=0)
    import threading

    with pytest.raises(ValidationError) as info:
        session.map(lambda v: v, [threading.Lock()], pool=pool.id)
    assert "pickled" in str(info.value)

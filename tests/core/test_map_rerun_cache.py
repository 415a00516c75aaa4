"""MapResult.rerun (only what failed, re-chunked) and map(cache=True) (nothing computed twice)."""

from __future__ import annotations

import pytest

from batchnb.errors import ValidationError

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]  # kernels and environments install slowly on a busy machine


def test_rerun_resubmits_exactly_the_failed_items_then_values_are_complete(session, pool, unique):
    def flaky(v):  # pickled by value, as a notebook's function is
        if v % 50 == 7:
            raise RuntimeError(f"flaky {v}")
        return v * 2

    result = session.map(flaky, range(300), pool=pool.id, chunk_size=100, errors="collect", timeout=600,
                         job_id=f"map-rr-{unique}")
    failed = [e.index for e in result.errors]
    assert failed == [7, 57, 107, 157, 207, 257]

    def fixed(v):
        return v * 2

    result.rerun(fn=fixed, timeout=600)
    assert result.ok and result.values() == [v * 2 for v in range(300)]
    (rerun_job,) = result.reruns
    rerun = session.map_result(rerun_job)
    assert rerun.n_items == len(failed)  # the other 294 items of the failing chunks did not run again
    assert result.rerun() is result  # nothing left: no job is made


def test_rerun_keeps_an_item_that_fails_again_as_an_error(session, pool, unique):
    def always_bad_on_three(v):
        if v == 3:
            raise KeyError(v)
        return v

    result = session.map(always_bad_on_three, range(6), pool=pool.id, chunk_size=3, errors="collect", timeout=600,
                         job_id=f"map-rr2-{unique}")
    result.rerun(timeout=600)  # the same function: item 3 fails again, and only item 3 ran
    assert [(e.index, e.exception_type) for e in result.errors] == [(3, "KeyError")]
    assert result.values(errors="collect") == [0, 1, 2, None, 4, 5]
    assert session.map_result(result.reruns[0]).n_items == 1


def test_cached_map_submits_nothing_the_second_time_and_only_changed_items_after(session, pool, unique):
    salt = unique  # a closure value: part of the function's identity, so this test has its own cache keys

    def work(v):
        return f"{salt}:{v * v}"

    before = set(session.list_jobs().index)
    first = session.map(work, range(20), pool=pool.id, cache=True, errors="collect", timeout=600)
    assert first.values() == [f"{salt}:{v * v}" for v in range(20)] and first.cache_hits == 0
    made = set(session.list_jobs().index) - before
    assert len(made) == 1

    again = session.map(work, range(20), pool=pool.id, cache=True, timeout=600)
    assert again == [f"{salt}:{v * v}" for v in range(20)]
    assert set(session.list_jobs().index) - before == made  # an unchanged rerun submitted no task

    more = session.map(work, [*range(20), 99], pool=pool.id, cache=True, errors="collect", timeout=600)
    assert more.cache_hits == 20 and more.values()[-1] == f"{salt}:{99 * 99}"
    newest = set(session.list_jobs().index) - before - made
    assert len(newest) == 1 and session.map_result(newest.pop()).n_items == 1  # only the new item ran

    def changed(v):
        return f"{salt}:{v + 1}"

    assert session.map(changed, [1, 2], pool=pool.id, cache=True, timeout=600) == [f"{salt}:2", f"{salt}:3"]
    assert len(session.cache) >= 23
    assert "MapCache(container='batchnb-cache'" in repr(session.cache)


def test_cached_map_needs_wait_and_failures_are_not_cached(session, pool, unique):
    with pytest.raises(ValidationError, match="cache=True needs wait=True"):
        session.map(str, [1], pool=pool.id, cache=True, wait=False)
    marker = unique

    def fails_once(v):
        raise ValueError(marker)

    first = session.map(fails_once, [1, 2], pool=pool.id, cache=True, errors="collect", timeout=600)
    assert [e.exception_type for e in first.errors] == ["ValueError", "ValueError"]
    second = session.map(fails_once, [1, 2], pool=pool.id, cache=True, errors="collect", timeout=600)
    assert second.cache_hits == 0  # a failure is not a result: it runs again

"""map() on bare nodes: the kernel's packages reach a fresh pool by themselves (environment='auto'),
once per node; mismatches the kernel can see are refused before anything is submitted; a pool's
python_env serves map() and plain tasks alike."""

from __future__ import annotations

import pytest

import batchnb
from batchnb.errors import NotFoundError, TaskFailedError, ValidationError

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def bare_pool(session, unique_module):
    """A fresh pool without any environment: 2 nodes, as a user would make it."""
    pool_id = f"bare-{unique_module}"
    handle = session.create_pool(batchnb.PoolSpec(pool_id, vm_size="standard_d2s_v3", dedicated_nodes=2,
                                                  task_slots_per_node=2), wait=True, timeout=120)
    yield handle
    session.delete_pool(pool_id)


@pytest.fixture(scope="module")
def unique_module():
    import uuid

    return uuid.uuid4().hex[:8]


def _mean_of_range():
    # Made inside the test, as a notebook's function: pickled by value (a module-level function of
    # this file would be pickled by reference to a module the node does not have).
    def mean_of_range(n):
        import pandas as pd  # the node has no pandas until the environment brings it

        return float(pd.Series(range(n)).mean())

    return mean_of_range


def test_auto_environment_installs_once_per_node_and_the_second_map_installs_nothing(session, bare_pool):
    fn = _mean_of_range()
    job = session.create_job(f"probe-{bare_pool.id}", pool=bare_pool.id)
    job.add_tasks(batchnb.TaskSpec("pandas", "python3 -c 'import pandas'"))
    job.wait(timeout=60)
    assert job.tasks().loc["pandas", "exit_code"] == 1  # bare: the kernel's pandas does not leak

    assert session.map(fn, [3, 5, 7, 9], pool=bare_pool.id, chunk_size=1, timeout=180) == [
        1.0, 2.0, 3.0, 4.0]
    installs = bare_pool.list_environment_installs()
    nodes = set(bare_pool.nodes().index)
    assert sorted(i["node"] for i in installs) == sorted(nodes)  # one install on each node, not one per task
    assert len({i["key"] for i in installs}) == 1

    assert session.map(fn, [11, 13, 15, 17], pool=bare_pool.id, chunk_size=1, timeout=120) == [
        5.0, 6.0, 7.0, 8.0]
    assert bare_pool.list_environment_installs() == installs  # nothing installed again

    with pytest.raises(TaskFailedError, match="cloudpickle is not installed"):
        session.map(fn, [1], pool=bare_pool.id, environment=None, timeout=60)


def test_a_failed_install_names_the_package_and_the_node(session, bare_pool):
    env = batchnb.Environment(["batchnb-no-such-distribution==0.0.1"])
    result = session.map(str, [1, 2], pool=bare_pool.id, environment=env, errors="collect", timeout=180)
    assert len(result.errors) == 2
    message = result.errors[0].message
    assert "batchnb-no-such-distribution==0.0.1" in message
    assert any(node in message for node in bare_pool.nodes().index)


def test_a_mismatch_with_the_pools_environment_is_refused_before_submitting(session, pool, unique):
    def draws(x):
        import plotly  # the core pool's environment has pandas, not plotly

        return plotly.__version__

    job_id = f"map-refused-{unique}"
    with pytest.raises(ValidationError, match="lacks plotly") as info:
        session.map(draws, [1], pool=pool.id, job_id=job_id)
    assert "python_env" in info.value.fix
    with pytest.raises(ValidationError, match="Python 3.1"):
        session.map(str, [1], pool=pool.id, environment=batchnb.Environment([], python="3.10"), job_id=job_id)
    with pytest.raises(NotFoundError):
        session.get_job(job_id)  # nothing was submitted


def test_a_pool_environment_serves_map_and_puts_its_python_first_for_tasks(session, pool, unique):
    fn = _mean_of_range()
    env_key = batchnb.Environment.from_metadata(
        {m.name: m.value for m in session.get_pool(pool.id).metadata}["batchnb.env"]).key
    job = session.create_job(f"envpath-{unique}", pool=pool.id)
    job.add_tasks(batchnb.TaskSpec("which", "python -c 'import sys, pandas; print(sys.prefix)'"))
    assert job.wait(timeout=60)["succeeded"] == 1
    assert job.stdout("which").strip().endswith(f"batchnb/envs/{env_key}")
    # map() with the default environment uses the pool's one: no install beyond the start task's.
    before = pool.list_environment_installs()
    assert session.map(fn, [3], pool=pool.id, timeout=60) == [1.0]
    assert pool.list_environment_installs() == before
    assert env_key in {i["key"] for i in before}  # other tests may have run maps with their own environments here

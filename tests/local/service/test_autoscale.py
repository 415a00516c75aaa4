"""Autoscale: create with a formula, evaluate, enable/disable, formulas over $PendingTasks samples."""

from __future__ import annotations

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from .helpers import IMAGE, error_code, make_job, make_pool, nodes_in, task, uid, wait_for

pytestmark = pytest.mark.timeout(90)


def _autoscale_pool(client, formula: str) -> str:
    pool_id = uid("auto")
    client.create_pool(m.BatchPoolCreateOptions(id=pool_id, vm_size="standard_d2s_v3",
                                                virtual_machine_configuration=IMAGE, enable_auto_scale=True,
                                                auto_scale_formula=formula))
    return pool_id


def test_create_with_formula_sets_targets(client) -> None:
    pool_id = _autoscale_pool(client, "$TargetDedicatedNodes = max(1, min(2, 5)); $TargetLowPriorityNodes = 1;")
    wait_for(lambda: len(nodes_in(client, pool_id, ("idle",))) == 3, what="3 nodes from the formula")
    pool = client.get_pool(pool_id)
    assert pool.enable_auto_scale is True and pool.auto_scale_formula.startswith("$TargetDedicatedNodes")
    assert pool.target_dedicated_nodes == 2 and pool.target_low_priority_nodes == 1
    assert pool.auto_scale_run is not None and "$TargetDedicatedNodes=2" in pool.auto_scale_run.results
    # a pool under autoscale cannot be resized by hand
    with pytest.raises(HttpResponseError) as exc:
        client.begin_resize_pool(pool_id, m.BatchPoolResizeOptions(target_dedicated_nodes=1)).result()
    assert exc.value.status_code == 409


def test_evaluate_does_not_apply(client) -> None:
    pool_id = _autoscale_pool(client, "$TargetDedicatedNodes = 0;")
    run = client.evaluate_pool_auto_scale(pool_id, m.BatchPoolEvaluateAutoScaleOptions(
        auto_scale_formula="$TargetDedicatedNodes = 3 * 2 - 1; $NodeDeallocationOption = taskcompletion;"))
    assert "$TargetDedicatedNodes=5" in run.results
    assert "$NodeDeallocationOption=taskcompletion" in run.results
    assert run.error is None
    assert client.get_pool(pool_id).target_dedicated_nodes == 0


def test_syntax_errors_are_400(client) -> None:
    pool_id = _autoscale_pool(client, "$TargetDedicatedNodes = 0;")
    with pytest.raises(HttpResponseError) as exc:
        client.evaluate_pool_auto_scale(pool_id, m.BatchPoolEvaluateAutoScaleOptions(
            auto_scale_formula="$TargetDedicatedNodes = nosuchfunction(1);"))
    assert exc.value.status_code == 400 and error_code(exc.value) == "AutoScalingFormulaSyntaxError"
    with pytest.raises(HttpResponseError) as exc:
        client.create_pool(m.BatchPoolCreateOptions(id=uid("auto"), vm_size="standard_d2s_v3",
                                                    virtual_machine_configuration=IMAGE, enable_auto_scale=True,
                                                    auto_scale_formula="$TargetDedicatedNodes = ("))
    assert exc.value.status_code == 400


def test_enable_with_pending_tasks_formula_then_disable(client) -> None:
    pool_id = make_pool(client, dedicated=0)
    job_id = make_job(client, pool_id)
    client.create_tasks(job_id, [task(f"t{i}", "true") for i in range(6)])
    formula = ("pending = $PendingTasks.GetSample(1);\n"
               "$TargetDedicatedNodes = min(3, max(0, pending / 2));\n"
               "$NodeDeallocationOption = taskcompletion;")
    client.enable_pool_auto_scale(pool_id, m.BatchPoolEnableAutoScaleOptions(auto_scale_formula=formula))
    pool = client.get_pool(pool_id)
    assert pool.enable_auto_scale is True and pool.target_dedicated_nodes == 3
    wait_for(lambda: client.get_job_task_counts(job_id).task_counts.completed == 6, what="tasks ran on new nodes")
    client.disable_pool_auto_scale(pool_id)
    pool = client.get_pool(pool_id)
    assert pool.enable_auto_scale is False and pool.auto_scale_formula is None
    # manual resizing works again
    client.begin_resize_pool(pool_id, m.BatchPoolResizeOptions(target_dedicated_nodes=1),
                             polling_interval=0.1).result()
    wait_for(lambda: len(list(client.list_nodes(pool_id))) == 1, what="resized to 1")


def test_evaluate_on_pool_without_autoscale_is_refused(client) -> None:
    pool_id = make_pool(client, dedicated=0)
    with pytest.raises(HttpResponseError) as exc:
        client.evaluate_pool_auto_scale(pool_id, m.BatchPoolEvaluateAutoScaleOptions(
            auto_scale_formula="$TargetDedicatedNodes = 1;"))
    assert exc.value.status_code == 409

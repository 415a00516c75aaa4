"""Autoscale presets produce formulas the local service's evaluator accepts, with the intended targets."""

from __future__ import annotations

import datetime as dt

import pytest

from batchnb.core.specs.autoscale_presets import PRESETS, preset_formula
from batchnb.local.service.model.autoscale import AutoScaleContext, Samples, check_syntax, evaluate

pytestmark = pytest.mark.timeout(30)

NOW = dt.datetime(2025, 1, 1, 12, 0, tzinfo=dt.timezone.utc)


def run(formula: str, pending: int, *, slots: int = 1) -> tuple[int, int, str]:
    history = Samples([(NOW - dt.timedelta(seconds=30 * k), float(pending)) for k in range(10, 0, -1)])
    ctx = AutoScaleContext(now=NOW, pending=history, active=history, running=Samples([]),
                           current_dedicated=0, current_low_priority=0, target_dedicated=0,
                           target_low_priority=0, task_slots_per_node=slots)
    outcome = evaluate(formula, ctx)
    assert outcome.error is None, outcome.error
    return outcome.target_dedicated, outcome.target_low_priority, outcome.node_deallocation_option


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_parses(name):
    check_syntax(preset_formula(name, max_nodes=10, min_nodes=1, task_slots_per_node=4))


@pytest.mark.parametrize("pending,slots,expected", [(0, 1, 0), (3, 1, 3), (50, 1, 10), (5, 4, 2), (8, 4, 2)])
def test_queue_follows_pending_tasks(pending, slots, expected):
    formula = preset_formula("queue", max_nodes=10, task_slots_per_node=slots)
    assert run(formula, pending, slots=slots) == (expected, 0, "taskcompletion")


def test_queue_keeps_min_nodes_when_idle():
    assert run(preset_formula("queue", max_nodes=5, min_nodes=2), 0)[:2] == (2, 0)


def test_spot_and_mixed():
    assert run(preset_formula("queue", max_nodes=6, spot=True), 4)[:2] == (0, 4)
    assert run(preset_formula("queue-mixed", max_nodes=6, min_nodes=2), 3)[:2] == (2, 1)
    assert run(preset_formula("queue-mixed", max_nodes=6, min_nodes=2), 100)[:2] == (2, 4)
    assert run(preset_formula("queue-mixed", max_nodes=6, min_nodes=2), 0)[:2] == (2, 0)

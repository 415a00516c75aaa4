"""Ready-made autoscale formulas, named the way doAzureParallel and Batch Shipyard users know them.

A preset turns "grow with the queue, up to N nodes" into an Azure Batch autoscale formula, so that
users do not have to learn the formula language for the common case. Presets:

``"queue"``
    Dedicated nodes follow the task queue: one node per ``task_slots_per_node`` pending tasks
    (``$PendingTasks`` counts active *and* running tasks), between ``min_nodes`` and
    ``max_nodes``. Nodes are removed only after their running tasks complete, so an idle pool
    shrinks to ``min_nodes`` (0 by default: no cost when nothing is queued).
``"queue-spot"``
    The same, on spot (low-priority) nodes: cheaper, but nodes can be preempted; Batch
    requeues the tasks of a preempted node.
``"queue-mixed"``
    ``min_nodes`` dedicated nodes are always kept (a reliable floor), and demand above that is
    served by spot nodes, up to ``max_nodes`` nodes in total.

The formulas use only ``$PendingTasks.GetSample(1)``, ``max``, ``min``, ``ceil``, arithmetic and
assignments to ``$TargetDedicatedNodes``, ``$TargetLowPriorityNodes`` and
``$NodeDeallocationOption``: valid on Azure, and inside the subset the local service evaluates
(``batchnb.local.service.model.autoscale``; the unit tests run every preset through it).
"""

from __future__ import annotations

from batchnb.core.validation import check_int, did_you_mean
from batchnb.errors import ValidationError

__all__ = ["PRESETS", "is_preset", "preset_formula"]

PRESETS: dict[str, str] = {
    "queue": "dedicated nodes follow the number of pending tasks",
    "queue-spot": "spot nodes follow the number of pending tasks",
    "queue-mixed": "min_nodes dedicated nodes always, spot nodes for the rest of the queue",
}

MAX_FORMULA_LENGTH = 8192


def is_preset(name: str) -> bool:
    return name.strip().lower() in PRESETS


def _demand(task_slots_per_node: int) -> list[str]:
    lines = ["$pending = max(0, max($PendingTasks.GetSample(1)))"]
    if task_slots_per_node == 1:
        lines.append("$demand = $pending")
    else:
        lines.append(f"$demand = ceil($pending / {task_slots_per_node})")
    return lines


def preset_formula(
    name: str,
    *,
    max_nodes: int,
    min_nodes: int = 0,
    task_slots_per_node: int = 1,
    spot: bool = False,
) -> str:
    """The autoscale formula for preset ``name`` (see the module docstring for the presets).

    ``spot=True`` turns ``"queue"`` into ``"queue-spot"``. Raises ValidationError for an unknown
    preset or inconsistent bounds.
    """
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in PRESETS:
        raise ValidationError(
            "autoscale", f"{name!r} is neither a preset nor a formula",
            fix=f"{did_you_mean(str(name), PRESETS, n=1)}use one of {', '.join(repr(p) for p in PRESETS)}, or a formula that assigns "
                "$TargetDedicatedNodes / $TargetLowPriorityNodes")
    max_nodes = check_int(max_nodes, field="autoscale_max_nodes", minimum=1)
    min_nodes = check_int(min_nodes, field="autoscale_min_nodes", minimum=0)
    task_slots_per_node = check_int(task_slots_per_node, field="task_slots_per_node", minimum=1, maximum=256)
    if min_nodes > max_nodes:
        raise ValidationError("autoscale_min_nodes", f"{min_nodes} is above autoscale_max_nodes={max_nodes}",
                              fix="make autoscale_min_nodes <= autoscale_max_nodes")
    if key == "queue" and spot:
        key = "queue-spot"

    lines = _demand(task_slots_per_node)
    if key == "queue":
        lines += [
            f"$TargetDedicatedNodes = max({min_nodes}, min({max_nodes}, $demand))",
            "$TargetLowPriorityNodes = 0",
        ]
    elif key == "queue-spot":
        lines += [
            "$TargetDedicatedNodes = 0",
            f"$TargetLowPriorityNodes = max({min_nodes}, min({max_nodes}, $demand))",
        ]
    else:  # queue-mixed
        lines += [
            f"$TargetDedicatedNodes = {min_nodes}",
            f"$TargetLowPriorityNodes = max(0, min({max_nodes - min_nodes}, $demand - {min_nodes}))",
        ]
    # Let running tasks finish before a node is removed: shrinking must not kill work.
    lines.append("$NodeDeallocationOption = taskcompletion")
    return ";\n".join(lines) + ";"

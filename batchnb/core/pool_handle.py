"""``PoolHandle``: a live view of one pool, found again by id after a kernel restart."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from azure.batch import models as batch_models

from batchnb.core.handle_base import _Handle, state_text
from batchnb.core.specs.sampler_start_task import SAMPLER_FILE_NAME
from batchnb.core.transport import Deadline, as_rows, call
from batchnb.data.frames import NODE_SELECT_FIELDS, nodes_frame
from batchnb.errors import BatchnbError, NotFoundError, ids_preview

if TYPE_CHECKING:
    import pandas as pd

    from batchnb.core.session import Session

__all__ = ["PoolHandle"]

# Node states in which a node will not change on its own any time soon: waiting for these is
# what "the pool is ready" means to a user (a failed start task must not hang a wait).
_SETTLED_NODE_STATES = frozenset({"idle", "running", "starttaskfailed", "unusable", "offline", "preempted",
                                  "deallocated"})


class PoolHandle(_Handle[batch_models.BatchPool]):
    """A pool by id. Holds no state but the last ``refresh()``; every method asks the service."""

    # Kept to keep ``pool_id`` as the keyword name callers know.
    def __init__(self, session: Session, pool_id: str, info: batch_models.BatchPool | None = None) -> None:
        super().__init__(session, pool_id, info)

    # ------------------------------------------------------------------------------- reading
    def _fetch(self) -> batch_models.BatchPool:
        return self.session.get_pool(self.id)

    @property
    def state(self) -> str | None:
        """``active`` or ``deleting`` (refreshed on each access)."""
        return self._fresh_state("state")

    @property
    def allocation_state(self) -> str | None:
        """``steady``, ``resizing`` or ``stopping`` (refreshed on each access)."""
        return self._fresh_state("allocation_state")

    @property
    def has_metrics(self) -> bool:
        """Whether the pool's start task runs batchnb's utilization sampler (``PoolSpec(metrics=True)``).

        A monitor reads node utilization only then: on other pools every read is a 404."""
        start_task = getattr(self.info, "start_task", None)
        return SAMPLER_FILE_NAME in str(getattr(start_task, "command_line", None) or "")

    def monitor(self, *, interval: float = 5.0, metrics: bool | None = None):
        """A live view of the pool: node heatmap, utilization from the node sampler, resize control.

        ``metrics``: read the sampler's utilization (default: when the pool runs the sampler)."""
        from batchnb.views.widgets import monitor_pool

        return monitor_pool(self, interval=interval, metrics=self.has_metrics if metrics is None else metrics)

    def nodes(self) -> pd.DataFrame:
        """The pool's compute nodes as a typed DataFrame indexed by node id (see batchnb.data.frames)."""
        client = self.session.batch_client
        rows = call(f"list the nodes of pool {self.id!r}",
                    lambda: as_rows(client.list_nodes(self.id, select=list(NODE_SELECT_FIELDS))))
        return nodes_frame(rows)

    # ------------------------------------------------------------------------------- changing
    def resize(self, *, dedicated_nodes: int | None = None, spot_nodes: int | None = None,
               wait: bool = False, timeout: float = 900) -> PoolHandle:
        """Change the node counts (see :meth:`Session.resize_pool`)."""
        self.session.resize_pool(self.id, dedicated_nodes=dedicated_nodes, spot_nodes=spot_nodes,
                                 wait=wait, timeout=timeout)
        return self

    def delete(self, *, wait: bool = False, timeout: float = 900) -> None:
        """Delete the pool (its nodes go away; running tasks are requeued)."""
        self.session.delete_pool(self.id, wait=wait, timeout=timeout)

    def wait_steady(self, *, timeout: float = 900, poll: float = 5.0, nodes_ready: bool = True) -> PoolHandle:
        """Wait until the pool stops resizing, and (``nodes_ready``) until every node has settled
        (idle, running, or failed its start task). Raises BatchTimeoutError at ``timeout`` seconds,
        and BatchnbError with the service's reason if the resize failed (quota, image...)."""
        deadline = Deadline(timeout, poll=poll)
        while True:
            info = self.refresh().info
            if state_text(info.allocation_state) == "steady":
                if info.resize_errors:
                    errors = "; ".join(f"{e.code}: {e.message}" for e in info.resize_errors)
                    raise BatchnbError(f"Pool {self.id!r} stopped resizing with errors: {errors}",
                                       code=info.resize_errors[0].code or "ResizeError",
                                       fix="check quotas and the pool's vm size and image, then resize again")
                if not nodes_ready:
                    return self
                settled, failed = self._nodes_settled(info)
                if failed:
                    raise self._start_task_error(failed)
                if settled:
                    return self
            if deadline.expired():
                raise deadline.timeout_error(
                    f"pool {self.id!r} to be steady with its nodes ready",
                    fix="wait again with a longer timeout, or look at pool.nodes() for nodes stuck starting")
            deadline.sleep()

    def _nodes_settled(self, info: batch_models.BatchPool) -> tuple[bool, list[Any]]:
        """(every node settled, the nodes whose start task failed)."""
        target = (info.current_dedicated_nodes or 0) + (info.current_low_priority_nodes or 0)
        client = self.session.batch_client
        nodes = call(f"list the nodes of pool {self.id!r}",
                     lambda: list(client.list_nodes(self.id, select=["id", "state", "startTaskInfo"])))
        states = [state_text(n.state) for n in nodes]
        failed = [n for n in nodes if state_text(n.state) == "starttaskfailed"]
        return len(states) >= target and all(s in _SETTLED_NODE_STATES for s in states), failed

    def _start_task_error(self, failed: list[Any]) -> BatchnbError:
        # A node whose start task failed never runs tasks (wait_for_success): waiting on would be a
        # hang, and returning would leave the user wondering why nothing runs.
        first = failed[0]
        sti = getattr(first, "start_task_info", None)
        exit_code = getattr(sti, "exit_code", None)
        failure = getattr(getattr(sti, "failure_info", None), "message", None)
        detail = f"exit code {exit_code}" if exit_code is not None else "no exit code"
        if failure:
            detail += f", {failure}"
        ids = ids_preview([n.id for n in failed])
        return BatchnbError(
            f"Pool {self.id!r}: the start task failed on {len(failed)} node(s) ({ids}; state starttaskfailed, "
            f"first: {detail})", code="StartTaskFailed",
            fix="read the start task's output with pool.start_task_output(node_id), fix the start task "
                "and recreate the pool (or reboot the nodes)")

    def start_task_output(self, node_id: str, *, stream: str = "stderr", tail: int | None = 4096) -> str:
        """The end of a node's start task ``stderr`` (or ``stdout``): why a start task failed."""
        client = self.session.batch_client
        path = f"startup/{stream}.txt"
        data = call(f"read {path!r} of node {node_id!r} in pool {self.id!r}",
                    lambda: b"".join(client.download_node_file(self.id, node_id, path)))
        text = data.decode("utf-8", errors="replace")
        return text[-tail:] if tail else text

    def exists(self) -> bool:
        try:
            self.refresh()
        except NotFoundError:
            return False
        return True

    # ------------------------------------------------------------------------------- display
    def __repr__(self) -> str:
        if self._info is None:
            return f"PoolHandle({self.id!r})"
        i = self._info
        return (f"PoolHandle({self.id!r}, state={state_text(i.state)!r}, "
                f"allocation={state_text(i.allocation_state)!r}, vm_size={i.vm_size!r}, "
                f"dedicated={i.current_dedicated_nodes}/{i.target_dedicated_nodes}, "
                f"spot={i.current_low_priority_nodes}/{i.target_low_priority_nodes})")

"""``PoolHandle``: a live view of one pool, found again by id after a kernel restart."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from azure.batch import models as batch_models

from batchnb.core.docstrings import fill_doc
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
# "unusable" is not settled: such a node runs no task (Azure may recover it, or never), so a pool
# with one is not ready; wait_steady keeps waiting and its timeout names the unusable nodes.
_SETTLED_NODE_STATES = frozenset({"idle", "running", "starttaskfailed", "offline", "preempted", "deallocated"})


@fill_doc(kind="pool", model="BatchPool")
class PoolHandle(_Handle[batch_models.BatchPool]):
    """A pool by id. Holds no state but the last ``refresh()``; every method asks the service.

    Get one from :meth:`Session.create_pool` or :meth:`Session.pool`.

    %(handle_params)s
    """

    _kind = "pool"

    def __init__(self, session: Session, pool_id: str, info: batch_models.BatchPool | None = None) -> None:
        super().__init__(session, pool_id, info)

    # ------------------------------------------------------------------------------- reading
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

        Parameters
        ----------
        interval : float
            Seconds between refreshes.
        metrics : bool, optional
            Show CPU/memory/disk from the node sampler (default: when the pool runs the sampler,
            see :attr:`has_metrics`).

        Returns
        -------
        PoolMonitor
            The widget; the cell returns at once and the view keeps updating.
        """
        from batchnb.views.widgets import monitor_pool

        return monitor_pool(self, interval=interval, metrics=self.has_metrics if metrics is None else metrics)

    def nodes(self) -> pd.DataFrame:
        """The pool's compute nodes.

        Returns
        -------
        pandas.DataFrame
            One row per node, indexed by node id: state, scheduling state, IP address, running
            task count and times (typed columns, see ``batchnb.data.frames``).
        """
        client = self.session.batch_client
        rows = call(f"list the nodes of pool {self.id!r}",
                    lambda: as_rows(client.list_nodes(self.id, select=list(NODE_SELECT_FIELDS))))
        return nodes_frame(rows)

    # ------------------------------------------------------------------------------- changing
    @fill_doc(until="the pool is steady again with its nodes ready")
    def resize(self, *, dedicated_nodes: int | None = None, spot_nodes: int | None = None,
               wait: bool = False, timeout: float = 900) -> PoolHandle:
        """Change the node counts (see :meth:`Session.resize_pool`).

        Parameters
        ----------
        dedicated_nodes, spot_nodes : int, optional
            The new targets; None keeps a count as it is.
        %(wait_params)s

        Returns
        -------
        PoolHandle
            This handle.
        """
        self.session.resize_pool(self.id, dedicated_nodes=dedicated_nodes, spot_nodes=spot_nodes,
                                 wait=wait, timeout=timeout)
        return self

    def wait_steady(self, *, timeout: float = 900, poll: float = 5.0, nodes_ready: bool = True) -> PoolHandle:
        """Wait until the pool stops resizing and (``nodes_ready``) every node has settled.

        A node has settled when it is idle or running, or will not change on its own
        (start task failed, offline, preempted...); an ``unusable`` node is not ready.

        Parameters
        ----------
        timeout : float
            Seconds to wait.
        poll : float
            Seconds between checks.
        nodes_ready : bool
            Also wait for the nodes, not only for the resize.

        Returns
        -------
        PoolHandle
            This handle, refreshed.

        Raises
        ------
        batchnb.errors.BatchTimeoutError
            Not steady within ``timeout`` seconds (the message names unusable nodes).
        batchnb.errors.BatchnbError
            The resize failed (quota, a size that cannot boot the image...; the service's
            code), or a node's start task failed (code ``StartTaskFailed``).
        """
        deadline = Deadline(timeout, poll=poll)
        unusable: list[str] = []
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
                settled, failed, unusable = self._nodes_settled(info)
                if failed:
                    raise self._start_task_error(failed)
                if settled:
                    return self
            if deadline.expired():
                if unusable:
                    raise deadline.timeout_error(
                        f"pool {self.id!r} to be ready: {len(unusable)} node(s) are unusable and run no task "
                        f"({ids_preview(unusable)})",
                        fix="wait again (Azure may recover them), or resize the pool to 0 and back to replace them")
                raise deadline.timeout_error(
                    f"pool {self.id!r} to be steady with its nodes ready",
                    fix="wait again with a longer timeout, or look at pool.nodes() for nodes stuck starting")
            deadline.sleep()

    def _nodes_settled(self, info: batch_models.BatchPool) -> tuple[bool, list[Any], list[str]]:
        """(every node settled, the nodes whose start task failed, the ids of unusable nodes)."""
        target = (info.current_dedicated_nodes or 0) + (info.current_low_priority_nodes or 0)
        client = self.session.batch_client
        nodes = call(f"list the nodes of pool {self.id!r}",
                     lambda: list(client.list_nodes(self.id, select=["id", "state", "startTaskInfo"])))
        states = [state_text(n.state) for n in nodes]
        failed = [n for n in nodes if state_text(n.state) == "starttaskfailed"]
        unusable = [n.id for n in nodes if state_text(n.state) == "unusable"]
        return len(states) >= target and all(s in _SETTLED_NODE_STATES for s in states), failed, unusable

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
        try:
            # An environment install (PoolSpec(python_env=)) names its node and packages on one line.
            stderr = self.start_task_output(first.id, tail=8192)
            detail += "".join(f"; {line[:600]}" for line in stderr.splitlines() if line.startswith("batchnb:"))[:700]
        except BatchnbError:
            pass
        ids = ids_preview([n.id for n in failed])
        return BatchnbError(
            f"Pool {self.id!r}: the start task failed on {len(failed)} node(s) ({ids}; state starttaskfailed, "
            f"first: {detail})", code="StartTaskFailed",
            fix="read the start task's output with pool.start_task_output(node_id), fix the start task "
                "and recreate the pool (or reboot the nodes)")

    @fill_doc(missing="No such node, or its start task has not written the file")
    def start_task_output(self, node_id: str, *, stream: str = "stderr", tail: int | None = 4096) -> str:
        """The end of a node's start task output: why a start task failed.

        Parameters
        ----------
        node_id : str
            The node's id (``pool.nodes()`` lists them).
        stream : {"stderr", "stdout"}
            Which output.
        tail : int, optional
            Only the last ``tail`` characters (None: all).

        %(text_returns)s
        """
        client = self.session.batch_client
        path = f"startup/{stream}.txt"
        data = call(f"read {path!r} of node {node_id!r} in pool {self.id!r}",
                    lambda: b"".join(client.download_node_file(self.id, node_id, path)))
        text = data.decode("utf-8", errors="replace")
        return text[-tail:] if tail else text

    def list_environment_installs(self) -> list[dict[str, Any]]:
        """Every ``batchnb.Environment`` install on the pool's nodes, oldest first per node.

        Read from each node's ``shared/batchnb/installs.jsonl`` through the node file API; a node
        that never installed one contributes nothing.

        Returns
        -------
        list of dict
            One dict per install with ``node``, ``key``, ``python``, ``packages`` (how many),
            ``seconds`` and ``time``.
        """
        client = self.session.batch_client
        nodes = call(f"list the nodes of pool {self.id!r}", lambda: list(client.list_nodes(self.id, select=["id"])))
        installs: list[dict[str, Any]] = []
        for node in nodes:
            try:
                data = call(f"read the installs of node {node.id!r}", lambda n=node.id: b"".join(
                    client.download_node_file(self.id, n, "shared/batchnb/installs.jsonl")))
            except NotFoundError:
                continue
            for line in data.decode("utf-8", errors="replace").splitlines():
                try:
                    installs.append(json.loads(line))
                except ValueError:
                    continue  # a line being written
        return installs

    def exists(self) -> bool:
        """Whether the pool exists now (it refreshes :attr:`info` when it does).

        Returns
        -------
        bool
            False when the service answers "not found".
        """
        try:
            self.refresh()
        except NotFoundError:
            return False
        return True

    # ------------------------------------------------------------------------------- cost
    @fill_doc
    def cost(self, *, since: datetime | None = None, region: str | None = None,
             currency: str = "USD") -> pd.DataFrame:
        """What the pool's nodes cost, busy against idle. Nodes that left are counted from ``/poolusagemetrics``.

        Parameters
        ----------
        since : datetime.datetime, optional
            Start of the period (default: the pool's creation).
        %(price_params)s

        Returns
        -------
        pandas.DataFrame
            Node-hours by priority (dedicated, spot, departed nodes), busy against idle,
            core-hours and cost; totals and an autoscale hint in ``.attrs["summary"]``.
        """
        from batchnb.core.cost.pool_cost import pool_cost

        return pool_cost(self.session, self.id, since=since, region=region, prices={"currency": currency})

    # ------------------------------------------------------------------------------- display
    def __repr__(self) -> str:
        if self._info is None:
            return f"PoolHandle({self.id!r})"
        i = self._info
        return (f"PoolHandle({self.id!r}, state={state_text(i.state)!r}, "
                f"allocation={state_text(i.allocation_state)!r}, vm_size={i.vm_size!r}, "
                f"dedicated={i.current_dedicated_nodes}/{i.target_dedicated_nodes}, "
                f"spot={i.current_low_priority_nodes}/{i.target_low_priority_nodes})")

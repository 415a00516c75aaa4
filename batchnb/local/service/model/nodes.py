"""Compute nodes: allocation, boot and start task, reboot/reimage, scheduling state, removal,
preemption, and the node file API."""

from __future__ import annotations

import asyncio
import shutil

from batchnb.local.service.model import clock
from batchnb.local.service.model.autoscale import DEALLOCATION_OPTIONS
from batchnb.local.service.model.entities import Node, Pool
from batchnb.local.service.model.errors import ServiceError, conflict, find
from batchnb.local.service.model.validate import check_enum, check_object, check_time, require
from batchnb.local.service.node_layout import agent_log_path, append_agent_log, create_node_layout

AVAILABLE = ("idle", "running")


class NodeOps:
    # ---- lookups ------------------------------------------------------------------------------
    def get_node(self, pool_id: str, node_id: str) -> Node:
        pool = self.get_pool(pool_id)
        return find(pool.nodes, node_id, "NodeNotFound", "node")

    def node_root(self, node: Node):
        return self.nodes_dir / node.pool.key / node.id

    def note_on_node(self, node: Node, message: str, *, when=None) -> None:
        """A line in the node agent's log (what Upload Batch Service Logs uploads)."""
        try:
            append_agent_log(self.node_root(node), message, when=clock.iso(when or clock.now()))
        except OSError:  # a full or vanished disk must not fail the state change it records
            pass

    # ---- service logs -------------------------------------------------------------------------
    async def upload_node_logs(self, pool_id: str, node_id: str, body: dict) -> dict:
        """Upload Batch Service Logs: the node agent's log and the start task's output files that
        have a line in [startTime, endTime] go to ``containerUrl`` under ``<pool>/<node>/<guid>/``.
        The answer counts the files; the upload itself runs afterwards, as on Azure."""
        node = self.get_node(pool_id, node_id)
        body = check_object(body, shape={"containerUrl": str, "startTime": str, "endTime": str,
                                         "identityReference": dict})
        container_url = require(body, "containerUrl")
        start = check_time(body, "startTime", required=True)
        end = check_time(body, "endTime") or clock.now()
        return await self.scheduler.upload_service_logs(node, self.node_root(node), container_url, start, end)

    # ---- allocation ---------------------------------------------------------------------------
    def add_node(self, pool: Pool, *, dedicated: bool) -> Node:
        pool.x["node_counter"] = pool.x.get("node_counter", 0) + 1
        node_id = f"tvmps_{pool.seq:06x}{pool.x['node_counter']:06x}_{'d' if dedicated else 'p'}"
        n = pool.x["node_counter"]
        now = clock.iso(clock.now())
        doc = {
            "id": node_id,
            "url": f"{self.base_url}/pools/{pool.doc['id']}/nodes/{node_id}",
            "state": None,
            "schedulingState": "enabled",
            "allocationTime": now,
            "ipAddress": f"10.0.{(n // 250) % 250}.{4 + n % 250}",
            "affinityId": f"TVM:{node_id}",
            "vmSize": pool.doc["vmSize"],
            "totalTasksRun": 0,
            "totalTasksSucceeded": 0,
            "runningTasksCount": 0,
            "runningTaskSlotsCount": 0,
            "isDedicated": dedicated,
            "endpointConfiguration": {"inboundEndpoints": []},
            "nodeAgentInfo": {"version": "1.11.0 (batchnb local)", "lastUpdateTime": now},
            "virtualMachineInfo": {"imageReference": (pool.doc.get("virtualMachineConfiguration") or {}).get(
                "imageReference")},
        }
        node = Node(key=f"{pool.key}/{node_id}", seq=self.next_seq(), pool=pool, doc=doc, x={"prep": {}})
        pool.nodes[node_id] = node
        self.set_state(node, "creating")
        node.lifecycle = self.spawn(self._boot(node, reimage=True), name=f"boot-{node_id}")
        return node

    async def _boot(self, node: Node, *, reimage: bool) -> None:
        """creating/rebooting -> starting -> (waitingforstarttask) -> idle, running the start task."""
        step = self.config.node_boot_seconds / 2
        root = self.node_root(node)
        await asyncio.sleep(step)
        if reimage and root.exists():
            await self.scheduler.kill_processes_under(root)  # a fresh disk: nothing survives
            await asyncio.to_thread(shutil.rmtree, root, True)
        # Off the event loop: a resize to many nodes must not stall every other request.
        create_node_layout(root)
        node.x["prep"] = {} if reimage else {k: v for k, v in node.x.get("prep", {}).items()
                                             if v.get("state") == "completed" and v.get("result") == "success"}
        self.set_state(node, "starting")
        node.doc.pop("startTaskInfo", None)
        await asyncio.sleep(step)
        node.doc["lastBootTime"] = clock.iso(clock.now())
        start_task = node.pool.doc.get("startTask")
        if start_task:
            node.doc["startTask"] = start_task
            if start_task.get("waitForSuccess", True):
                self.set_state(node, "waitingforstarttask")
                self.flush()
                ok = await self.scheduler.run_start_task(node, start_task)
                if not ok:
                    node.doc["errors"] = [{"code": "StartTaskFailed", "message": "The start task failed; see "
                                           "startTaskInfo and the start task's stderr.txt on the node.",
                                           "errorDetails": []}]
                    self.set_state(node, "starttaskfailed")
                    self.flush()
                    return
            else:
                self.spawn(self.scheduler.run_start_task(node, start_task))
        self.set_state(node, "idle" if node.doc["schedulingState"] == "enabled" else "offline")
        self.flush()
        self.wake()

    def remove_node(self, node: Node, option: str) -> None:
        """leavingpool -> gone, handling running tasks as the deallocation option says."""
        if node.x.get("leaving"):
            return
        node.x["leaving"] = True
        if node.lifecycle and not node.lifecycle.done():
            node.lifecycle.cancel()
        node.doc["schedulingState"] = "disabled"
        if option in ("requeue", "terminate"):
            self.scheduler.evict(node, option)
        self.set_state(node, "leavingpool")
        self.spawn(self._leave(node), name=f"leave-{node.id}")

    async def _leave(self, node: Node) -> None:
        while node.running:  # taskcompletion / retaineddata: let running tasks finish
            await asyncio.sleep(0.05)
        await asyncio.sleep(min(0.2, self.config.node_boot_seconds / 2))
        await self.scheduler.kill_processes_under(self.node_root(node))  # the VM is gone
        await asyncio.to_thread(shutil.rmtree, self.node_root(node), True)
        agent_log_path(self.node_root(node)).unlink(missing_ok=True)  # its logs leave with the VM
        if node.pool.nodes.get(node.id) is node:
            self.record_departed_node(node)  # metered until now; no await before it leaves the pool
        node.pool.nodes.pop(node.id, None)
        self.store.delete("nodes", node.key)
        self._update_current_counts(node.pool)
        self.flush()

    async def wait_nodes_gone(self, pool: Pool) -> None:
        while any(n.x.get("leaving") for n in pool.nodes.values()):
            await asyncio.sleep(0.05)

    def refresh_node_state(self, node: Node) -> None:
        """idle <-> running follows whether job tasks run; disabled scheduling with nothing left -> offline."""
        doc = node.doc
        doc["runningTasksCount"] = len(node.running)
        doc["runningTaskSlotsCount"] = node.used_slots
        if doc["state"] in ("idle", "running", "offline"):
            if node.running:
                self.set_state(node, "running")
            elif doc["schedulingState"] == "disabled":
                self.set_state(node, "offline")
            else:
                self.set_state(node, "idle")
        self.save(node)

    # ---- node operations ----------------------------------------------------------------------
    def _require_available(self, node: Node, what: str) -> None:
        state = node.doc["state"]
        if state not in AVAILABLE + ("offline",):
            code = {"creating": "NodeBeingCreated", "starting": "NodeBeingStarted", "rebooting": "NodeBeingRebooted",
                    "reimaging": "NodeBeingReimaged", "unusable": "NodeStateUnusable"}.get(
                state, "OperationInvalidForCurrentState")
            raise conflict(code, f"The node cannot be {what} in its current state ({state}).")

    def reboot_node(self, pool_id: str, node_id: str, body: dict, *, reimage: bool = False) -> Node:
        node = self.get_node(pool_id, node_id)
        body = check_object(body or {})
        option = check_enum(body, "nodeReimageOption" if reimage else "nodeRebootOption", DEALLOCATION_OPTIONS,
                            "requeue")
        self._require_available(node, "reimaged" if reimage else "rebooted")
        self.scheduler.evict(node, "terminate" if option == "terminate" else "requeue")
        self.set_state(node, "reimaging" if reimage else "rebooting")
        node.lifecycle = self.spawn(self._boot(node, reimage=reimage))
        return node

    def deallocate_node(self, pool_id: str, node_id: str, body: dict) -> Node:
        node = self.get_node(pool_id, node_id)
        option = check_enum(check_object(body or {}), "nodeDeallocateOption", DEALLOCATION_OPTIONS, "requeue")
        self._require_available(node, "deallocated")
        self.scheduler.evict(node, "terminate" if option == "terminate" else "requeue")
        self.set_state(node, "deallocating")

        async def finish():
            await asyncio.sleep(self.config.node_boot_seconds / 2)
            self.set_state(node, "deallocated")
            self.flush()
        node.lifecycle = self.spawn(finish())
        return node

    def start_node(self, pool_id: str, node_id: str) -> Node:
        node = self.get_node(pool_id, node_id)
        if node.doc["state"] != "deallocated":
            raise conflict("OperationInvalidForCurrentState", "Only a deallocated node can be started.")
        self.set_state(node, "starting")
        node.lifecycle = self.spawn(self._boot(node, reimage=False))
        return node

    def disable_scheduling(self, pool_id: str, node_id: str, body: dict) -> Node:
        node = self.get_node(pool_id, node_id)
        option = check_enum(check_object(body or {}), "nodeDisableSchedulingOption",
                            ("requeue", "terminate", "taskcompletion"), "requeue")
        if node.doc["schedulingState"] == "disabled":
            raise conflict("NodeAlreadyInTargetSchedulingState", "The node's scheduling is already disabled.")
        node.doc["schedulingState"] = "disabled"
        if option in ("requeue", "terminate"):
            self.scheduler.evict(node, option)
        self.refresh_node_state(node)
        self.touch(node)
        return node

    def enable_scheduling(self, pool_id: str, node_id: str) -> Node:
        node = self.get_node(pool_id, node_id)
        if node.doc["schedulingState"] == "enabled":
            raise conflict("NodeAlreadyInTargetSchedulingState", "The node's scheduling is already enabled.")
        node.doc["schedulingState"] = "enabled"
        self.refresh_node_state(node)
        self.touch(node)
        self.wake()
        return node

    def remote_login_settings(self, pool_id: str, node_id: str) -> dict:
        node = self.get_node(pool_id, node_id)
        return {"remoteLoginIPAddress": "127.0.0.1", "remoteLoginPort": 50000 + node.seq % 10000}

    # ---- faults on demand ---------------------------------------------------------------------
    def preempt_node(self, pool_id: str, node_id: str, *, recover_after: float = 2.0) -> Node:
        """A spot node is taken away: its running tasks are requeued; it comes back after a while."""
        node = self.get_node(pool_id, node_id)
        if node.doc.get("isDedicated"):
            raise ServiceError(400, "InvalidInput", "Only spot/low-priority nodes can be preempted.")
        if node.lifecycle and not node.lifecycle.done():
            node.lifecycle.cancel()
        self.scheduler.evict(node, "requeue")
        self.set_state(node, "preempted")

        async def come_back():
            await asyncio.sleep(recover_after)
            if node.doc["state"] == "preempted" and not node.x.get("leaving"):
                self.set_state(node, "creating")
                await self._boot(node, reimage=True)
        if recover_after >= 0:
            node.lifecycle = self.spawn(come_back())
        return node

    def make_node_unusable(self, pool_id: str, node_id: str) -> Node:
        node = self.get_node(pool_id, node_id)
        if node.lifecycle and not node.lifecycle.done():
            node.lifecycle.cancel()
        self.scheduler.evict(node, "requeue")
        node.doc["errors"] = [{"code": "NodeUnusable", "message": "The node was made unusable on request "
                                                                  "(fault injection).", "errorDetails": []}]
        self.set_state(node, "unusable")
        return node

    def recover_node(self, node: Node) -> None:
        if node.x.get("leaving"):
            self.spawn(self._leave(node))
            return
        node.running.clear()
        node.used_slots = 0
        node.doc["runningTasksCount"] = 0
        node.doc["runningTaskSlotsCount"] = 0
        if node.doc["state"] in ("starttaskfailed", "unusable", "deallocated"):
            return
        self.set_state(node, "rebooting")
        node.lifecycle = self.spawn(self._boot(node, reimage=False))

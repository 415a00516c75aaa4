"""Pools: create, update, resize, autoscale, delete."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from batchnb.local.service.model import autoscale, clock, shapes, vm_sizes
from batchnb.local.service.model.autoscale import DEALLOCATION_OPTIONS
from batchnb.local.service.model.entities import Pool, job_pool_key
from batchnb.local.service.model.errors import (
    ServiceError,
    bad_value,
    conflict,
    find,
    missing,
    not_emulated,
    not_found,
)
from batchnb.local.service.model.images import check_container_configuration, find_image
from batchnb.local.service.model.packages import check_mounts, check_package_references
from batchnb.local.service.model.quotas import core_quota_error, cores_of, pool_quota_reached
from batchnb.local.service.model.validate import (
    check_duration,
    check_enum,
    check_id,
    check_int,
    check_list,
    check_metadata,
    check_object,
    require,
)

# Nodes added per step of a resize (a step every _ADD_PAUSE_SECONDS): 100 nodes take ~20 ms of the loop.
_ADD_BATCH = 100
_ADD_PAUSE_SECONDS = 0.02
_QUOTA_CODES = {True: "AccountCoreQuotaReached", False: "AccountLowPriorityCoreQuotaReached"}
NODE_COUNT_FIELDS = ("creating", "idle", "offline", "preempted", "rebooting", "reimaging", "running", "starting",
                     "startTaskFailed", "leavingPool", "unknown", "unusable", "waitingForStartTask", "deallocated",
                     "deallocating", "upgradingOS")
_COUNT_FIELD_OF_STATE = {f.lower(): f for f in NODE_COUNT_FIELDS}  # node docs hold states lower-cased


class PoolOps:
    # ---- lookups -----------------------------------------------------------------------------
    def get_pool(self, pool_id: str) -> Pool:
        return find(self.pools, pool_id.lower(), "PoolNotFound", "pool")

    def _live_pool(self, pool_id: str) -> Pool:
        pool = self.get_pool(pool_id)
        if pool.doc["state"] == "deleting":
            raise conflict("PoolBeingDeleted", "The specified pool has been marked for deletion and is being "
                                               "reclaimed.")
        return pool

    def _live_pool_body(self, pool_id: str, body: dict, shape) -> tuple[Pool, dict]:
        """The pool (refusing one being deleted) and the request body checked against ``shape``,
        in the order Azure checks them."""
        return self._live_pool(pool_id), check_object(body, shape=shape)

    # ---- create ------------------------------------------------------------------------------
    def create_pool(self, body: dict) -> Pool:
        body = check_object(body, shape=shapes.POOL_CREATE)
        pool_id = check_id(body.get("id"))
        if pool_id.lower() in self.pools:
            raise conflict("PoolExists", "The specified pool already exists.")
        if len(self.pools) >= self.config.quotas.pools:
            raise pool_quota_reached(self.config.quotas.pools)
        require(body, "vmSize")
        vmc = body.get("virtualMachineConfiguration")
        if vmc is None:
            raise missing("virtualMachineConfiguration")
        check_object(vmc, "virtualMachineConfiguration")
        image = find_image(vmc)
        check_container_configuration(vmc, image)
        if body.get("certificateReferences"):
            raise not_emulated("Certificates", "Pass secrets to tasks through environment settings or Key Vault "
                                               "(as Azure recommends since certificates were retired).")
        slots = check_int(body, "taskSlotsPerNode", 1, 256) or 1
        vm_sizes.check_task_slots(body["vmSize"], slots)
        check_duration(body, "resizeTimeout", minimum_s=300)
        check_metadata(body)
        check_list(body, "applicationPackageReferences")
        check_mounts(body.get("mountConfiguration"))
        if len(body.get("applicationPackageReferences") or []) > 10:
            raise bad_value("applicationPackageReferences", "...", "At most 10 application packages per pool.")
        check_package_references(body.get("applicationPackageReferences"))
        policy = body.get("taskSchedulingPolicy") or {}
        fill = check_enum(policy, "nodeFillType", ("spread", "pack"), "spread")
        autoscale_on = bool(body.get("enableAutoScale"))
        dedicated = check_int(body, "targetDedicatedNodes", 0, 10000)
        low = check_int(body, "targetLowPriorityNodes", 0, 10000)
        if autoscale_on:
            if dedicated or low:
                raise bad_value("targetDedicatedNodes", dedicated, "Target node counts cannot be specified when "
                                "autoscale is enabled.", "InvalidAutoScalingSettings")
            formula = body.get("autoScaleFormula")
            if not formula:
                raise missing("autoScaleFormula")
            self._check_formula(formula)
            check_duration(body, "autoScaleEvaluationInterval", minimum_s=300, maximum_s=168 * 3600)
        elif body.get("autoScaleFormula"):
            raise bad_value("autoScaleFormula", "...", "A formula can only be given when enableAutoScale is true.",
                            "InvalidAutoScalingSettings")
        start_task = body.get("startTask")
        if start_task is not None:
            check_object(start_task, "startTask")
            require(start_task, "commandLine")
            check_int(start_task, "maxTaskRetryCount", 0, 100, allow=(-1,))
        now = clock.iso(clock.now())
        doc = {
            "id": pool_id,
            "displayName": body.get("displayName"),
            "url": f"{self.base_url}/pools/{pool_id}",
            "creationTime": now,
            "state": None,
            "allocationState": None,
            "vmSize": body["vmSize"].lower(),
            "virtualMachineConfiguration": vmc,
            "resizeTimeout": body.get("resizeTimeout", "PT15M"),
            "currentDedicatedNodes": 0,
            "currentLowPriorityNodes": 0,
            "targetDedicatedNodes": dedicated or 0,
            "targetLowPriorityNodes": low or 0,
            "enableAutoScale": autoscale_on,
            "enableInterNodeCommunication": bool(body.get("enableInterNodeCommunication", False)),
            "taskSlotsPerNode": slots,
            "taskSchedulingPolicy": {"nodeFillType": fill, "jobDefaultOrder": (policy.get("jobDefaultOrder")
                                                                               or "none")},
        }
        for optional in ("startTask", "applicationPackageReferences", "metadata", "networkConfiguration",
                         "mountConfiguration", "upgradePolicy", "userAccounts", "identity"):
            if body.get(optional) is not None:
                doc[optional] = body[optional]
        if doc.get("userAccounts"):  # passwords are never returned
            doc["userAccounts"] = [{k: v for k, v in u.items() if k != "password"} for u in doc["userAccounts"]]
        if autoscale_on:
            doc["autoScaleFormula"] = body["autoScaleFormula"]
            doc["autoScaleEvaluationInterval"] = body.get("autoScaleEvaluationInterval", "PT15M")
        doc = {k: v for k, v in doc.items() if v is not None or k in ("state", "allocationState")}
        pool = Pool(key=pool_id.lower(), seq=self.next_seq(), doc=doc, x={"node_counter": 0})
        allocation_error = vm_sizes.allocation_error(body["vmSize"], image)
        if allocation_error:  # created, as on Azure; its resizes then end in this error
            pool.x["allocation_error"] = allocation_error
        self.pools[pool.key] = pool
        self.set_state(pool, "active")
        self.set_state(pool, "steady", field="allocationState")
        if autoscale_on:
            self._evaluate_autoscale(pool, apply=True)
        else:
            self._resize(pool, dedicated or 0, low or 0, "requeue")
        return pool

    # ---- updates -----------------------------------------------------------------------------
    def patch_pool(self, pool_id: str, body: dict) -> Pool:
        pool, body = self._live_pool_body(pool_id, body, shapes.POOL_UPDATE)
        check_metadata(body)
        check_package_references(body.get("applicationPackageReferences"))
        has_nodes = bool(pool.nodes)
        for prop in ("startTask", "applicationPackageReferences", "metadata"):
            if prop in body and body[prop] is not None:
                pool.doc[prop] = body[prop]
        for prop in ("displayName", "vmSize", "taskSlotsPerNode", "taskSchedulingPolicy", "virtualMachineConfiguration",
                     "networkConfiguration", "userAccounts", "mountConfiguration", "upgradePolicy",
                     "enableInterNodeCommunication"):
            if prop in body and body[prop] is not None:
                if has_nodes and prop != "displayName":
                    raise conflict("OperationInvalidForCurrentState",
                                   f"{prop} can be changed only while the pool has no nodes.")
                if prop == "taskSlotsPerNode":
                    check_int(body, prop, 1, 256)
                if prop == "virtualMachineConfiguration":
                    check_container_configuration(body[prop], find_image(check_object(body[prop], prop)))
                pool.doc[prop] = body[prop]
        self.touch(pool)
        return pool

    def replace_pool_properties(self, pool_id: str, body: dict) -> Pool:
        pool, body = self._live_pool_body(pool_id, body, shapes.POOL_UPDATE)
        if body.get("applicationPackageReferences") is None:
            raise missing("applicationPackageReferences")
        if body.get("metadata") is None:
            raise missing("metadata")
        check_metadata(body)
        check_package_references(body.get("applicationPackageReferences"))
        for prop in ("startTask", "applicationPackageReferences", "metadata"):
            if body.get(prop) is None:
                pool.doc.pop(prop, None)  # a full replace: omitted start task is removed
            else:
                pool.doc[prop] = body[prop]
        self.touch(pool)
        return pool

    def delete_pool(self, pool_id: str) -> None:
        pool = self._live_pool(pool_id)
        self.set_state(pool, "deleting")
        pool.doc["targetDedicatedNodes"] = 0
        pool.doc["targetLowPriorityNodes"] = 0
        self.set_state(pool, "resizing", field="allocationState")
        self.spawn(self._finish_pool_delete(pool), name=f"delete-pool-{pool.key}")

    async def _finish_pool_delete(self, pool: Pool) -> None:
        for node in list(pool.nodes.values()):
            self.remove_node(node, "requeue")
        await self.wait_nodes_gone(pool)
        self.pools.pop(pool.key, None)
        self.store.delete("pools", pool.key)
        self.flush()
        self.wake()

    # ---- resize --------------------------------------------------------------------------------
    def resize_pool(self, pool_id: str, body: dict) -> Pool:
        pool, body = self._live_pool_body(pool_id, body, shapes.POOL_RESIZE)
        if pool.doc.get("enableAutoScale"):
            raise conflict("OperationInvalidForCurrentState", "A pool with autoscale enabled cannot be resized "
                                                              "manually.")
        if pool.doc["allocationState"] != "steady":
            raise conflict("PoolBeingResized", "The specified pool is currently being resized.")
        dedicated = check_int(body, "targetDedicatedNodes", 0, 10000)
        low = check_int(body, "targetLowPriorityNodes", 0, 10000)
        check_duration(body, "resizeTimeout", minimum_s=300)
        option = check_enum(body, "nodeDeallocationOption", DEALLOCATION_OPTIONS, "requeue")
        if dedicated is None and low is None:
            raise missing("targetDedicatedNodes")
        self._resize(pool, pool.doc["targetDedicatedNodes"] if dedicated is None else dedicated,
                     pool.doc["targetLowPriorityNodes"] if low is None else low, option)
        return pool

    def _resize(self, pool: Pool, dedicated: int, low: int, option: str) -> None:
        pool.doc["targetDedicatedNodes"] = dedicated
        pool.doc["targetLowPriorityNodes"] = low
        pool.doc.pop("resizeErrors", None)
        pool.x.pop("quota_errors", None)
        self.set_state(pool, "resizing", field="allocationState")
        self.touch(pool)
        self._reconcile_nodes(pool, option)

    def _reconcile_nodes(self, pool: Pool, option: str) -> None:
        """Add or remove nodes until the pool matches its targets, then go steady.

        Removals happen at once; additions beyond the first _ADD_BATCH happen in the settle step,
        a batch at a time, so that a resize to thousands of nodes never holds the event loop."""
        staying = _staying_nodes(pool)
        for dedicated, target in ((True, pool.doc["targetDedicatedNodes"]), (False, pool.doc["targetLowPriorityNodes"])):
            members = [n for n in staying if n.doc.get("isDedicated") == dedicated]
            if len(members) < target and pool.x.get("allocation_error"):
                pool.doc["resizeErrors"] = [pool.x["allocation_error"]]  # no node of this size boots the image
            elif len(members) > target:
                # Give back idle nodes first, then the least busy ones.
                order = sorted(members, key=lambda n: (n.doc["state"] not in ("idle", "creating", "starting"),
                                                       n.used_slots, -n.seq))
                for node in order[: len(members) - target]:
                    self.remove_node(node, option)
        self._grow(pool)
        self._update_current_counts(pool)
        self._settle_soon(pool)

    def _grow(self, pool: Pool) -> bool:
        """Add up to _ADD_BATCH of the nodes the pool lacks, within the core quota; True if more
        still fit and are missing. A shortfall the quota causes is kept for ``resizeErrors``."""
        if pool.x.get("allocation_error"):
            return False  # no node of this size boots the image: the resize ends in that error
        budget = _ADD_BATCH
        more = False
        staying = _staying_nodes(pool)
        for dedicated, target in ((True, pool.doc["targetDedicatedNodes"]), (False, pool.doc["targetLowPriorityNodes"])):
            have = sum(1 for n in staying if bool(n.doc.get("isDedicated")) == dedicated)
            if have >= target:
                continue
            fits = self._nodes_within_quota(pool, dedicated, target - have)
            if fits < target - have:
                quota = self.config.quotas.dedicated_cores if dedicated else self.config.quotas.low_priority_cores
                errors = [e for e in pool.x.get("quota_errors", []) if e["code"] != _QUOTA_CODES[dedicated]]
                errors.append(core_quota_error(dedicated, quota=quota, cores=cores_of(pool.doc["vmSize"]),
                                               asked=target, granted=have + fits))
                pool.x["quota_errors"] = sorted(errors, key=lambda e: e["code"])
            now = min(fits, budget)
            for _ in range(now):
                self.add_node(pool, dedicated=dedicated)
            budget -= now
            more = more or fits > now
        return more

    def _nodes_within_quota(self, pool: Pool, dedicated: bool, wanted: int) -> int:
        """How many of ``wanted`` new nodes the account's core quota still allows."""
        quota = self.config.quotas.dedicated_cores if dedicated else self.config.quotas.low_priority_cores
        used = sum(cores_of(p.doc["vmSize"]) for p in self.pools.values() for n in _staying_nodes(p)
                   if bool(n.doc.get("isDedicated")) == dedicated)
        return max(0, min(wanted, (quota - used) // cores_of(pool.doc["vmSize"])))

    def _settle_soon(self, pool: Pool) -> None:
        """Go steady once leaving nodes are gone; one settle step per pool at a time."""
        if pool.resize_task is None or pool.resize_task.done():
            pool.resize_task = self.spawn(self._settle(pool), name=f"settle-{pool.key}")

    async def _settle(self, pool: Pool) -> None:
        def growing() -> bool:
            return (pool.doc.get("allocationState") == "resizing" and pool.doc["state"] != "deleting"
                    and self._grow(pool))

        while True:
            while growing():
                self._update_current_counts(pool)
                self.flush()
                await asyncio.sleep(_ADD_PAUSE_SECONDS)
            self._update_current_counts(pool)
            await self.wait_nodes_gone(pool)
            if not growing():  # a resize that came while nodes were leaving may want more
                break
        if pool.doc.get("allocationState") in ("resizing", "stopping") and pool.doc["state"] != "deleting":
            if pool.doc["allocationState"] == "stopping":
                pool.doc["resizeErrors"] = [{"code": "ResizeStopped", "message": "The resize operation was "
                                                                                 "stopped by the user."}]
            elif pool.x.get("quota_errors"):
                pool.doc["resizeErrors"] = pool.x.pop("quota_errors")
            self.set_state(pool, "steady", field="allocationState")
            self.flush()

    def _update_current_counts(self, pool: Pool) -> None:
        pool.doc["currentDedicatedNodes"], pool.doc["currentLowPriorityNodes"] = _count_staying(pool)
        self.save(pool)

    def stop_resize_pool(self, pool_id: str) -> Pool:
        pool = self._live_pool(pool_id)
        if pool.doc["allocationState"] == "resizing":
            self.set_state(pool, "stopping", field="allocationState")
            # Keep the nodes the pool has now; new ones still creating are kept too (they were obtained).
            pool.doc["targetDedicatedNodes"], pool.doc["targetLowPriorityNodes"] = _count_staying(pool)
            self.touch(pool)
            self._settle_soon(pool)
        return pool

    def remove_nodes(self, pool_id: str, body: dict) -> Pool:
        pool, body = self._live_pool_body(pool_id, body, shapes.NODE_REMOVE)
        ids = body.get("nodeList")
        if not ids or not isinstance(ids, list):
            raise missing("nodeList")
        if len(ids) > 100:
            raise bad_value("nodeList", len(ids), "At most 100 nodes can be removed in one request.")
        if pool.doc["allocationState"] != "steady":
            raise conflict("PoolBeingResized", "The specified pool is currently being resized.")
        option = check_enum(body, "nodeDeallocationOption", DEALLOCATION_OPTIONS, "requeue")
        nodes = []
        for node_id in ids:
            node = pool.nodes.get(node_id)
            if node is None:
                raise not_found("NodeNotFound", "node")
            nodes.append(node)
        self.set_state(pool, "resizing", field="allocationState")
        for node in nodes:
            if node.doc.get("isDedicated"):
                pool.doc["targetDedicatedNodes"] = max(0, pool.doc["targetDedicatedNodes"] - 1)
            else:
                pool.doc["targetLowPriorityNodes"] = max(0, pool.doc["targetLowPriorityNodes"] - 1)
            self.remove_node(node, option)
        self._update_current_counts(pool)
        self.touch(pool)
        pool.resize_task = self.spawn(self._settle(pool))
        return pool

    # ---- autoscale ---------------------------------------------------------------------------
    def _check_formula(self, formula: str) -> None:
        if len(formula) > 8192:
            raise ServiceError(400, "AutoScaleFormulaTooLong", "The autoscale formula is longer than 8192 characters.")
        try:
            autoscale.check_syntax(formula)
        except autoscale.AutoScaleSyntaxError as exc:
            raise ServiceError(400, "AutoScalingFormulaSyntaxError", "The specified autoscale formula has a syntax "
                               "error.", {"Message": str(exc)}) from None

    def enable_autoscale(self, pool_id: str, body: dict) -> Pool:
        pool, body = self._live_pool_body(pool_id, body, shapes.AUTOSCALE)
        if pool.doc["allocationState"] != "steady" and not pool.doc.get("enableAutoScale"):
            raise conflict("PoolBeingResized", "Autoscale cannot be enabled while the pool is resizing.")
        formula = body.get("autoScaleFormula") or pool.doc.get("autoScaleFormula")
        if not formula:
            raise missing("autoScaleFormula")
        self._check_formula(formula)
        check_duration(body, "autoScaleEvaluationInterval", minimum_s=300, maximum_s=168 * 3600)
        pool.doc["enableAutoScale"] = True
        pool.doc["autoScaleFormula"] = formula
        pool.doc["autoScaleEvaluationInterval"] = body.get("autoScaleEvaluationInterval") or pool.doc.get(
            "autoScaleEvaluationInterval", "PT15M")
        self.touch(pool)
        self._evaluate_autoscale(pool, apply=True)
        return pool

    def disable_autoscale(self, pool_id: str) -> Pool:
        pool = self._live_pool(pool_id)
        pool.doc["enableAutoScale"] = False
        for prop in ("autoScaleFormula", "autoScaleEvaluationInterval", "autoScaleRun"):
            pool.doc.pop(prop, None)
        self.touch(pool)
        return pool

    def evaluate_autoscale(self, pool_id: str, body: dict) -> dict:
        pool, body = self._live_pool_body(pool_id, body, shapes.AUTOSCALE)
        formula = body.get("autoScaleFormula")
        if not formula:
            raise missing("autoScaleFormula")
        if not pool.doc.get("enableAutoScale"):
            raise conflict("AutoScaleNotEnabled", "Autoscale is not enabled on the pool; enable it before "
                                                  "evaluating a formula.")
        self._check_formula(formula)
        return self._evaluate_autoscale(pool, apply=False, formula=formula)

    def _autoscale_context(self, pool: Pool) -> autoscale.AutoScaleContext:
        history = pool.x["samples"]
        times = [clock.parse_iso(t) for t, _, _ in history]
        active = autoscale.Samples(values=[(t, float(a)) for t, (_, a, _) in zip(times, history)])
        running = autoscale.Samples(values=[(t, float(r)) for t, (_, _, r) in zip(times, history)])
        pending = autoscale.Samples(values=[(t, float(a + r)) for t, (_, a, r) in zip(times, history)])
        return autoscale.AutoScaleContext(
            now=clock.now(), pending=pending, active=active, running=running,
            current_dedicated=pool.doc["currentDedicatedNodes"], current_low_priority=pool.doc["currentLowPriorityNodes"],
            target_dedicated=pool.doc["targetDedicatedNodes"], target_low_priority=pool.doc["targetLowPriorityNodes"])

    def sample_pool(self, pool: Pool) -> None:
        """Record active/running task counts for the pool's jobs (the autoscale sample series)."""
        active = running = 0
        for job in self.jobs.values():
            if job_pool_key(job) == pool.key and job.doc["state"] == "active":
                active += job.counts["active"]
                running += job.counts["running"]
        history = pool.x.setdefault("samples", [])
        history.append((clock.iso(clock.now()), active, running))
        cutoff = clock.iso(clock.now() - timedelta(hours=1))
        while history and history[0][0] < cutoff:
            history.pop(0)

    def _evaluate_autoscale(self, pool: Pool, *, apply: bool, formula: str | None = None,
                            sampled: bool = False) -> dict:
        """``sampled``: the caller has just recorded this moment's sample (the tick), so none is added."""
        if not sampled:
            self.sample_pool(pool)
        # A formula may ask for any number (clamped to MAX_TARGET_NODES); the core quota decides how many come.
        outcome = autoscale.evaluate(formula or pool.doc["autoScaleFormula"], self._autoscale_context(pool))
        run = {"timestamp": clock.iso(clock.now()), "results": outcome.results}
        if outcome.error:
            run["error"] = outcome.error
        if apply:
            pool.doc["autoScaleRun"] = run
            pool.x["last_autoscale"] = clock.now().timestamp()
            if not outcome.error and (outcome.target_dedicated != pool.doc["targetDedicatedNodes"]
                                      or outcome.target_low_priority != pool.doc["targetLowPriorityNodes"]):
                self._resize(pool, outcome.target_dedicated, outcome.target_low_priority,
                             outcome.node_deallocation_option or "requeue")
            self.touch(pool)
        return run

    def autoscale_tick(self, interval_cap_s: float) -> None:
        """Evaluate due autoscale formulas. Locally the evaluation interval is capped (default 10 s)
        so that notebooks see a queue-driven pool react in seconds rather than minutes."""
        now = clock.now().timestamp()
        for pool in list(self.pools.values()):
            if pool.doc["state"] != "active":
                continue
            self.sample_pool(pool)
            if not pool.doc.get("enableAutoScale") or pool.doc["allocationState"] != "steady":
                continue
            interval = clock.parse_duration(pool.doc.get("autoScaleEvaluationInterval")) or timedelta(minutes=15)
            if now - pool.x.get("last_autoscale", 0) >= min(interval.total_seconds(), interval_cap_s):
                self._evaluate_autoscale(pool, apply=True, sampled=True)

    # ---- account-level -------------------------------------------------------------------------
    def node_counts(self) -> list[dict]:
        out = []
        for pool in self.pools.values():
            blocks = {True: {f: 0 for f in NODE_COUNT_FIELDS}, False: {f: 0 for f in NODE_COUNT_FIELDS}}
            for node in pool.nodes.values():
                name = _COUNT_FIELD_OF_STATE.get(node.doc["state"])
                if name is not None:
                    blocks[bool(node.doc.get("isDedicated"))][name] += 1
            for block in blocks.values():
                block["total"] = sum(block[f] for f in NODE_COUNT_FIELDS)
            out.append({"poolId": pool.doc["id"], "dedicated": blocks[True], "lowPriority": blocks[False]})
        return out

    def recover_pool(self, pool: Pool) -> None:
        """After a restart: nodes boot again (their running tasks were requeued by recover_job)."""
        for node in list(pool.nodes.values()):
            self.recover_node(node)
        if pool.doc["state"] == "deleting":
            self.spawn(self._finish_pool_delete(pool))
        elif pool.doc.get("allocationState") != "steady":
            self._reconcile_nodes(pool, "requeue")


def _staying_nodes(pool: Pool) -> list:
    """The pool's nodes that are not leaving it."""
    return [n for n in pool.nodes.values() if not n.x.get("leaving")]


def _count_staying(pool: Pool) -> tuple[int, int]:
    """(dedicated, low-priority) nodes that are not leaving the pool."""
    nodes = _staying_nodes(pool)
    dedicated = sum(1 for n in nodes if n.doc.get("isDedicated"))
    return dedicated, len(nodes) - dedicated

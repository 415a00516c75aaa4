"""Auto pools (poolInfo.autoPoolSpecification): the service creates a pool for a job, or for a job
schedule, and deletes it when its owner ends, unless keepAlive says to keep it (as on Azure)."""

from __future__ import annotations

import copy
import uuid

from batchnb.local.service.model import shapes
from batchnb.local.service.model.entities import Job, JobSchedule
from batchnb.local.service.model.errors import bad_value, missing
from batchnb.local.service.model.images import check_container_configuration, find_image
from batchnb.local.service.model.validate import check_enum, check_object

AUTO_POOL_SPEC = {"autoPoolIdPrefix": str, "poolLifetimeOption": str, "keepAlive": bool, "pool": dict}
MAX_PREFIX = 20
PROP = "poolInfo.autoPoolSpecification"


class AutoPoolOps:
    def check_auto_pool_spec(self, spec, *, schedule: bool) -> None:
        spec = check_object(spec, PROP, AUTO_POOL_SPEC)
        lifetime = check_enum(spec, "poolLifetimeOption", ("job", "jobschedule"))
        if lifetime is None:
            raise missing(f"{PROP}.poolLifetimeOption")
        if lifetime == "jobschedule" and not schedule:
            raise bad_value(f"{PROP}.poolLifetimeOption", spec["poolLifetimeOption"],
                            "jobschedule applies only to a job schedule's jobSpecification; a job uses job.")
        prefix = spec.get("autoPoolIdPrefix") or ""
        if len(prefix) > MAX_PREFIX or any(not (c.isalnum() or c in "-_") for c in prefix):
            raise bad_value(f"{PROP}.autoPoolIdPrefix", prefix, f"At most {MAX_PREFIX} letters, digits, hyphens "
                                                                "or underscores.")
        pool = spec.get("pool")
        if not pool:
            raise missing(f"{PROP}.pool")
        # What would make the pool's creation fail is refused now, before any job or pool exists.
        check_object(pool, f"{PROP}.pool", shapes.POOL_UPDATE)
        if not pool.get("vmSize"):
            raise missing(f"{PROP}.pool.vmSize")
        vmc = pool.get("virtualMachineConfiguration")
        if vmc is None:
            raise missing(f"{PROP}.pool.virtualMachineConfiguration")
        check_container_configuration(vmc, find_image(check_object(vmc, f"{PROP}.pool.virtualMachineConfiguration")))

    def open_auto_pool(self, spec: dict, *, job_id: str, schedule: JobSchedule | None) -> str:
        """The id of the pool a new job runs on: a new auto pool, or its schedule's living one."""
        lifetime = spec["poolLifetimeOption"].lower()
        if lifetime == "jobschedule" and schedule is not None:
            existing = self.pools.get(str(schedule.x.get("auto_pool") or "").lower())
            if existing is not None and existing.doc["state"] == "active":
                return existing.doc["id"]
        prefix = spec.get("autoPoolIdPrefix") or ""
        pool_id = f"{prefix}_{str(uuid.uuid4()).upper()}" if prefix else str(uuid.uuid4()).upper()
        # The spec is kept on the job as sent; the pool gets its own copy (create_pool normalizes it).
        pool = self.create_pool({**copy.deepcopy(spec["pool"]), "id": pool_id})
        owner = f"schedule:{schedule.key}" if lifetime == "jobschedule" and schedule is not None else f"job:{job_id.lower()}"
        pool.x["auto"] = {"owner": owner, "keepAlive": bool(spec.get("keepAlive", False))}
        self.save(pool)
        if schedule is not None and lifetime == "jobschedule":
            schedule.x["auto_pool"] = pool_id
            self.save(schedule)
        return pool_id

    def close_auto_pool(self, owner: str) -> None:
        """The owner (``job:<key>`` or ``schedule:<key>``) ended: delete its auto pools not kept alive."""
        for pool in list(self.pools.values()):
            auto = pool.x.get("auto")
            if auto and auto["owner"] == owner and not auto["keepAlive"] and pool.doc["state"] == "active":
                self.delete_pool(pool.doc["id"])

    def release_job_auto_pool(self, job: Job) -> None:
        self.close_auto_pool(f"job:{job.key}")

"""Account quotas (cores, pools, active jobs) and the errors Azure answers when they are reached.

Cores bound how many nodes a create, resize or autoscale evaluation can bring: without them a
formula such as ``$TargetDedicatedNodes=1000000000;`` made the service create nodes until it ran
out of memory."""

from __future__ import annotations

import re

from batchnb.local.service.model.errors import ServiceError

# The resize API's limit on a target; autoscale results are clamped to it as well.
MAX_TARGET_NODES = 10000
_CORES = re.compile(r"^(?:standard|basic)_[a-z]+?(\d+)")


def cores_of(vm_size: str) -> int:
    """vCPUs of an Azure VM size from its name (``standard_d2s_v3``: 2, ``standard_hb120rs_v3``: 120);
    1 for a name without a count."""
    match = _CORES.match((vm_size or "").lower())
    return max(1, int(match.group(1))) if match else 1


def core_quota_error(dedicated: bool, *, quota: int, cores: int, asked: int, granted: int) -> dict:
    """A pool's ``resizeErrors`` entry when the account's cores ran out."""
    code = "AccountCoreQuotaReached" if dedicated else "AccountLowPriorityCoreQuotaReached"
    kind = "dedicated" if dedicated else "low-priority/spot"
    return {"code": code,
            "message": f"The specified account has reached its {kind} core quota ({quota} cores): "
                       f"{granted} of {asked} nodes of {cores} cores each could be allocated.",
            "values": [{"name": "CoreQuota", "value": str(quota)},
                       {"name": "RequestedNodes", "value": str(asked)},
                       {"name": "AllocatedNodes", "value": str(granted)}]}


def pool_quota_reached(quota: int) -> ServiceError:
    return ServiceError(409, "PoolQuotaReached", f"The specified account has reached its pool quota ({quota} "
                        "pools); delete a pool or ask for a higher quota.", {"PoolQuota": str(quota)})


def job_quota_reached(quota: int) -> ServiceError:
    return ServiceError(409, "ActiveJobAndScheduleQuotaReached", f"The specified account has reached its quota of "
                        f"active jobs and job schedules ({quota}); terminate or delete a job first.",
                        {"ActiveJobAndScheduleQuota": str(quota)})

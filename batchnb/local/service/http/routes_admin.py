"""Admin routes of the local service (not part of the Batch API): health, fault injection,
node faults on demand, and memory/request statistics for benchmarks."""

from __future__ import annotations

import resource

from aiohttp import web

from batchnb._constants import LOCAL_ADMIN_PREFIX
from batchnb.local.service.http.body import read_json
from batchnb.local.service.http.respond import json_response


def register(app: web.Application, svc, faults) -> None:
    r = app.router
    p = LOCAL_ADMIN_PREFIX

    async def health(request):
        return json_response({"status": "ok", "account": svc.config.account_name})

    async def get_faults(request):
        return json_response(faults.describe())

    async def set_faults(request):
        faults.configure(await read_json(request))
        return json_response(faults.describe())

    async def preempt(request):
        body = await read_json(request)
        node = svc.preempt_node(request.match_info["pool"], request.match_info["node"],
                                recover_after=float(body.get("recoverAfter", 2.0)))
        return json_response({"id": node.id, "state": node.doc["state"]})

    async def unusable(request):
        node = svc.make_node_unusable(request.match_info["pool"], request.match_info["node"])
        return json_response({"id": node.id, "state": node.doc["state"]})

    async def stats(request):
        rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        current = None
        try:
            with open("/proc/self/statm") as fh:
                current = int(fh.read().split()[1]) * resource.getpagesize()
        except OSError:
            pass
        return json_response({"maxRssBytes": rss_kib * 1024, "rssBytes": current,
                              "pools": len(svc.pools), "jobs": len(svc.jobs),
                              "tasks": sum(len(j.tasks) for j in svc.jobs.values()),
                              "packedTasks": sum(t.packed for j in svc.jobs.values() for t in j.tasks.values()),
                              "requests": faults.requests, "faults": faults.injected})

    async def set_emulation(request):
        """Azure behaviours the local service emulates on request (see docs/local-service.md)."""
        body = await read_json(request)
        config = svc.config
        try:
            scale = float(body.get("clockScale", config.clock_scale))
            lag = float(body.get("taskCountsLagSeconds", config.task_counts_lag_seconds))
        except (TypeError, ValueError):
            return json_response({"error": "clockScale and taskCountsLagSeconds must be numbers"}, status=400)
        if not 0 < scale <= 3600 or not 0 <= lag <= 3600:
            return json_response({"error": "clockScale must be in (0, 3600], taskCountsLagSeconds in [0, 3600]"},
                                 status=400)
        config.clock_scale, config.task_counts_lag_seconds = scale, lag
        svc.counts_snapshots.clear()
        return json_response({"clockScale": scale, "taskCountsLagSeconds": lag})

    r.add_get(p + "/health", health)
    r.add_post(p + "/emulation", set_emulation)
    r.add_get(p + "/faults", get_faults)
    r.add_post(p + "/faults", set_faults)
    r.add_get(p + "/stats", stats)
    r.add_post(p + "/pools/{pool}/nodes/{node}/preempt", preempt)
    r.add_post(p + "/pools/{pool}/nodes/{node}/unusable", unusable)

"""HTTP handlers for job schedules and the jobs they made: translate only (model/job_schedules.py)."""

from __future__ import annotations

from aiohttp import web

from batchnb.local.service.http import odata
from batchnb.local.service.http.body import read_json
from batchnb.local.service.http.entity_handlers import add_collection_routes, run_action
from batchnb.local.service.http.listing import model_page
from batchnb.local.service.http.respond import check_conditions, json_response


def register(app: web.Application, svc) -> None:
    r = app.router

    add_collection_routes(
        r, "/jobschedules", "schedule", "jobschedules", items=lambda: svc.job_schedules.values(),
        allowed=odata.JOB_SCHEDULE_FILTER_PROPS, create=svc.create_job_schedule,
        lookup=lambda request: svc.get_job_schedule(request.match_info["schedule"]),
        update=lambda schedule, body, replace: svc.update_job_schedule(schedule.id, body, replace=replace),
        delete=lambda schedule: svc.delete_job_schedule(schedule.id))

    schedule_actions = {
        "disable": (lambda schedule_id, body: svc.disable_job_schedule(schedule_id), 204),
        "enable": (lambda schedule_id, body: svc.enable_job_schedule(schedule_id), 204),
        "terminate": (lambda schedule_id, body: svc.terminate_job_schedule(schedule_id), 202),
    }

    async def schedule_action(request):
        schedule_id, action = request.match_info["schedule"], request.match_info["action"].lower()
        await read_json(request)
        schedule = svc.get_job_schedule(schedule_id)
        check_conditions(request, schedule.doc, write=True)
        return run_action(request, schedule_actions, action, schedule_id, None)

    async def list_schedule_jobs(request):
        jobs = svc.schedule_jobs(request.match_info["schedule"])
        return json_response(model_page(request, jobs, allowed=odata.JOB_FILTER_PROPS, kind="jobs"))

    r.add_get("/jobschedules/{schedule}/jobs", list_schedule_jobs)
    r.add_post("/jobschedules/{schedule}/{action}", schedule_action)

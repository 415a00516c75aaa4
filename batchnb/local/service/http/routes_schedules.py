"""HTTP handlers for job schedules and the jobs they made: translate only (model/job_schedules.py)."""

from __future__ import annotations

from aiohttp import web

from batchnb.local.service.http import odata
from batchnb.local.service.http.body import read_json
from batchnb.local.service.http.listing import list_state, model_page
from batchnb.local.service.http.respond import changed, check_conditions, created, entity, json_response


def register(app: web.Application, svc) -> None:
    r = app.router

    async def list_schedules(request):
        return json_response(model_page(request, svc.job_schedules.values(), allowed=odata.JOB_SCHEDULE_FILTER_PROPS,
                                        kind="jobschedules"))

    async def create_schedule(request):
        return created(request, svc.create_job_schedule(await read_json(request)).doc)

    async def get_schedule(request):
        schedule = svc.get_job_schedule(request.match_info["schedule"])
        check_conditions(request, schedule.doc, write=False)
        if request.method == "HEAD":
            return web.Response(status=200)
        return entity(request, schedule.doc, "jobschedules", select=list_state(request)["s"])

    async def update_schedule(request):
        schedule = svc.get_job_schedule(request.match_info["schedule"])
        check_conditions(request, schedule.doc, write=True)
        body = await read_json(request)
        return changed(request, svc.update_job_schedule(schedule.id, body, replace=request.method == "PUT").doc)

    async def delete_schedule(request):
        schedule = svc.get_job_schedule(request.match_info["schedule"])
        check_conditions(request, schedule.doc, write=True)
        svc.delete_job_schedule(schedule.id)
        return web.Response(status=202)

    async def schedule_action(request):
        schedule_id, action = request.match_info["schedule"], request.match_info["action"].lower()
        await read_json(request)
        schedule = svc.get_job_schedule(schedule_id)
        check_conditions(request, schedule.doc, write=True)
        if action == "disable":
            return changed(request, svc.disable_job_schedule(schedule_id).doc, 204)
        if action == "enable":
            return changed(request, svc.enable_job_schedule(schedule_id).doc, 204)
        if action == "terminate":
            return changed(request, svc.terminate_job_schedule(schedule_id).doc, 202)
        raise web.HTTPNotFound()

    async def list_schedule_jobs(request):
        jobs = svc.schedule_jobs(request.match_info["schedule"])
        return json_response(model_page(request, jobs, allowed=odata.JOB_FILTER_PROPS, kind="jobs"))

    r.add_get("/jobschedules", list_schedules)
    r.add_post("/jobschedules", create_schedule)
    r.add_get("/jobschedules/{schedule}", get_schedule, allow_head=False)
    r.add_head("/jobschedules/{schedule}", get_schedule)
    r.add_patch("/jobschedules/{schedule}", update_schedule)
    r.add_put("/jobschedules/{schedule}", update_schedule)
    r.add_delete("/jobschedules/{schedule}", delete_schedule)
    r.add_get("/jobschedules/{schedule}/jobs", list_schedule_jobs)
    r.add_post("/jobschedules/{schedule}/{action}", schedule_action)

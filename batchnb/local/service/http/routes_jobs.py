"""HTTP handlers for jobs and tasks."""

from __future__ import annotations

import bisect

from aiohttp import web

from batchnb.local.service.http import odata
from batchnb.local.service.http.body import read_json
from batchnb.local.service.http.listing import base_url, docs_page, list_state, model_page, task_stats
from batchnb.local.service.http.respond import changed, check_conditions, created, entity, json_response


def changed_tasks(job, flt) -> list | None:
    """Answer `stateTransitionTime gt/ge X` from the job's change log: cost follows the number of
    changes since X, not the size of the job."""
    bound = flt.lower_bound("stateTransitionTime")
    if bound is None:
        return None
    if len(job.change_us) > 3 * len(job.tasks) + 10_000:  # compact: only each task's newest entry matters
        order = sorted(job.tasks.values(), key=lambda t: t.stamp_us)
        job.change_us = [t.stamp_us for t in order]
        job.change_tasks = order
    since = int(bound[0].timestamp() * 1_000_000)
    start = bisect.bisect_left(job.change_us, since)
    found = {}
    for task in job.change_tasks[start:]:
        if task.stamp_us >= since and job.tasks.get(task.key) is task:
            found[task.key] = task
    return sorted(found.values(), key=lambda t: t.seq)


def register(app: web.Application, svc) -> None:
    r = app.router

    async def list_jobs(request):
        return json_response(model_page(request, svc.jobs.values(), allowed=odata.JOB_FILTER_PROPS, kind="jobs"))

    async def create_job(request):
        return created(request, svc.create_job(await read_json(request)).doc)

    async def get_job(request):
        job = svc.get_job(request.match_info["job"])
        check_conditions(request, job.doc, write=False)
        return entity(request, job.doc, "jobs", select=list_state(request)["s"])

    async def update_job(request):
        job = svc.get_job(request.match_info["job"])
        check_conditions(request, job.doc, write=True)
        body = await read_json(request)
        return changed(request, svc.patch_job(job.id, body, replace=request.method == "PUT").doc)

    async def delete_job(request):
        job = svc.get_job(request.match_info["job"])
        check_conditions(request, job.doc, write=True)
        svc.delete_job(job.id)
        return web.Response(status=202)

    async def job_action(request):
        job_id, action = request.match_info["job"], request.match_info["action"].lower()
        body = await read_json(request)
        if action == "addtaskcollection":
            return json_response({"value": svc.add_task_collection(job_id, body)})
        job = svc.get_job(job_id)
        check_conditions(request, job.doc, write=True)
        if action == "disable":
            return changed(request, svc.disable_job(job_id, body).doc, 202)
        if action == "enable":
            return changed(request, svc.enable_job(job_id).doc, 202)
        if action == "terminate":
            return changed(request, svc.terminate_job(job_id, body).doc, 202)
        raise web.HTTPNotFound()

    async def task_counts(request):
        return json_response(svc.task_counts(request.match_info["job"]))

    async def prep_status(request):
        items = svc.prep_release_status(request.match_info["job"])
        return json_response(docs_page(request, items, allowed=odata.PREP_RELEASE_STATUS_FILTER_PROPS,
                                       kind="jobpreparationandreleasetaskstatuslist"))

    async def list_tasks(request):
        job = svc.get_job(request.match_info["job"])
        return json_response(model_page(request, job.tasks.values(), allowed=odata.TASK_FILTER_PROPS, kind="tasks",
                                        candidates=lambda flt: changed_tasks(job, flt), stats=task_stats))

    async def create_task(request):
        return created(request, svc.create_task(request.match_info["job"], await read_json(request)).doc)

    async def get_task(request):
        task = svc.get_task(request.match_info["job"], request.match_info["task"])
        check_conditions(request, task.doc, write=False)
        state = list_state(request)
        doc = task.doc if "stats" not in state["e"] else dict(task.doc, stats=task_stats(task))
        return entity(request, doc, "tasks", select=state["s"])

    async def replace_task(request):
        task = svc.get_task(request.match_info["job"], request.match_info["task"])
        check_conditions(request, task.doc, write=True)
        return changed(request, svc.replace_task(task.job.id, task.id, await read_json(request)).doc)

    async def delete_task(request):
        task = svc.get_task(request.match_info["job"], request.match_info["task"])
        check_conditions(request, task.doc, write=True)
        svc.delete_task(task.job.id, task.id)
        return web.Response(status=200)

    async def task_action(request):
        job_id, task_id = request.match_info["job"], request.match_info["task"]
        action = request.match_info["action"].lower()
        await read_json(request)
        task = svc.get_task(job_id, task_id)
        check_conditions(request, task.doc, write=True)
        if action == "terminate":
            return changed(request, svc.terminate_task(job_id, task_id).doc, 204)
        if action == "reactivate":
            return changed(request, svc.reactivate_task(job_id, task_id).doc, 204)
        raise web.HTTPNotFound()

    async def subtasks(request):
        items = svc.subtasks(request.match_info["job"], request.match_info["task"])
        select = list_state(request)["s"]
        if select:
            items = [{k: v for k, v in item.items() if k in select} for item in items]
        return json_response({"odata.metadata": f"{base_url(request)}/$metadata#subtaskinfo", "value": items})

    r.add_get("/jobs", list_jobs)
    r.add_post("/jobs", create_job)
    r.add_get("/jobs/{job}", get_job)
    r.add_patch("/jobs/{job}", update_job)
    r.add_put("/jobs/{job}", update_job)
    r.add_delete("/jobs/{job}", delete_job)
    r.add_get("/jobs/{job}/taskcounts", task_counts)
    r.add_get("/jobs/{job}/jobpreparationandreleasetaskstatus", prep_status)
    r.add_get("/jobs/{job}/tasks", list_tasks)
    r.add_post("/jobs/{job}/tasks", create_task)
    r.add_get("/jobs/{job}/tasks/{task}", get_task)
    r.add_put("/jobs/{job}/tasks/{task}", replace_task)
    r.add_delete("/jobs/{job}/tasks/{task}", delete_task)
    r.add_get("/jobs/{job}/tasks/{task}/subtasksinfo", subtasks)
    r.add_post("/jobs/{job}/tasks/{task}/{action}", task_action)
    r.add_post("/jobs/{job}/{action}", job_action)

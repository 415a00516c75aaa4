"""HTTP handlers for jobs and tasks."""

from __future__ import annotations

import bisect
from operator import attrgetter

from aiohttp import web

from batchnb.local.service.http import odata
from batchnb.local.service.http.body import read_json
from batchnb.local.service.http.entity_handlers import add_collection_routes, entity_handlers, run_action
from batchnb.local.service.http.listing import base_url, docs_page, list_state, page, task_stats
from batchnb.local.service.http.respond import check_conditions, created, entity, json_response
from batchnb.local.service.model.entities import Task


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

    add_collection_routes(
        r, "/jobs", "job", "jobs", items=lambda: svc.jobs.values(), allowed=odata.JOB_FILTER_PROPS, create=svc.create_job,
        lookup=lambda request: svc.get_job(request.match_info["job"]),
        update=lambda job, body, replace: svc.patch_job(job.id, body, replace=replace),
        delete=lambda job: svc.delete_job(job.id), bare_head=False)

    job_actions = {
        "disable": (svc.disable_job, 202),
        "enable": (lambda job_id, body: svc.enable_job(job_id), 202),
        "terminate": (svc.terminate_job, 202),
    }

    async def job_action(request):
        job_id, action = request.match_info["job"], request.match_info["action"].lower()
        body = await read_json(request)
        if action == "addtaskcollection":
            return json_response({"value": svc.add_task_collection(job_id, body)})
        job = svc.get_job(job_id)
        check_conditions(request, job.doc, write=True)
        return run_action(request, job_actions, action, job_id, body)

    async def task_counts(request):
        return json_response(svc.task_counts(request.match_info["job"]))

    async def prep_status(request):
        items = svc.prep_release_status(request.match_info["job"])
        return json_response(docs_page(request, items, allowed=odata.PREP_RELEASE_STATUS_FILTER_PROPS,
                                       kind="jobpreparationandreleasetaskstatuslist"))

    async def list_tasks(request):
        job = svc.get_job(request.match_info["job"])
        # Tasks are read with peek(): a listing must not keep a decoded copy of every packed task.
        return json_response(page(request, job.ordered_tasks(), allowed=odata.TASK_FILTER_PROPS, kind="tasks",
                                  render=Task.peek, seq_of=attrgetter("seq"), stats=task_stats,
                                  candidates=lambda flt: changed_tasks(job, flt),
                                  live=lambda task: job.tasks.get(task.key) is task))

    async def create_task(request):
        return created(request, svc.create_task(request.match_info["job"], await read_json(request)).doc)

    async def get_task(request):
        task = svc.get_task(request.match_info["job"], request.match_info["task"])
        doc = task.peek()
        check_conditions(request, doc, write=False)
        state = list_state(request)
        doc = doc if "stats" not in state["e"] else dict(doc, stats=task_stats(task))
        return entity(request, doc, "tasks", select=state["s"])

    _, replace_task, delete_task = entity_handlers(
        lambda request: svc.get_task(request.match_info["job"], request.match_info["task"]), "tasks",
        update=lambda task, body, replace: svc.replace_task(task.job.id, task.id, body),  # only PUT is routed
        delete=lambda task: svc.delete_task(task.job.id, task.id), delete_status=200)

    task_actions = {
        "terminate": (lambda ids, body: svc.terminate_task(*ids), 204),
        "reactivate": (lambda ids, body: svc.reactivate_task(*ids), 204),
    }

    async def task_action(request):
        job_id, task_id = request.match_info["job"], request.match_info["task"]
        action = request.match_info["action"].lower()
        await read_json(request)
        task = svc.get_task(job_id, task_id)
        check_conditions(request, task.doc, write=True)
        return run_action(request, task_actions, action, (job_id, task_id), None)

    async def subtasks(request):
        items = svc.subtasks(request.match_info["job"], request.match_info["task"])
        select = list_state(request)["s"]
        if select:
            items = [{k: v for k, v in item.items() if k in select} for item in items]
        return json_response({"odata.metadata": f"{base_url(request)}/$metadata#subtaskinfo", "value": items})

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

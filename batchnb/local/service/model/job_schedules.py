"""Job schedules: add/get/list/update/replace/disable/enable/terminate/delete, and the jobs they create
on their recurrence (ids ``<schedule>:job-<n>``, at most one active job at a time, as on Azure).

Schedule durations (recurrenceInterval, startWindow) run on the service's clock scale
(``ServerConfig.clock_scale``; ``batchnb local up --clock-scale 60`` makes a minute pass in a second)
so that tests and demos need not wait real minutes. Absolute times (doNotRunUntil/After) are not scaled.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

from batchnb.local.service.model import clock, shapes
from batchnb.local.service.model.entities import Job, JobSchedule
from batchnb.local.service.model.errors import ServiceError, bad_value, conflict, missing, not_found
from batchnb.local.service.model.validate import check_duration, check_id, check_metadata, check_object

SCHEDULE = {"doNotRunUntil": str, "doNotRunAfter": str, "startWindow": str, "recurrenceInterval": str}
JOB_SPEC = {k: v for k, v in shapes.JOB_CREATE.items() if k != "id"}
SCHEDULE_CREATE = {"id": str, "displayName": str, "schedule": SCHEDULE, "jobSpecification": JOB_SPEC,
                   "metadata": shapes.METADATA}
SCHEDULE_UPDATE = {"schedule": SCHEDULE, "jobSpecification": JOB_SPEC, "metadata": shapes.METADATA}
ENDED_JOB_STATES = ("completed", "deleting")
log = logging.getLogger("batchnb.local")


def _time(schedule: dict, prop: str) -> float | None:
    text = schedule.get(prop)
    if text is None:
        return None
    try:
        return clock.parse_iso(text).timestamp()
    except (ValueError, AttributeError):
        raise bad_value(f"schedule.{prop}", text, "Expected an ISO-8601 date and time.") from None


def _iso(ts: float) -> str:
    return clock.iso(datetime.fromtimestamp(ts, timezone.utc))


class JobScheduleOps:
    # ---- lookups ------------------------------------------------------------------------------
    def get_job_schedule(self, schedule_id: str) -> JobSchedule:
        schedule = self.job_schedules.get(schedule_id.lower())
        if schedule is None:
            raise not_found("JobScheduleNotFound", "job schedule")
        return schedule

    def schedule_jobs(self, schedule_id: str) -> list[Job]:
        schedule = self.get_job_schedule(schedule_id)
        return [j for j in self.jobs.values() if j.x.get("schedule") == schedule.key]

    def _changeable(self, schedule_id: str) -> JobSchedule:
        schedule = self.get_job_schedule(schedule_id)
        state = schedule.doc["state"]
        if state == "completed":
            raise conflict("JobScheduleCompleted", "The specified job schedule is already in a completed state.")
        if state == "terminating":
            raise conflict("JobScheduleBeingTerminated", "The specified job schedule is being terminated.")
        if state == "deleting":
            raise conflict("JobScheduleBeingDeleted", "The specified job schedule has been marked for deletion and "
                                                      "is being deleted.")
        return schedule

    # ---- checks -------------------------------------------------------------------------------
    def _check_schedule(self, schedule) -> dict:
        schedule = check_object(schedule, "schedule")
        check_duration(schedule, "startWindow", minimum_s=60)
        check_duration(schedule, "recurrenceInterval", minimum_s=60)
        until, after = _time(schedule, "doNotRunUntil"), _time(schedule, "doNotRunAfter")
        if until is not None and after is not None and after < until:
            raise bad_value("schedule.doNotRunAfter", schedule["doNotRunAfter"], "doNotRunAfter must not be "
                                                                                  "before doNotRunUntil.")
        return schedule

    def _check_job_specification(self, spec) -> dict:
        spec = check_object(spec, "jobSpecification")
        self.check_job_spec(spec, schedule=True)
        return spec

    # ---- create / update ----------------------------------------------------------------------
    def create_job_schedule(self, body: dict) -> JobSchedule:
        body = check_object(body, shape=SCHEDULE_CREATE)
        schedule_id = check_id(body.get("id"))
        if schedule_id.lower() in self.job_schedules:
            raise conflict("JobScheduleExists", "The specified job schedule already exists.")
        if schedule_id.lower() in self.jobs:
            raise conflict("JobWithSameIdExists", "A job with the same id already exists; jobs and job schedules "
                                                  "share one id namespace.")
        self.check_active_quota()
        if body.get("schedule") is None:
            raise missing("schedule")
        if body.get("jobSpecification") is None:
            raise missing("jobSpecification")
        self._check_schedule(body["schedule"])
        self._check_job_specification(body["jobSpecification"])
        check_metadata(body)
        now = clock.iso(clock.now())
        doc = {"id": schedule_id, "url": f"{self.base_url}/jobschedules/{schedule_id}", "creationTime": now,
               "state": None, "schedule": body["schedule"], "jobSpecification": body["jobSpecification"],
               "executionInfo": {}}
        for prop in ("displayName", "metadata"):
            if body.get(prop) is not None:
                doc[prop] = body[prop]
        schedule = JobSchedule(key=schedule_id.lower(), seq=self.next_seq(), doc=doc, x={"counter": 0})
        self.job_schedules[schedule.key] = schedule
        self._plan_next_run(schedule)
        self.set_state(schedule, "active")
        self.schedule_tick()  # a schedule due now makes its first job before the answer
        return schedule

    def update_job_schedule(self, schedule_id: str, body: dict, *, replace: bool) -> JobSchedule:
        schedule = self._changeable(schedule_id)
        body = check_object(body, shape=SCHEDULE_UPDATE)
        if replace:
            for prop in ("schedule", "jobSpecification"):
                if body.get(prop) is None:
                    raise missing(prop)
        if body.get("schedule") is not None:
            self._check_schedule(body["schedule"])
        if body.get("jobSpecification") is not None:
            self._check_job_specification(body["jobSpecification"])
        check_metadata(body)
        for prop in ("schedule", "jobSpecification", "metadata"):
            if body.get(prop) is not None:
                schedule.doc[prop] = body[prop]
            elif replace and prop == "metadata":
                schedule.doc.pop(prop, None)
        if body.get("schedule") is not None:
            self._plan_next_run(schedule)
        self.touch(schedule)
        return schedule

    # ---- state changes ------------------------------------------------------------------------
    def disable_job_schedule(self, schedule_id: str) -> JobSchedule:
        schedule = self._changeable(schedule_id)
        self.set_state(schedule, "disabled")
        return schedule

    def enable_job_schedule(self, schedule_id: str) -> JobSchedule:
        schedule = self._changeable(schedule_id)
        if schedule.doc["state"] == "disabled":
            self.set_state(schedule, "active")
            self.schedule_tick()
        return schedule

    def terminate_job_schedule(self, schedule_id: str) -> JobSchedule:
        schedule = self._changeable(schedule_id)
        self._end_schedule(schedule)
        return schedule

    def _end_schedule(self, schedule: JobSchedule) -> None:
        """active/disabled -> terminating -> completed: its active job is terminated first."""
        self.set_state(schedule, "terminating")
        for job in self.schedule_jobs(schedule.id):
            if job.doc["state"] not in ("completed", "terminating", "deleting"):
                self.end_job(job, "TerminateJobSchedule")
        schedule.ending = self.spawn(self._finish_terminate_schedule(schedule), name=f"terminate-{schedule.key}")

    async def _finish_terminate_schedule(self, schedule: JobSchedule) -> None:
        while any(j.doc["state"] == "terminating" for j in self.schedule_jobs(schedule.id)):
            await asyncio.sleep(0.05)
        schedule.doc["executionInfo"]["endTime"] = clock.iso(clock.now())
        schedule.doc["executionInfo"].pop("nextRunTime", None)
        schedule.x["next_run"] = None
        self.set_state(schedule, "completed")
        self.close_auto_pool(f"schedule:{schedule.key}")
        self.flush()

    def delete_job_schedule(self, schedule_id: str) -> None:
        """Any state -> deleting -> gone; its jobs (and their tasks) are deleted with it."""
        schedule = self.get_job_schedule(schedule_id)
        if schedule.doc["state"] == "deleting":
            return
        if schedule.ending and not schedule.ending.done():
            schedule.ending.cancel()
        self.set_state(schedule, "deleting")
        for job in self.schedule_jobs(schedule.id):
            self.delete_job(job.id)
        schedule.ending = self.spawn(self._finish_delete_schedule(schedule), name=f"delete-{schedule.key}")

    async def _finish_delete_schedule(self, schedule: JobSchedule) -> None:
        while any(j.x.get("schedule") == schedule.key for j in self.jobs.values()):
            await asyncio.sleep(0.05)
        self.job_schedules.pop(schedule.key, None)
        self.store.delete("jobschedules", schedule.key)
        self.close_auto_pool(f"schedule:{schedule.key}")
        self.flush()

    # ---- the recurrence -------------------------------------------------------------------------
    def _scaled(self, prop: str, schedule: dict) -> float | None:
        td = clock.parse_duration(schedule.get(prop))
        return None if td is None else td.total_seconds() / max(self.config.clock_scale, 1e-9)

    def _plan_next_run(self, schedule: JobSchedule) -> None:
        spec = schedule.doc["schedule"]
        now = clock.now().timestamp()
        last = schedule.x.get("last_run")
        interval = self._scaled("recurrenceInterval", spec)
        if last is not None and interval is None:
            nxt = None  # a one-off schedule that has run
        elif last is not None:
            nxt = last + interval
        else:
            nxt = _time(spec, "doNotRunUntil") or now
        until = _time(spec, "doNotRunUntil")
        if nxt is not None and until is not None:
            nxt = max(nxt, until)
        self._set_next_run(schedule, nxt)

    def _set_next_run(self, schedule: JobSchedule, nxt: float | None) -> None:
        schedule.x["next_run"] = nxt
        after = _time(schedule.doc["schedule"], "doNotRunAfter")
        if nxt is None or (after is not None and nxt > after):
            schedule.doc["executionInfo"].pop("nextRunTime", None)
        else:
            schedule.doc["executionInfo"]["nextRunTime"] = _iso(nxt)
        self.save(schedule)

    def _active_job(self, schedule: JobSchedule) -> Job | None:
        job = self.jobs.get(schedule.x.get("active_job") or "")
        return job if job is not None and job.doc["state"] not in ENDED_JOB_STATES else None

    def schedule_tick(self) -> None:
        """Create the jobs that are due; complete schedules that have nothing left to run."""
        now = clock.now().timestamp()
        for schedule in list(self.job_schedules.values()):
            if schedule.doc["state"] != "active":
                continue
            spec = schedule.doc["schedule"]
            after = _time(spec, "doNotRunAfter")
            due = schedule.x.get("next_run")
            running = self._active_job(schedule)
            if (due is None or (after is not None and now > after)) and running is None:
                self._end_schedule(schedule)  # nothing will run again
                continue
            if due is None or now < due or (after is not None and due > after):
                continue
            window = self._scaled("startWindow", spec)
            if window is not None and now > due + window:  # the window closed: this run is skipped
                self._skip_run(schedule, due, now)
                continue
            if running is not None:
                continue  # at most one active job per schedule; wait within the window
            try:
                self._run_job(schedule, due, now)
            except ServiceError as exc:  # e.g. the auto pool could not be made: this run is lost, as on Azure
                log.warning("job schedule %s could not create its job: %s", schedule.id, exc)
                self._skip_run(schedule, due, now)

    def _skip_run(self, schedule: JobSchedule, due: float, now: float) -> None:
        interval = self._scaled("recurrenceInterval", schedule.doc["schedule"])
        if interval is None:
            self._set_next_run(schedule, None)
            return
        nxt = due + interval
        while nxt <= now - interval:
            nxt += interval
        self._set_next_run(schedule, nxt)

    def _run_job(self, schedule: JobSchedule, due: float, now: float) -> None:
        schedule.x["counter"] = schedule.x.get("counter", 0) + 1
        job_id = f"{schedule.id}:job-{schedule.x['counter']}"
        spec = {k: v for k, v in schedule.doc["jobSpecification"].items() if k != "id"}
        job = self.new_job(job_id, {**spec, "id": job_id}, schedule=schedule)
        schedule.x["active_job"] = job.key
        schedule.x["last_run"] = due
        schedule.doc["executionInfo"]["recentJob"] = {"id": job.id, "url": job.doc["url"]}
        interval = self._scaled("recurrenceInterval", schedule.doc["schedule"])
        if interval is None:
            self._set_next_run(schedule, None)
        else:
            nxt = due + interval
            while nxt <= now:  # runs missed while the service was down are not made up
                nxt += interval
            self._set_next_run(schedule, nxt)
        self.touch(schedule, modified=False)

    def after_job_end(self, job: Job) -> None:
        """A job completed or was deleted: its auto pool may go, and its schedule may run again."""
        self.release_job_auto_pool(job)
        if job.x.get("schedule") in self.job_schedules:
            self.schedule_tick()

    def recover_job_schedule(self, schedule: JobSchedule) -> None:
        if schedule.doc["state"] == "terminating":
            schedule.ending = self.spawn(self._finish_terminate_schedule(schedule))
        elif schedule.doc["state"] == "deleting":
            schedule.ending = self.spawn(self._finish_delete_schedule(schedule))

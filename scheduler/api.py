"""The scheduler's HTTP JSON API (docs/scheduler.md); its pages are ``pages.py``.

Every request passes ``contract/requestcheck.py`` first (Host, Origin, JSON for POSTs); the
API under ``/api/`` needs the scheduler's bearer token; the read-only pages and ``/health`` do
not. Every refusal and every bad input is one JSON line, never a traceback.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import tornado.web

from borealis.contract import requestcheck
from borealis.contract.errors import InputError
from borealis.contract.jobdiff import job_diff
from borealis.contract.jobspec import MAX_INSTANCES, JobSpec, job_from_json
from borealis.contract.requestcheck import RequestRefusal, reason_text
from borealis.contract.schedule import ScheduleStatus
from borealis.contract.slapolicy import check_room

from .constraints import ConstraintError, parse_all
from .core import Conflict, NotFound, Scheduler
from .sla import room, run_of
from .slafigures import (
    DEFAULT_DURATIONS,
    DEFAULT_PERCENTILES,
    RunHistory,
    job_uptime,
    parse_durations,
    parse_percentiles,
    task_up_count,
    uptimes,
)
from .updates.driver import UpdateConflict
from .updates.planner import Refused

KEY = r"([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)"


def check_request(handler: tornado.web.RequestHandler, token: str | None) -> None:
    """Refuse the request (an ``HTTPError``) unless its Host, Origin, content type and, when
    ``token`` is given, its bearer token pass ``contract/requestcheck.py``."""
    request = handler.request
    refusal = requestcheck.refusal_of(
        request.method or "",
        request.host,
        request.headers,
        handler.settings["allowed_hosts"],
        token=token,
    )
    if refusal is RequestRefusal.NO_CREDENTIAL:
        handler.set_header("WWW-Authenticate", 'Bearer realm="borealis-scheduler"')
    if refusal is not None:
        raise tornado.web.HTTPError(
            requestcheck.STATUS[refusal], reason=requestcheck.MESSAGE[refusal]
        )


class Handler(tornado.web.RequestHandler):
    public = False  # True: no token (the pages, /health)

    def prepare(self) -> None:
        check_request(self, None if self.public else self.settings["token"])

    @property
    def scheduler(self) -> Scheduler:
        scheduler: Scheduler = self.settings["scheduler"]
        return scheduler

    def body(self) -> dict[str, Any]:
        """The request's JSON object (400 with one line when it is not one)."""
        try:
            value = requestcheck.json_value(self.request.body or b"{}")
        except requestcheck.BadBody as e:
            raise InputError("request body", "", str(e)) from None
        if not isinstance(value, dict):
            raise InputError("request body", "", "expected a JSON object")
        return value

    def accepted(self, job: JobSpec) -> JobSpec:
        """``job``, when the operator's container policy accepts its container (else 400)."""
        refusal = self.scheduler.policy.containers.refusal(job.container)
        if refusal is not None:
            raise InputError("job", *refusal)
        return job

    def instances(self) -> frozenset[int] | None:
        """The body's ``instances``: a list of instance numbers, or absent for all."""
        value = self.body().get("instances")
        if value is None:
            return None
        if not isinstance(value, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 <= i < MAX_INSTANCES for i in value
        ):
            raise InputError("request body", "instances", "expected a list of instance numbers")
        return frozenset(value)

    def reply(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(value))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": self._reason, "status": status_code}))

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, (NotFound, LookupError)):
            self.send_error(404, reason=reason_text(str(e).strip("'\"")))
        elif isinstance(e, (Conflict, UpdateConflict, Refused)):
            self.send_error(409, reason=reason_text(str(e)))
        elif isinstance(e, (InputError, ValueError)):
            self.send_error(400, reason=reason_text(str(e).replace("\n", " ")))
        else:
            super()._handle_request_exception(e)


def job_summary(
    scheduler: Scheduler, key: str, killed: bool, instances: int, service: bool
) -> dict[str, Any]:
    current = scheduler.store.latest(key)
    return {
        "key": key,
        "instances": instances,
        "service": service,
        "killed": killed,
        "states": dict(Counter(t.state.value for t in current)),
    }


class Jobs(Handler):
    def get(self) -> None:
        role = self.get_query_argument("role", None)
        out = []
        for job, killed in self.scheduler.store.jobs():
            if role and job.key.role != role:
                continue
            out.append(
                job_summary(self.scheduler, str(job.key), killed, job.instances, job.service)
            )
        self.reply({"jobs": out})

    def post(self) -> None:
        job = self.accepted(job_of(self.body(), "job"))
        tasks = self.scheduler.create_job(job)
        self.reply({"key": str(job.key), "tasks": [t.task_id for t in tasks]})


class Job(Handler):
    def get(self, key: str) -> None:
        found = self.scheduler.store.job(key)
        if found is None:
            raise NotFound(f"no job {key}")
        job, killed = found
        active = self.scheduler.updates.active(key)
        history = self.get_query_argument("history", "0") == "1"
        tasks = self.scheduler.store.tasks(key) if history else self.scheduler.store.latest(key)
        self.reply(
            {
                **job_summary(self.scheduler, key, killed, job.instances, job.service),
                "spec": job.to_json(),
                "configs": {str(i): c for i, c in self.scheduler.store.desired(key).items()},
                "update": None if active is None else active.to_json(),
                "sla": sla_state(self.scheduler, job),
                "tasks": [t.to_json() for t in tasks],
            }
        )


def sla_state(scheduler: Scheduler, job: JobSpec) -> dict[str, Any] | None:
    """The job's SLA policy and how it stands now: instances up, how many may go down."""
    if job.sla_policy is None:
        return None
    runs = {t.instance: run_of(t) for t in scheduler.store.latest(str(job.key))}
    up, spare = room(job.sla_policy, runs, scheduler.clock())
    return {
        "policy": job.sla_policy.to_json(),
        "text": job.sla_policy.describe(),
        "up": up,
        "may_go_down": spare,
    }


class JobSlaFigures(Handler):
    """``GET``: the job's uptime percentiles and up counts (``?percentiles=50,90``,
    ``?durations=1m,1h``; Aurora's defaults otherwise), from the stored runs' events."""

    def get(self, key: str) -> None:
        store = self.scheduler.store
        if store.job(key) is None:
            raise NotFound(f"no job {key}")
        text = self.get_query_argument("percentiles", None)
        percentiles = (
            DEFAULT_PERCENTILES if text is None else parse_percentiles(text, "percentiles")
        )
        text = self.get_query_argument("durations", None)
        durations = DEFAULT_DURATIONS if text is None else parse_durations(text, "durations")
        runs = [
            RunHistory(
                t.instance,
                t.state,
                [(ScheduleStatus(e["state"]), e["time"]) for e in store.history(t.task_id)],
            )
            for t in store.latest(key)
        ]
        now = self.scheduler.clock()
        up = uptimes(runs, now)
        self.reply(
            {
                "key": key,
                "now": now,
                "uptimes": {str(i): s for i, s in sorted(up.items())},
                "job_uptime": [
                    {"percentile": p, "seconds": s} for p, s in job_uptime(up, percentiles)
                ],
                "task_up_count": [
                    {"duration_secs": d, "percent": v} for d, v in task_up_count(up, durations)
                ],
            }
        )


def job_of(value: Any, source: str) -> JobSpec:
    if not isinstance(value, dict):
        raise InputError(source, "", "expected a JSON object (a job)")
    try:
        job = job_from_json(value, source)
    except (TypeError, AttributeError, KeyError, RecursionError) as e:
        # a field of the wrong type that the converter did not name: still bad input
        raise InputError(source, "", f"malformed ({type(e).__name__}: {e})") from None
    check_room(job.sla_policy, job.instances, source)  # a submission, not a stored job
    return job


class KillJob(Handler):
    async def post(self, key: str) -> None:
        killing = await self.scheduler.kill_job(key, self.instances())
        self.reply({"key": key, "killing": killing})


class RestartJob(Handler):
    async def post(self, key: str) -> None:
        restarting = await self.scheduler.restart_job(key, self.instances())
        self.reply({"key": key, "restarting": restarting})


class AddInstances(Handler):
    async def post(self, key: str) -> None:
        body = self.body()
        source, count = body.get("instance"), body.get("count")
        for name, value in (("instance", source), ("count", count)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InputError("request body", name, "expected an integer >= 0")
        tasks = await self.scheduler.add_instances(key, int(source), int(count))  # type: ignore[arg-type]
        self.reply({"key": key, "tasks": [t.task_id for t in tasks]})


class JobUpdates(Handler):
    """``GET``: the job's updates, newest first; ``POST``: start one (``{"job", "instances",
    "user"}``)."""

    def get(self, key: str) -> None:
        updater = self.scheduler.updates
        self.reply({"updates": [u.to_json() for u in updater.records.of_job(key)]})

    def post(self, key: str) -> None:
        body = self.body()
        spec = self.accepted(job_of(body.get("job"), "job"))
        if str(spec.key) != key:
            raise InputError("job", "key", f"is {spec.key}, not {key}")
        if spec.cron is not None or key in self.scheduler.cron.jobs:
            raise Conflict(f"{key} is a cron job: change it with `borealis cron schedule`")
        user = body.get("user") or "unknown"
        if not isinstance(user, str) or len(user) > 200:
            raise InputError("request body", "user", "expected a short string")
        try:
            parse_all(spec.constraints, spec.key.role)
        except ConstraintError as e:
            raise InputError("job", "constraints", str(e)) from None
        update = self.scheduler.updates.start(spec, self.instances(), user)
        self.reply(self.scheduler.updates.describe(update))


class UpdateDetail(Handler):
    def get(self, update_id: str) -> None:
        update = self.scheduler.updates.records.get(update_id)
        if update is None:
            raise NotFound(f"no update {update_id}")
        self.reply(
            {
                **self.scheduler.updates.describe(update),
                "diff": job_diff(update.old_job, update.new_job),
            }
        )


class UpdateVerb(Handler):
    def post(self, update_id: str, verb: str) -> None:
        update = self.scheduler.updates.command(update_id, verb)
        self.reply(self.scheduler.updates.describe(update))


class Tasks(Handler):
    def get(self) -> None:
        key = self.get_query_argument("job", None)
        everything = self.get_query_argument("all", "0") == "1"
        tasks = self.scheduler.store.tasks(key, current=not everything)
        self.reply({"tasks": [t.to_json() for t in tasks]})


class TaskHistory(Handler):
    def get(self, task_id: str) -> None:
        task = self.scheduler.store.task(task_id)
        if task is None:
            raise NotFound(f"no task {task_id}")
        self.reply({**task.to_json(), "history": self.scheduler.store.history(task_id)})


class Health(Handler):
    public = True

    def get(self) -> None:
        self.finish("OK\n")

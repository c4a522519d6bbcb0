"""The cron part of the scheduler's HTTP JSON API (docs/cron.md), with the conventions of
``scheduler/api.py``: the same request checks and bearer token, JSON in and out, one line
for every refusal.

* ``GET /api/v1/cron``: every cron job (key, schedule, zone, next slot);
* ``POST /api/v1/cron`` ``{"job": {...}}``: schedule a cron job, or replace its template;
* ``GET /api/v1/cron/KEY``: one cron job, its next slots and its recent triggers and skips;
* ``POST /api/v1/cron/KEY/start``: launch it now (its collision policy applies);
* ``POST /api/v1/cron/KEY/deschedule``: forget it (its runs go on).
"""

from __future__ import annotations

from borealis.contract.errors import InputError
from borealis.contract.requestcheck import reason_text

from ..api import KEY, Handler, job_of
from .driver import CronConflict
from .planner import Kill


class CronHandler(Handler):
    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, CronConflict):
            self.send_error(409, reason=reason_text(str(e)))
        else:
            super()._handle_request_exception(e)


class CronJobs(CronHandler):
    def get(self) -> None:
        cron = self.scheduler.cron
        self.reply({"cron_jobs": [cron.summary(key) for key in cron.sorted_keys()]})

    def post(self) -> None:
        spec = self.accepted(job_of(self.body().get("job"), "job"))
        if spec.cron is None:
            raise InputError("job", "cron", "the job has no cron schedule: use job create")
        job = self.scheduler.cron.schedule(spec)
        self.reply(self.scheduler.cron.describe(job.key))


class CronJob(CronHandler):
    def get(self, key: str) -> None:
        self.reply(self.scheduler.cron.describe(key))


class StartCron(CronHandler):
    async def post(self, key: str) -> None:
        plan = await self.scheduler.cron.start(key)
        killing = any(isinstance(a, Kill) for a in plan.actions)
        self.reply({"key": key, "started": not killing, "killing": killing})


class DescheduleCron(CronHandler):
    def post(self, key: str) -> None:
        self.scheduler.cron.deschedule(key)
        self.reply({"key": key, "descheduled": True})


def routes() -> list[tuple[str, type[Handler]]]:
    k = r"/api/v1/cron/" + KEY
    return [
        (r"/api/v1/cron", CronJobs),
        (k, CronJob),
        (k + r"/start", StartCron),
        (k + r"/deschedule", DescheduleCron),
    ]

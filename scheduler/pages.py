"""The scheduler's web pages: the jobs by role (``/``) and one job with its instances, its
running update and its update history (``/job/KEY``).

Server-rendered Tornado templates (``templates/``; every value escaped), one stylesheet and
one small script (``static/``) that re-fetches each page's body every two seconds from a
public, read-only fragment route (``/fragments/...``) and swaps it in place, keeping the scroll
position. The pages need no token, as the page at ``/`` never did: they only read, and the
JSON API that needs the token stays out of the browser. Host and Origin are checked as on
every route (``api.Handler``); the Content-Security-Policy lets the browser run nothing but the
scheduler's own script.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import tornado.web

from borealis.contract import requestcheck
from borealis.contract.jobdiff import job_diff
from borealis.contract.schedule import ScheduleStatus

from . import tasklinks
from .api import KEY, Handler, sla_state
from .core import NotFound, Scheduler
from .store import Task
from .updates.planner import InstanceProgress
from .updates.records import Update
from .updates.states import Phase

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
REFRESH_MS = 2000
STATE_ORDER = [s.value for s in ScheduleStatus]
SHORT = 8  # characters of a config or update id shown (the whole id is in the title)


def clock(value: float | None) -> str:
    if value is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))


def short(value: str | None) -> str:
    return (value or "-")[:SHORT]


def shown(value: Any) -> str:
    """A config value in a diff: JSON, or an em dash for a field one side lacks."""
    return "\u2014" if value is None else json.dumps(value)


def url_key(key: str) -> str:
    return quote(key, safe="/")


HELPERS: dict[str, Any] = {"clock": clock, "short": short, "shown": shown, "url_key": url_key}


@dataclass
class Progress:
    """An update's per-instance phases, counted: the bar shows ``done`` of ``changed``."""

    status: str
    forward: bool
    phases: dict[int, str]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return len(self.phases)

    @property
    def done(self) -> int:
        return self.counts.get(Phase.UPDATED.value if self.forward else Phase.ROLLED_BACK.value, 0)


def progress_of(update: Update, instances: dict[int, InstanceProgress]) -> Progress:
    phases = {i: p.phase.value for i, p in instances.items()}
    counts = Counter(phases.values())
    ordered = {p.value: counts[p.value] for p in Phase if counts[p.value]}
    status = update.progress.status
    return Progress(status.value, status.forward or status.terminal, phases, ordered)


def ordered_states(tasks: list[Task]) -> list[tuple[str, int]]:
    counts = Counter(t.state.value for t in tasks)
    return [(s, counts[s]) for s in STATE_ORDER if counts[s]]


def overview(scheduler: Scheduler) -> dict[str, Any]:
    """Every job, grouped by role: instance counts by state and the running update, if any;
    cron jobs with their next slot, scheduled ones that never fired included."""
    roles: dict[str, list[dict[str, Any]]] = {}
    stored = sorted(scheduler.store.jobs(), key=lambda j: str(j[0].key))
    keys = {str(job.key) for job, _ in stored}
    templates = [(c.spec, False) for k, c in scheduler.cron.jobs.items() if k not in keys]
    for job, killed in sorted(stored + templates, key=lambda j: str(j[0].key)):
        key = str(job.key)
        active = scheduler.updates.active(key)
        progress = None
        if active is not None:
            progress = progress_of(active, scheduler.updates.records.instances(active.id))
        roles.setdefault(job.key.role, []).append(
            {
                "key": key,
                "name": job.key.name,
                "env": job.key.environment,
                "cluster": job.key.cluster,
                "instances": job.instances,
                "service": job.service,
                "killed": killed,
                "states": ordered_states(scheduler.store.latest(key)),
                "update": progress,
                "cron": scheduler.cron.summary(key),
            }
        )
    return {"roles": sorted(roles.items())}


def observer_link(observer: str, task: Task) -> str | None:
    """The task's page on the observer of its host (``{host}`` in ``--observer-url``)."""
    if not observer or not task.host:
        return None
    return observer.rstrip("/").replace("{host}", task.host) + "/task/" + quote(task.task_id)


def run_links(scheduler: Scheduler, task: Task) -> list[tuple[str, str]]:
    """A live run's task links (``scheduler/tasklinks.py``), for its config's job."""
    if not task.state.on_host or not task.host:
        return []
    job = scheduler.spec_of(task)
    return tasklinks.links(
        job.task_links,
        job.ports,
        instance=task.instance,
        task_id=task.task_id,
        host=task.host,
        ports=task.ports,
    )


def job_view(scheduler: Scheduler, key: str, observer: str) -> dict[str, Any]:
    """One job: its instances, its running update's progress, and every update it had."""
    found = scheduler.store.job(key)
    template = scheduler.cron.jobs.get(key)
    if found is None and template is not None:
        found = (template.spec, False)  # scheduled, never fired yet
    if found is None:
        raise NotFound(f"no job {key}")
    job, killed = found
    records = scheduler.updates.records
    active = scheduler.updates.active(key)
    progress = None
    if active is not None:
        progress = progress_of(active, records.instances(active.id))
    desired = scheduler.store.desired(key)
    tasks = scheduler.store.latest(key)
    instances = [
        {
            "instance": t.instance,
            "state": t.state.value,
            "host": t.host or "-",
            "config": t.config,
            "desired": desired.get(t.instance),
            "task_id": t.task_id,
            "link": observer_link(observer, t),
            "message": t.message,
            "phase": None if progress is None else progress.phases.get(t.instance),
            "links": run_links(scheduler, t),
        }
        for t in tasks
    ]
    history = [
        {
            "update": u.to_json(),
            "diff": [
                path for path, _old, _new in job_diff(u.old_job, u.new_job)
            ],  # no values: public
            "events": records.events(u.id),
            "instances": records.changed(u.id),
        }
        for u in records.of_job(key)
    ]
    return {
        "key": key,
        "job": job,
        "killed": killed,
        "states": ordered_states(tasks),
        "instances": instances,
        "active": None if active is None else active.to_json(),
        "progress": progress,
        "history": history,
        "sla": sla_state(scheduler, job),
        "cron": scheduler.cron.summary(key),
    }


class Page(Handler):
    """A public, read-only HTML page (Host and Origin still checked by ``Handler``)."""

    public = True

    @property
    def observer(self) -> str:
        return str(self.settings.get("observer_url") or "")

    def set_default_headers(self) -> None:
        self.set_header("Content-Security-Policy", CSP)
        for name, value in requestcheck.PAGE_HEADERS.items():
            self.set_header(name, value)

    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        namespace.update(HELPERS)
        namespace["refresh_ms"] = REFRESH_MS
        return namespace

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        reason = self._reason if status_code < 500 else "internal error (see the scheduler's log)"
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(self.render_string("error.html", status=status_code, reason=reason))


class Jobs(Page):
    def get(self) -> None:
        self.render("jobs.html", **overview(self.scheduler))


class JobsFragment(Page):
    def get(self) -> None:
        self.render("jobs_body.html", **overview(self.scheduler))


def instance_view(scheduler: Scheduler, key: str, instance: int, observer: str) -> dict[str, Any]:
    """One instance: every run it had, newest first, each with every state it took (time and
    reason) and its host."""
    if scheduler.store.job(key) is None and key not in scheduler.cron.jobs:
        raise NotFound(f"no job {key}")
    runs = [t for t in scheduler.store.tasks(key) if t.instance == instance]
    if not runs:
        raise NotFound(f"no instance {instance} in {key}")
    runs.sort(key=lambda t: t.created, reverse=True)
    return {
        "key": key,
        "instance": instance,
        "runs": [
            {
                "task_id": t.task_id,
                "state": t.state.value,
                "host": t.host or "-",
                "config": t.config,
                "link": observer_link(observer, t),
                "events": scheduler.store.history(t.task_id),
            }
            for t in runs
        ],
    }


class Instance(Page):
    def get(self, key: str, instance: str) -> None:
        view = instance_view(self.scheduler, key, int(instance), self.observer)
        self.render("instance.html", view=view, key=key, instance=int(instance))


class InstanceFragment(Page):
    def get(self, key: str, instance: str) -> None:
        self.render(
            "instance_body.html", **instance_view(self.scheduler, key, int(instance), self.observer)
        )


class Job(Page):
    def get(self, key: str) -> None:
        self.render("job.html", view=job_view(self.scheduler, key, self.observer), key=key)


class JobFragment(Page):
    def get(self, key: str) -> None:
        self.render("job_body.html", **job_view(self.scheduler, key, self.observer))


class NoPage(Page):
    def prepare(self) -> None:
        super().prepare()
        raise tornado.web.HTTPError(404, reason="no such page")


def routes() -> list[tuple[str, type[tornado.web.RequestHandler]]]:
    return [
        (r"/", Jobs),
        (r"/fragments/jobs", JobsFragment),
        (r"/job/" + KEY, Job),
        (r"/fragments/job/" + KEY, JobFragment),
        (r"/job/" + KEY + r"/([0-9]{1,5})", Instance),
        (r"/fragments/job/" + KEY + r"/([0-9]{1,5})", InstanceFragment),
    ]

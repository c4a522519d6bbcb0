"""The JSON API (docs/observer-api.md): everything the pages show, under ``/api/v1``."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import tornado.web

from borealis.contract import confined, logs, summary
from borealis.contract.layout import TASK_ID_RE
from borealis.contract.resources import read_history
from borealis.contract.taskspec import task_to_json

from . import sandbox
from .base import BaseHandler
from .model import Detail, ObservedTask, log_file, sandbox_of
from .store import SORT_KEYS

MAX_LIMIT = 500
MAX_WAIT = 30.0
POLL = 0.25
MAX_FOLLOWERS = 512


class TaskHandler(BaseHandler):
    """Shared look-ups for handlers under ``/api/v1/tasks/<id>`` (and the pages)."""

    def task(self, task_id: str) -> ObservedTask:
        task = self.store.get(task_id) if TASK_ID_RE.match(task_id) else None
        if task is None:
            raise tornado.web.HTTPError(404, reason="no such task")
        return task

    def detail(self, task: ObservedTask) -> Detail:
        return self.store.detail(task)

    def sandbox_dir(self, detail: Detail) -> Any:
        where = sandbox_of(detail)
        if where is None:
            raise tornado.web.HTTPError(404, reason="the task has no sandbox yet")
        return where


def task_document(task: ObservedTask, detail: Detail) -> dict[str, Any]:
    doc = summary.task_json(task.task_id, detail.state, detail.spec)
    doc["active"] = not task.finished
    doc["error"] = detail.error
    doc["reserved"] = task.row and {
        "cpu": task.row["cpu_reserved"],
        "ram": task.row["ram_reserved"],
        "disk": task.row["disk_reserved"],
    }
    sample = None if task.finished else task.sample
    doc["resources"] = sample.to_json() if sample else None
    return doc


def process_document(task: ObservedTask, detail: Detail, name: str) -> dict[str, Any]:
    runs = detail.state.runs(name)
    spec = None
    if detail.spec is not None and any(p.name == name for p in detail.spec.processes):
        spec = detail.spec.process(name)
    usage = task.sample.processes.get(name) if task.sample and not task.finished else None
    out_runs = []
    for run in runs:
        doc = summary.run_json(run)
        measured = usage is not None and usage.run == run.run and not run.state.terminal
        doc["used"] = usage.to_json() if measured and usage else None
        out_runs.append(doc)
    return {
        "task_id": task.task_id,
        "process": name,
        "cmdline": spec.cmdline if spec else None,
        "daemon": spec.daemon if spec else None,
        "ephemeral": spec.ephemeral if spec else None,
        "final": spec.final if spec else None,
        "max_failures": spec.max_failures if spec else None,
        "runs": out_runs,
    }


def known_process(detail: Detail, name: str) -> bool:
    return name in summary.process_names(detail.state, detail.spec)


class Tasks(BaseHandler):
    def get(self) -> None:
        which = self.get_query_argument("state", "all")
        if which not in ("all", "active", "finished"):
            raise tornado.web.HTTPError(400, reason="state must be all, active or finished")
        sort = self.get_query_argument("sort", "launch_time")
        if sort not in SORT_KEYS:
            raise tornado.web.HTTPError(400, reason=f"sort must be one of {', '.join(SORT_KEYS)}")
        order = self.get_query_argument("order", "desc")
        if order not in ("asc", "desc"):
            raise tornado.web.HTTPError(400, reason="order must be asc or desc")
        offset = self.int_argument("offset", 0)
        limit = min(self.int_argument("limit", 50, minimum=1), MAX_LIMIT)
        query = self.get_query_argument("q", "")[:200]
        total, rows = self.store.rows(
            which, sort=sort, descending=order == "desc", offset=offset, limit=limit, query=query
        )
        self.write_json(
            {
                "tasks": rows,
                "total": total,
                "offset": offset,
                "limit": limit,
                "state": which,
                "counts": self.store.counts(),
            }
        )


class Task(TaskHandler):
    def get(self, task_id: str) -> None:
        task = self.task(task_id)
        self.write_json(task_document(task, self.detail(task)))


class Processes(TaskHandler):
    def get(self, task_id: str) -> None:
        task = self.task(task_id)
        detail = self.detail(task)
        names = summary.process_names(detail.state, detail.spec)
        self.write_json({name: process_document(task, detail, name) for name in names})


class Process(TaskHandler):
    def get(self, task_id: str, name: str) -> None:
        task = self.task(task_id)
        detail = self.detail(task)
        if not known_process(detail, name):
            raise tornado.web.HTTPError(404, reason="no such process")
        self.write_json(process_document(task, detail, name))


class Resources(TaskHandler):
    def get(self, task_id: str) -> None:
        task = self.task(task_id)
        since_text = self.get_query_argument("since", None)
        try:
            since = float(since_text) if since_text else None
        except ValueError:
            raise tornado.web.HTTPError(400, reason="since must be a number") from None
        limit = min(self.int_argument("limit", 360, minimum=1), 3600)
        samples = [s.to_json() for s in read_history(task.paths.resources, since)]
        self.write_json({"task_id": task.task_id, "samples": samples[-limit:]})


class Config(TaskHandler):
    def get(self, task_id: str) -> None:
        task = self.task(task_id)
        detail = self.detail(task)
        if detail.spec is None:
            raise tornado.web.HTTPError(404, reason="the task file is missing or unreadable")
        self.write_json(task_to_json(detail.spec))


class Files(TaskHandler):
    """A directory's listing, or a byte range of a file, inside the task's sandbox."""

    def get(self, task_id: str, path: str | None = None) -> None:
        task = self.task(task_id)
        top = self.sandbox_dir(self.detail(task))
        offset = self.int_argument("offset", 0, minimum=-1)
        length = self.int_argument("length", sandbox.DEFAULT_CHUNK, minimum=-1)
        with sandbox.open_entry(top, path or "") as f:
            if f.is_dir:
                self.write_json({"path": f.rel, "entries": sandbox.listing(f)})
                return
            start, count = sandbox.bounded(offset, length, f.size)
            data = f.read(start, count)
        self.write_json(
            {
                "path": f.rel,
                "offset": start,
                "length": len(data),
                "size": f.size,
                "eof": start + len(data) >= f.size,
                "data": data.decode("utf-8", "replace"),
            }
        )


class Download(TaskHandler):
    """A whole file inside the sandbox, streamed in bounded chunks."""

    async def get(self, task_id: str, path: str) -> None:
        task = self.task(task_id)
        top = self.sandbox_dir(self.detail(task))
        with sandbox.open_file(top, path) as f:
            name = f.name
            self.set_header("Content-Type", "application/octet-stream")
            self.set_header(
                "Content-Disposition",
                f"attachment; filename*=UTF-8''{tornado.escape.url_escape(name, plus=False)}",
            )
            self.set_header("Content-Length", str(f.size))
            offset = 0
            while offset < f.size:
                data = f.read(offset, min(sandbox.DEFAULT_CHUNK, f.size - offset))
                if not data:
                    break  # the file shrank
                self.write(data)
                offset += len(data)
                await self.flush()  # a slow client waits on its own connection only
        self.finish()


def log_top(detail: Detail, live: Path) -> Path:
    """Where the walk to a log starts: the sandbox (so a link the task planted at ``.logs``
    or below is refused), or the log directory the runner recorded if it lies elsewhere."""
    top = sandbox_of(detail)
    if top is not None and live.is_relative_to(top):
        return top
    header = detail.state.header
    return Path(header.log_dir) if header is not None else live.parent


def read_log(live: Path, cursor: str, length: int, **kw: Any) -> dict[str, Any]:
    """``logs.read`` through the sandbox walk; what it refuses is a 403/404, never a 500."""
    try:
        return logs.read(live, cursor, length, **kw)
    except confined.Refused as e:
        raise sandbox.refused(e) from None
    except FileNotFoundError:
        raise tornado.web.HTTPError(404, reason="the sandbox is gone") from None


class Logs(TaskHandler):
    """A run's stdout/stderr as one stream across rotations; ``wait`` long-polls."""

    followers = 0
    _gone = False

    def on_connection_close(self) -> None:
        self._gone = True  # the client left while we waited: stop polling for it

    async def get(self, task_id: str, process: str, run: str, stream: str) -> None:
        task = self.task(task_id)
        detail = self.detail(task)
        if not known_process(detail, process):
            raise tornado.web.HTTPError(404, reason="no such process")
        live = log_file(detail, process, int(run), stream)
        if live is None:
            raise tornado.web.HTTPError(404, reason="no such run")
        cursor = self.get_query_argument("cursor", "end")
        length = min(self.int_argument("length", sandbox.DEFAULT_CHUNK), sandbox.MAX_CHUNK)
        backwards = self.get_query_argument("direction", "forward") == "backward"
        wait_text = self.get_query_argument("wait", "0")
        try:
            wait = min(max(float(wait_text), 0.0), MAX_WAIT)
        except ValueError:
            raise tornado.web.HTTPError(400, reason="wait must be a number of seconds") from None
        top = log_top(detail, live)
        try:
            result = read_log(live, cursor, length, backwards=backwards, top=top)
        except logs.BadCursor as e:
            raise tornado.web.HTTPError(400, reason=str(e)) from None
        if wait and not backwards and not result["chunks"]:
            if Logs.followers >= MAX_FOLLOWERS:
                raise tornado.web.HTTPError(503, reason="too many followers; retry later")
            Logs.followers += 1
            try:
                deadline = time.monotonic() + wait
                cursor = result["end"]
                while not result["chunks"] and time.monotonic() < deadline:
                    await asyncio.sleep(POLL)
                    if self._gone:
                        return
                    result = read_log(live, cursor, length, top=top)
            finally:
                Logs.followers -= 1
        result["task_id"], result["process"], result["run"], result["stream"] = (
            task.task_id,
            process,
            int(run),
            stream,
        )
        result["active"] = not task.finished
        self.write_json(result)


class Health(BaseHandler):
    public = True

    def get(self) -> None:
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.finish("OK\n")

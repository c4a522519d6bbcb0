"""The HTML pages: server-rendered (Tornado templates, every value escaped), with one small
script (``static/observer.js``) for live refresh and the log viewer. No build step."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import tornado.web

from borealis.contract.layout import run_log_in
from borealis.contract.resources import format_bytes
from borealis.contract.taskspec import task_to_json

from . import sandbox
from .api import TaskHandler, known_process, process_document, task_document
from .listening import link_host, listening
from .store import SORT_KEYS

PAGE_SIZE = 20
COLUMNS = [
    ("task_id", "task"),
    ("name", "name"),
    ("state", "state"),
    ("launch_time", "launched"),
    ("state_time", "since"),
    ("cpu", "CPU"),
    ("rss", "RSS"),
    ("disk", "disk"),
    ("", "ports"),
    ("", ""),
]


def clock(value: float | None) -> str:
    if value is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))


def size(value: float | None) -> str:
    return "-" if value is None else format_bytes(value)


def cores(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def url_part(value: str) -> str:
    return quote(str(value), safe="")


def url_path(value: str) -> str:
    return quote(value, safe="/")


HELPERS: dict[str, Any] = {
    "clock": clock,
    "size": size,
    "cores": cores,
    "url_part": url_part,
    "url_path": url_path,
    "hostname": socket.gethostname(),
}


class Page(TaskHandler):
    def get_template_namespace(self) -> dict[str, Any]:
        namespace = super().get_template_namespace()
        namespace.update(HELPERS)
        return namespace


def table_view(handler: Page, which: str) -> dict[str, Any]:
    """One of the host page's two tables, with its paging and sorting links."""
    prefix = f"{which}_"
    sort = handler.get_query_argument("sort", "launch_time")
    sort = sort if sort in SORT_KEYS else "launch_time"
    order = "asc" if handler.get_query_argument("order", "desc") == "asc" else "desc"
    offset = handler.int_argument(prefix + "offset", 0)
    query = handler.get_query_argument("q", "")[:200]
    total, rows = handler.store.rows(
        which, sort=sort, descending=order == "desc", offset=offset, limit=PAGE_SIZE, query=query
    )
    base = {"sort": sort, "order": order, "q": query}
    others = {
        k: v[-1].decode()
        for k, v in handler.request.query_arguments.items()
        if k.endswith("_offset") and k != prefix + "offset"
    }

    def link(**changes: Any) -> str:
        params = {**others, **base, prefix + "offset": offset, **changes}
        return "/?" + urlencode({k: v for k, v in params.items() if v not in ("", 0)})

    def sort_url(key: str) -> str:
        flipped = "asc" if key == sort and order == "desc" else "desc"
        return link(sort=key, order=flipped, **{prefix + "offset": 0})

    return {
        "title": which.capitalize() + " tasks",
        "rows": rows,
        "total": total,
        "columns": COLUMNS,
        "sort": sort,
        "order": order,
        "sort_url": sort_url,
        "first": min(offset + 1, total),
        "last": min(offset + len(rows), total),
        "prev_url": link(**{prefix + "offset": max(0, offset - PAGE_SIZE)}) if offset else None,
        "next_url": link(**{prefix + "offset": offset + PAGE_SIZE})
        if offset + PAGE_SIZE < total
        else None,
        "fragment": "/fragments/tasks/" + which + link()[1:],
    }


class Host(Page):
    def get(self) -> None:
        tables = {which: table_view(self, which) for which in ("active", "finished")}
        self.render(
            "host.html",
            tables=tables,
            fragment_urls={w: t["fragment"] for w, t in tables.items()},
            query=self.get_query_argument("q", "")[:200],
        )


class TasksFragment(Page):
    def get(self, which: str) -> None:
        self.render("tasks_table.html", **table_view(self, which))


def task_view(handler: Page, task_id: str) -> dict[str, Any]:
    task = handler.task(task_id)
    detail = handler.detail(task)
    doc = task_document(task, detail)
    resources = doc["resources"] or {}
    ports = {int(p) for p in doc["ports"].values()}
    bound = listening(ports) if not task.finished else {}
    host = doc["hostname"] or HELPERS["hostname"]
    return {
        "task_id": task.task_id,
        "port_hosts": {port: link_host(bound.get(port, []), host) for port in ports},
        "active": not task.finished,
        "doc": doc,
        "usage": resources.get("task", {}),
        "process_usage": resources.get("processes", {}),
        "sample_time": resources.get("t"),
        "reserved": doc["reserved"] or {},
    }


class TaskPage(Page):
    def get(self, task_id: str) -> None:
        view = task_view(self, task_id)
        self.render("task.html", view=view, task_id=view["task_id"], active=view["active"])


class TaskFragment(Page):
    def get(self, task_id: str) -> None:
        self.render("task_body.html", **task_view(self, task_id))


class ConfigPage(Page):
    def get(self, task_id: str) -> None:
        task = self.task(task_id)
        detail = self.detail(task)
        if detail.spec is None:
            raise tornado.web.HTTPError(404, reason="the task file is missing or unreadable")
        text = json.dumps(task_to_json(detail.spec), indent=2, sort_keys=True)
        self.render("config.html", task_id=task.task_id, config=text)


class ProcessPage(Page):
    def get(self, task_id: str, name: str) -> None:
        task = self.task(task_id)
        detail = self.detail(task)
        if not known_process(detail, name):
            raise tornado.web.HTTPError(404, reason="no such process")
        doc = process_document(task, detail, name)
        self.render("process.html", task_id=task.task_id, name=name, doc=doc)


class LogPage(Page):
    def get(self, task_id: str, process: str, run: str, stream: str) -> None:
        task = self.task(task_id)
        detail = self.detail(task)
        runs = detail.state.runs(process)
        if not known_process(detail, process) or not 0 <= int(run) < len(runs):
            raise tornado.web.HTTPError(404, reason="no such process run")
        tid, proc = url_part(task.task_id), url_part(process)
        header = detail.state.header
        download = "#"
        if header is not None:
            live = run_log_in(Path(header.log_dir), process, int(run), stream)
            rel = str(live)[len(header.sandbox) :].lstrip("/")
            download = f"/download/{tid}/{url_path(rel)}"
        self.render(
            "viewer.html",
            task_id=task.task_id,
            title=f"{process} run {run} {stream}",
            mode="log",
            api=f"/api/v1/tasks/{tid}/logs/{proc}/{run}/{stream}",
            download=download,
            follow=not runs[int(run)].state.terminal,
        )


class FilePage(Page):
    def get(self, task_id: str, path: str) -> None:
        task = self.task(task_id)
        top = self.sandbox_dir(self.detail(task))
        with sandbox.open_entry(top, path) as entry:  # refuse what cannot be read, now
            rel = entry.rel
            if entry.is_dir:
                self.redirect(f"/browse/{url_part(task.task_id)}/{url_path(rel)}")
                return
        tid = url_part(task.task_id)
        self.render(
            "viewer.html",
            task_id=task.task_id,
            title=rel,
            mode="file",
            api=f"/api/v1/tasks/{tid}/files/{url_path(rel)}",
            download=f"/download/{tid}/{url_path(rel)}",
            follow=False,
        )


class BrowsePage(Page):
    def get(self, task_id: str, path: str | None = None) -> None:
        task = self.task(task_id)
        top = self.sandbox_dir(self.detail(task))
        with sandbox.open_entry(top, path or "") as entry:  # refuse what cannot be read, now
            rel = entry.rel
            if not entry.is_dir:
                self.redirect(f"/file/{url_part(task.task_id)}/{url_path(rel)}")
                return
            entries = sandbox.listing(entry)
        parts = rel.split("/") if rel else []
        parents = [
            (part, f"/browse/{url_part(task.task_id)}/{url_path('/'.join(parts[: i + 1]))}")
            for i, part in enumerate(parts)
        ]
        self.render(
            "browse.html",
            task_id=task.task_id,
            path=rel,
            sandbox=str(top),
            entries=entries,
            parents=parents,
        )

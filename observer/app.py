"""The observer's Tornado application, its routes, and the loop that keeps the store current.

One event loop serves every request and does all reading of checkpoints; the only other
thread is watchdog's, which turns changes in each root's ``tasks/`` directory into a
reconcile scheduled on the loop (a task appears, or its file moves to ``finished``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import tornado.ioloop
import tornado.web

from . import api, pages
from .base import NotFound
from .metrics import Metrics, MetricsHandler
from .store import TaskStore

# resolved: an editable install links each file, and static files are served only from the
# directory that holds them for real (Tornado refuses a link that leaves the static folder)
HERE = Path(__file__).resolve().parent
TASK = r"([^/]+)"
log = logging.getLogger("borealis.observer")


def routes() -> list[tuple[str, type[tornado.web.RequestHandler]]]:
    t = "/api/v1/tasks/" + TASK
    return [
        (r"/", pages.Host),
        (r"/fragments/tasks/(active|finished)", pages.TasksFragment),
        (r"/fragments/task/" + TASK, pages.TaskFragment),
        (r"/task/" + TASK, pages.TaskPage),
        (r"/task/" + TASK + r"/config", pages.ConfigPage),
        (r"/process/" + TASK + r"/([^/]+)", pages.ProcessPage),
        (r"/logs/" + TASK + r"/([^/]+)/(\d{1,9})/(stdout|stderr)", pages.LogPage),
        (r"/browse/" + TASK + r"/?", pages.BrowsePage),
        (r"/browse/" + TASK + r"/(.+)", pages.BrowsePage),
        (r"/file/" + TASK + r"/(.+)", pages.FilePage),
        (r"/download/" + TASK + r"/(.+)", api.Download),
        (r"/api/v1/tasks", api.Tasks),
        (t, api.Task),
        (t + r"/processes", api.Processes),
        (t + r"/processes/([^/]+)", api.Process),
        (t + r"/resources", api.Resources),
        (t + r"/config", api.Config),
        (t + r"/files/?", api.Files),
        (t + r"/files/(.+)", api.Files),
        (t + r"/download/(.+)", api.Download),
        (t + r"/logs/([^/]+)/(\d{1,9})/(stdout|stderr)", api.Logs),
        (r"/health", api.Health),
        (r"/metrics", MetricsHandler),
    ]


def make_app(
    store: TaskStore,
    *,
    auth_token: str | None,
    allowed_hosts: frozenset[str] | None = None,
) -> tornado.web.Application:
    """The observer's routes. ``auth_token`` has no default: ``None`` (``--no-auth``) opens
    every task's files to whoever reaches the port, so a caller says so. ``allowed_hosts``
    (default: the loopback names) is what a request's Host may name."""
    from borealis.contract.requestcheck import allowed_hosts as loopback

    metrics = Metrics(store)
    settings: dict[str, Any] = {
        "store": store,
        "metrics": metrics,
        "observe_request": metrics.observe,
        "auth_token": auth_token,
        "allowed_hosts": allowed_hosts if allowed_hosts is not None else loopback("127.0.0.1"),
        "template_path": str(HERE / "templates"),
        "static_path": str(HERE / "static"),
        "autoescape": "xhtml_escape",
        "compiled_template_cache": True,
        "serve_traceback": False,
        "default_handler_class": NotFound,
        "log_function": _log_request,
    }
    return tornado.web.Application(routes(), **settings)


def _log_request(handler: tornado.web.RequestHandler) -> None:
    status = handler.get_status()
    if status >= 500:
        log.error("%d %s", status, handler._request_summary())
    elif status >= 400:
        log.info("%d %s", status, handler._request_summary())


class Keeper:
    """Keeps the store current: periodic refresh and reconcile, plus file events."""

    def __init__(self, store: TaskStore, refresh: float, reconcile: float) -> None:
        self.store = store
        self.loop = tornado.ioloop.IOLoop.current()
        self._pending = False
        self._observer: Any = None
        self._watched: set[Path] = set()
        self._refresh = tornado.ioloop.PeriodicCallback(self._safe(store.refresh), refresh * 1000)
        self._reconcile = tornado.ioloop.PeriodicCallback(self.reconcile, reconcile * 1000)

    def start(self) -> None:
        self.reconcile()
        self._refresh.start()
        self._reconcile.start()

    def _safe(self, fn: Any) -> Any:
        def run() -> None:
            try:
                fn()
            except Exception:
                log.exception("keeping the task list current failed; retrying at the next tick")

        return run

    def reconcile(self) -> None:
        self._pending = False
        self._safe(self.store.reconcile)()
        self._safe(self._watch)()

    def _watch(self) -> None:
        """Watch each explicit root's ``tasks`` directory (roots found later are watched then)."""
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        keeper = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                keeper.loop.add_callback(keeper.soon)

        for root in self.store.roots:
            tasks = root.tasks_dir
            if tasks in self._watched or not tasks.is_dir():
                continue
            if self._observer is None:
                self._observer = Observer()
                self._observer.daemon = True
                self._observer.start()
            try:
                self._observer.schedule(Handler(), str(tasks), recursive=True)
            except OSError as e:  # e.g. out of inotify instances: the timer still reconciles
                log.warning("cannot watch %s (%s); relying on the periodic reconcile", tasks, e)
            self._watched.add(tasks)

    def soon(self) -> None:
        """Coalesce a burst of file events into one reconcile, 100 ms later."""
        if not self._pending:
            self._pending = True
            self.loop.call_later(0.1, self.reconcile)

    def stop(self) -> None:
        self._refresh.stop()
        self._reconcile.stop()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)

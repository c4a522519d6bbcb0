"""The scheduler's Tornado application: the JSON API (``api.py``), the pages (``pages.py``)
and their static files, every route behind the same Host and Origin checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tornado.web

from . import api, pages
from .core import Scheduler
from .cron import api as cron_api

# resolved: an editable install links each file, and Tornado serves static files only from
# the directory that really holds them
HERE = Path(__file__).resolve().parent


class Static(tornado.web.StaticFileHandler):
    """The stylesheet, the script and the icon: public, but Host and Origin are checked."""

    def prepare(self) -> None:
        api.check_request(self, None)

    def set_extra_headers(self, path: str) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")


def routes() -> list[tuple[str, type[tornado.web.RequestHandler]]]:
    k = r"/api/v1/jobs/" + api.KEY
    u = r"/api/v1/updates/([0-9a-f-]{36})"
    return [
        *pages.routes(),
        (r"/api/v1/jobs", api.Jobs),
        (k, api.Job),
        (k + r"/kill", api.KillJob),
        (k + r"/restart", api.RestartJob),
        (k + r"/add", api.AddInstances),
        (k + r"/updates", api.JobUpdates),
        (k + r"/sla", api.JobSlaFigures),
        (u, api.UpdateDetail),
        (u + r"/(pause|resume|abort|rollback|pulse)", api.UpdateVerb),
        *cron_api.routes(),
        (r"/api/v1/tasks", api.Tasks),
        (r"/api/v1/tasks/([A-Za-z0-9_.-]+)", api.TaskHistory),
        (r"/health", api.Health),
    ]


def make_app(
    scheduler: Scheduler,
    observer_url: str = "",
    *,
    token: str,
    allowed_hosts: frozenset[str],
) -> tornado.web.Application:
    settings: dict[str, Any] = {
        "scheduler": scheduler,
        "observer_url": observer_url,
        "token": token,
        "allowed_hosts": allowed_hosts,
        "template_path": str(HERE / "templates"),
        "static_path": str(HERE / "static"),
        "static_handler_class": Static,
        "autoescape": "xhtml_escape",
        "compiled_template_cache": True,
        "serve_traceback": False,
        "default_handler_class": pages.NoPage,
    }
    return tornado.web.Application(routes(), **settings)

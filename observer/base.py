"""What every observer request goes through: the token check, headers, errors.

* A bearer token unless the operator chose ``--no-auth`` (the observer runs as root and
  reads every task's private files): every route but ``/health`` and the static files needs
  ``Authorization: Bearer <token>`` or the cookie a browser gets by opening any page once
  with ``?token=<token>`` (the observer then redirects to the same page without it).
* Before the token: the Host, Origin and content-type rules every Borealis daemon applies
  (``contract/requestcheck.py``), so a DNS-rebinding page or another site gets nothing.
* Headers that keep a browser from running anything it did not get from the observer
  itself (a strict ``Content-Security-Policy``: no inline scripts), from sniffing a log
  into HTML, or from framing the pages.
* Errors are one JSON object (``{"error": ...}``) under ``/api/`` and a short escaped page
  elsewhere; never a traceback.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import tornado.web

from borealis.contract import credentials, requestcheck

from .sandbox import Refused
from .store import TaskStore

COOKIE = "borealis_observer_token"
NEED_TOKEN = (
    "a valid token is needed: open the ?token= link the observer printed at its start,"
    " or send Authorization: Bearer TOKEN (ROOT/secrets/observer.token)"
)
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def on_site(path: str) -> str:
    """``path`` as a redirect target that stays on this site: one leading slash, never the
    ``//host`` or ``/\\host`` a browser would take for another site."""
    return "/" + path.lstrip("/\\")


class BaseHandler(tornado.web.RequestHandler):
    public = False  # True: no token needed (/health)
    _started: float | None = None  # set by prepare(), which a non-UTF-8 path never reaches

    @property
    def store(self) -> TaskStore:
        store: TaskStore = self.application.settings["store"]
        return store

    def set_default_headers(self) -> None:
        self.set_header("Content-Security-Policy", CSP)
        for name, value in requestcheck.PAGE_HEADERS.items():
            self.set_header(name, value)

    def prepare(self) -> None:
        self._started = time.monotonic()
        request = self.request
        refusal = requestcheck.refusal_of(
            request.method or "", request.host, request.headers, self.settings["allowed_hosts"]
        )
        if refusal is not None:
            raise tornado.web.HTTPError(
                requestcheck.STATUS[refusal], reason=requestcheck.MESSAGE[refusal]
            )
        token: str | None = self.settings.get("auth_token")
        if token is None or self.public:
            return
        given = credentials.bearer(self.request.headers.get("Authorization"))
        if credentials.matches(given, token) or credentials.matches(self.get_cookie(COOKIE), token):
            return
        offered = self.get_query_argument("token", None)
        if credentials.matches(offered, token):
            self.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
            rest = {
                k: v[-1].decode("utf-8", "replace")
                for k, v in self.request.query_arguments.items()
                if k != "token"
            }
            self.redirect(on_site(self.request.path) + (f"?{urlencode(rest)}" if rest else ""))
            return
        self.set_header("WWW-Authenticate", 'Bearer realm="borealis-observer"')
        raise tornado.web.HTTPError(401, reason=NEED_TOKEN)

    def on_finish(self) -> None:
        observe = self.settings.get("observe_request")
        if observe is not None:
            took = 0.0 if self._started is None else time.monotonic() - self._started
            observe(type(self).__name__, self.get_status(), took)

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            # A name that is not UTF-8 names nothing the observer serves (not "bad request").
            raise tornado.web.HTTPError(404, reason="no such file") from None

    def write_json(self, value: Any) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(value, separators=(",", ":")))

    def int_argument(self, name: str, default: int, minimum: int = 0) -> int:
        text = self.get_query_argument(name, None)
        if text is None or text == "":
            return default
        try:
            value = int(text)
        except ValueError:
            raise tornado.web.HTTPError(400, reason=f"{name} must be an integer") from None
        if value < minimum:
            raise tornado.web.HTTPError(400, reason=f"{name} must be at least {minimum}")
        return value

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, Refused):
            self.send_error(e.status, reason=str(e))
            return
        super()._handle_request_exception(e)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        reason = self._reason
        if status_code >= 500:
            reason = "internal error (see the observer's log)"
        if self.request.path.startswith("/api/"):
            self.set_header("Content-Type", "application/json; charset=UTF-8")
            self.finish(json.dumps({"error": reason, "status": status_code}))
            return
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(
            self.render_string("error.html", status=status_code, reason=reason)
            if self.settings.get("template_path")
            else tornado.escape.xhtml_escape(f"{status_code}: {reason}")
        )


class NotFound(BaseHandler):
    def prepare(self) -> None:
        super().prepare()
        raise tornado.web.HTTPError(404, reason="no such page")

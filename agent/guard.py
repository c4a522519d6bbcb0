"""What every request to ``borealis agent`` goes through before its handler: the Host, Origin
and content-type rules of ``contract/requestcheck.py``, then the agent's bearer token (unless
the route is public), and the one-line JSON error every refusal becomes."""

from __future__ import annotations

import json
from typing import Any

import tornado.web

from borealis.contract import requestcheck
from borealis.contract.requestcheck import RequestRefusal

from .refused import Refused


class Turned(tornado.web.HTTPError):
    """A request refused before its handler ran (``contract/requestcheck.py``)."""

    def __init__(self, refusal: RequestRefusal) -> None:
        super().__init__(requestcheck.STATUS[refusal], reason=requestcheck.MESSAGE[refusal])
        self.refusal = refusal


class Guarded(tornado.web.RequestHandler):
    """Host and Origin for every request, JSON for state changes, the token unless public."""

    public = False
    json_body = True

    def prepare(self) -> None:
        request = self.request
        refusal = requestcheck.refusal_of(
            request.method or "",
            request.host,
            request.headers,
            self.settings["allowed_hosts"],
            token=None if self.public else self.settings["token"],
            json_body=self.json_body,
        )
        if refusal is not None:
            if refusal is RequestRefusal.NO_CREDENTIAL:
                self.set_header("WWW-Authenticate", 'Bearer realm="borealis-agent"')
            raise Turned(refusal)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json")
        error = kwargs.get("exc_info", (None, None))[1]
        refusal = error.refusal.value if isinstance(error, Refused | Turned) else None
        self.finish(json.dumps({"error": self._reason, "status": status_code, "refusal": refusal}))

"""A refused call of the agent's framework API, carrying its ``Refusal`` value."""

from __future__ import annotations

import tornado.web

from borealis.contract.agentapi import STATUS, Refusal
from borealis.contract.requestcheck import reason_text


class Refused(tornado.web.HTTPError):
    """A refused call of the framework API, with its ``Refusal`` (``contract/agentapi.py``)."""

    def __init__(self, refusal: Refusal, message: str) -> None:
        super().__init__(STATUS[refusal], reason=reason_text(message))
        self.refusal = refusal

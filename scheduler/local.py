"""The embedded backend: one host, this machine, driven through ``borealis agent``'s JSON API
(docs/mesos.md), with the agent's bearer token on every call. Launches build the executor's
envelope from the job and the assigned ports."""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from borealis.contract import agentapi
from borealis.contract.agentapi import Refusal
from borealis.contract.credentials import CredentialError, read_token
from borealis.contract.envelope import Envelope
from borealis.contract.jobspec import JobSpec
from borealis.contract.mesos import MesosState

from .core import LaunchProblem
from .placement import Host
from .store import Task

log = logging.getLogger("borealis.scheduler")
FRAMEWORK_ID = "borealis-scheduler"


def envelope(task: Task, job: JobSpec) -> dict[str, Any]:
    """The executor's launch envelope (contract/envelope.py) for one run of ``job``."""
    return Envelope(
        job=replace(job.key, cluster=""),  # an envelope names no cluster
        task=job.task,
        instance=task.instance,
        ports=task.ports,
        health_check=job.health_check,
        announce=job.announce,
        lifecycle=job.lifecycle,
        container=job.container,
    ).to_json()


class LocalBackend:
    def __init__(
        self,
        agent_url: str,
        *,
        hostname: str | None = None,
        cpu: float | None = None,
        ram: int | None = None,
        disk: int | None = None,
        ports: tuple[tuple[int, int], ...] = ((31000, 32000),),
        work_dir: str = "/",
        agent_token_file: Path | None = None,
    ) -> None:
        self.agent_url = agent_url.rstrip("/")
        self.agent_token_file = agent_token_file
        self._token = ""
        self.hostname = hostname or socket.gethostname()
        self.cpu = cpu if cpu is not None else float(os.cpu_count() or 1)
        self.ram = ram if ram is not None else psutil.virtual_memory().total
        self.disk = disk if disk is not None else shutil.disk_usage(work_dir).free
        self.ports = ports
        # what the agent says of itself (``containers=docker,mesos`` with --ignore-container),
        # from its latest answer to ``known`` or ``updates``
        self.agent_attributes: dict[str, str] = {}
        self.http = AsyncHTTPClient()

    @property
    def auth(self) -> dict[str, str]:
        """The agent's token as a header, read when first needed (the agent makes it at its
        first start, which may come after ours)."""
        if not self._token and self.agent_token_file is not None:
            try:
                self._token = read_token(self.agent_token_file)
            except CredentialError as e:
                log.warning("no agent token yet: %s", e)
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def _check_auth(self, code: int) -> None:
        if code in (401, 403) and self._token:
            log.warning("the agent refused our token (%d): reading it again", code)
            self._token = ""  # rotated: the next call reads the file again

    def hosts(self) -> list[Host]:
        return [
            Host(
                self.hostname,
                self.cpu,
                self.ram,
                self.disk,
                self.ports,
                dict(self.agent_attributes),
            )
        ]

    def _heard(self, body: dict[str, Any]) -> None:
        attributes = body.get("attributes")
        if isinstance(attributes, dict):
            self.agent_attributes = {str(k): str(v) for k, v in attributes.items()}

    async def _post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        request = HTTPRequest(
            self.agent_url + path,
            method="POST",
            headers={"Content-Type": "application/json", **self.auth},
            body=json.dumps(body),
            request_timeout=30,
        )
        try:
            response = await self.http.fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as e:
            return 599, {"error": str(e)}
        self._check_auth(response.code)
        try:
            return response.code, json.loads(response.body or b"{}")
        except json.JSONDecodeError:
            return response.code, {"error": (response.body or b"")[:200].decode("utf-8", "replace")}

    async def launch(self, task: Task, job: JobSpec) -> LaunchProblem | None:
        data = json.dumps(envelope(task, job)).encode()
        task_info = {
            "name": job.key.path(),
            "task_id": {"value": task.task_id},
            "agent_id": {"value": self.hostname},
            "data": base64.b64encode(data).decode(),
        }
        code, reply = await self._post(
            agentapi.LAUNCH,
            {
                "task_info": task_info,
                "framework_id": FRAMEWORK_ID,
                "capabilities": ["TASK_KILLING_STATE"],
                "checkpoint": True,
                "user": job.key.role,  # as Mesos' CommandInfo.user: the role fetches
            },
        )
        if code != 200:
            known = {r.value: r for r in Refusal}
            message = str(reply.get("error") or f"agent answered {code}")
            return LaunchProblem(message, known.get(str(reply.get("refusal"))))
        log.info("launched %s on %s", task.task_id, self.hostname)
        return None

    async def flush(self) -> None:
        pass  # every launch was sent at once

    async def wants_offers(self, wanted: bool) -> None:
        pass  # the agent's host is always there

    async def kill(self, task: Task) -> None:
        code, reply = await self._post(agentapi.KILL, {"task_id": task.task_id})
        if code != 200:
            log.info("kill %s: %s", task.task_id, reply.get("error"))

    async def ping(self, timeout: float) -> bool:
        """Whether the agent answers its health check within ``timeout`` seconds."""
        request = HTTPRequest(
            f"{self.agent_url}/health", connect_timeout=timeout, request_timeout=timeout
        )
        try:
            response = await self.http.fetch(request, raise_error=False)
        except (OSError, HTTPClientError):
            return False
        return response.code == 200

    async def updates(self, after: int, wait: float) -> tuple[list[dict[str, Any]], int]:
        request = HTTPRequest(
            f"{self.agent_url}{agentapi.UPDATES}?after={after}&wait={wait:g}",
            headers=self.auth,
            request_timeout=wait + 30,
        )
        try:
            response = await self.http.fetch(request)
        except HTTPClientError as e:
            self._check_auth(e.code)
            raise
        body = json.loads(response.body)
        self._heard(body)
        return body["updates"], int(body["last"])

    async def known(self) -> dict[str, MesosState]:
        """Every task the agent holds, with its latest state."""
        response = await self.http.fetch(
            f"{self.agent_url}{agentapi.STATE}", headers=self.auth, request_timeout=30
        )
        state = json.loads(response.body)
        self._heard(state)
        known: dict[str, MesosState] = {}
        for executor in state["executors"]:
            if executor["framework_id"] != FRAMEWORK_ID:
                continue
            for task_id, text in executor["tasks"].items():
                parsed = MesosState.parse(text)
                if parsed is not None:
                    known[task_id] = parsed
        return known

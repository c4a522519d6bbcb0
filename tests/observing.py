"""Helpers for the observer's tests: a ``borealis observer`` started on a free port, raw HTTP
requests to it (paths sent verbatim, with the token it printed), and the synthetic host the
fixtures build."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support import REPO, wait_for

from borealis.contract.layout import CheckpointRoot


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Observer:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    token: str | None  # from the login URL it printed; None with --no-auth

    @property
    def login_url(self) -> str:
        """The URL that logs a browser in (sets the cookie), as the observer printed it."""
        return self.url if self.token is None else f"{self.url}?token={self.token}"

    def get(
        self,
        path: str,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
        *,
        auth: bool = True,
    ) -> Response:
        """GET ``path`` sent verbatim (no client-side normalisation of ``..`` or escapes),
        with ``Authorization: Bearer`` and the observer's token unless ``auth`` is False."""
        sent = {"Authorization": f"Bearer {self.token}"} if auth and self.token else {}
        sent.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.putrequest("GET", path, skip_accept_encoding=True)
            for name, value in sent.items():
                conn.putheader(name, value)
            conn.endheaders()
            resp = conn.getresponse()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    def json(self, path: str) -> Any:
        resp = self.get(path)
        assert resp.status == 200, (path, resp.status, resp.text)
        return resp.json()


def start_observer(log: Path, *args: str) -> Observer:
    out = open(log, "wb")  # noqa: SIM115 (kept open for the process's lifetime)
    proc = subprocess.Popen(
        [sys.executable, "-m", "borealis.cli.main", "observer", "--port", "0", *args],
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    out.close()

    def url() -> str | None:
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", log.read_text())
        if proc.poll() is not None:
            raise AssertionError(f"the observer exited: {log.read_text()}")
        return found.group(0) if found else None

    address = wait_for(url, timeout=30, what="the observer's URL")
    login = re.search(r"http://127\.0\.0\.1:\d+/\?token=([A-Za-z0-9_-]+)", log.read_text())
    token = login.group(1) if login else None
    return Observer(address, int(address.rsplit(":", 1)[1].strip("/")), proc, log, token)


def stop_observer(observer: Observer) -> None:
    observer.process.terminate()
    try:
        observer.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        observer.process.kill()
        observer.process.wait()


@dataclass
class Host:
    root: CheckpointRoot
    observer: Observer
    configs: Path

    def sandbox(self, task_id: str) -> Path:
        return self.root.path / "sandboxes" / task_id

"""What a caller without a credential can make a daemon do before it is refused: nothing
expensive. The executor API checks the secret before it parses a body (a deep or huge-number
body from nobody is a 401, not a 500 with a traceback, and does not say whether an executor id
exists); every JSON body reader answers deep nesting and over-long numbers with a one-line
400; a client that never finishes its body is cut off; Host headers that are not
``name[:port]`` name no daemon. Red-team findings on the first security round."""

from __future__ import annotations

import socket
import time

import pytest
from daemons import Daemon

DEEP = b"[" * 100_000 + b"]" * 100_000
LONG_NUMBER = b'{"type": ' + b"9" * 5000 + b"}"
EXECUTOR_API = "/api/v1/executor"


@pytest.mark.parametrize("body", [DEEP, LONG_NUMBER], ids=["deep", "long-number"])
def test_executor_api_refuses_before_parsing(agent: Daemon, body: bytes) -> None:
    reply = agent.request("POST", EXECUTOR_API, body, auth=False)
    assert reply.status == 401, reply.text
    wrong = agent.request("POST", EXECUTOR_API, body, auth="x" * 40)
    assert wrong.status == 403, wrong.text
    assert "Traceback" not in agent.logged()


def test_executor_api_does_not_tell_which_executors_exist(agent: Daemon) -> None:
    call = b'{"type": "SUBSCRIBE", "framework_id": {"value": "f"}, "executor_id": {"value": "e"}}'
    # no live executor, any secret: the same answer an existing id would get
    assert agent.request("POST", EXECUTOR_API, call, auth="y" * 40).status == 403


@pytest.mark.parametrize("body", [DEEP, LONG_NUMBER], ids=["deep", "long-number"])
def test_framework_and_scheduler_bodies_are_clean_400s(
    agent: Daemon, scheduler: Daemon, body: bytes
) -> None:
    for daemon, path in ((agent, "/api/v1/agent/launch"), (scheduler, "/api/v1/jobs")):
        reply = daemon.request("POST", path, body)
        assert reply.status == 400, (path, reply.status, reply.text)
        assert reply.text.count("\n") == 0
        assert "Traceback" not in daemon.logged()


def test_a_body_that_never_arrives_is_cut_off(agent: Daemon) -> None:
    # Headers promise a body that never comes: the daemon does not hold the connection (and
    # the memory of a buffered body) for ever. 30 s is the body timeout.
    sock = socket.create_connection(("127.0.0.1", agent.port), timeout=60)
    try:
        sock.sendall(
            b"POST /api/v1/agent/launch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"
        )
        started = time.monotonic()
        closed = sock.recv(4096) == b""  # EOF: the daemon hung up
        assert closed or time.monotonic() - started < 60
    finally:
        sock.close()
    assert agent.request("GET", "/health", auth=False).status == 200


def test_a_body_larger_than_the_agent_takes_is_refused(agent: Daemon) -> None:
    try:
        padded = b'{"pad": "' + b"x" * (2 << 20) + b'"}'
        status = agent.request("POST", "/api/v1/agent/launch", padded, auth=False).status
    except ConnectionError:
        status = 0  # the agent hung up before reading it all
    assert status in (0, 413), status  # not read whole (then refused for lack of a token)
    assert agent.request("GET", "/health", auth=False).status == 200


@pytest.mark.parametrize(
    "host", ["localhost:evil", "[::1]evil.example", "localhost..", "127.0.0.1:80:80"]
)
def test_malformed_host_headers_name_no_daemon(agent: Daemon, host: str) -> None:
    reply = agent.request("GET", "/api/v1/agent/state", headers={"Host": host})
    assert reply.status in (400, 421), (host, reply.status)

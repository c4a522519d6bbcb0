"""Request hygiene on all four HTTP surfaces: state changes must be ``application/json`` (the
content types a cross-site page may send without a preflight are 415, even with the right
token), a foreign ``Origin`` is refused, and a foreign ``Host`` (DNS rebinding: the page's
name resolved to 127.0.0.1) is refused on the agent, its executor API, the scheduler and the
observer, before any token or body is looked at."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from daemons import Daemon, executors, job, start, task_info

from borealis.contract.layout import CheckpointRoot

CROSS_SITE_TYPES = [
    None,
    "text/plain",
    "application/x-www-form-urlencoded",
]
EVIL = "http://evil.example"


@pytest.mark.parametrize("content_type", CROSS_SITE_TYPES)
def test_agent_launch_and_scheduler_jobs_need_json(
    scheduler: Daemon, agent: Daemon, tmp_path: Path, content_type: str | None
) -> None:
    marker = tmp_path / "marker"
    launch = {"task_info": task_info("t1"), "executor_command": f"touch {marker}"}
    headers = {} if content_type is None else {"Content-Type": content_type}
    for origin in (None, EVIL):
        sent = {**headers, **({"Origin": origin} if origin else {})}
        body = json.dumps(launch).encode()
        reply = agent.request(
            "POST", "/api/v1/agent/launch", body, sent, auth=True, json_type=False
        )
        assert reply.status in (403, 415), (origin, reply.status, reply.text)
        body = json.dumps(job("evil", f"touch {marker}")).encode()
        reply = scheduler.request("POST", "/api/v1/jobs", body, sent, auth=True, json_type=False)
        assert reply.status in (403, 415), (origin, reply.status, reply.text)
    assert executors(agent) == [] and not marker.exists()
    assert scheduler.request("GET", "/api/v1/jobs").json()["jobs"] == []


def test_a_foreign_origin_is_refused_even_with_json_and_the_token(
    scheduler: Daemon, agent: Daemon, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    launch = {"task_info": task_info("t1"), "executor_command": f"touch {marker}"}
    for origin in (EVIL, "null", f"http://localhost:{agent.port + 1}"):
        reply = agent.post_json("/api/v1/agent/launch", launch, headers={"Origin": origin})
        assert reply.status == 403, reply.text
        reply = scheduler.post_json(
            "/api/v1/jobs", job("evil", f"touch {marker}"), headers={"Origin": origin}
        )
        assert reply.status == 403, reply.text
        got = agent.request("GET", "/api/v1/agent/state", headers={"Origin": origin})
        assert got.status == 403
    assert executors(agent) == [] and not marker.exists()
    # the daemon's own origin is not foreign
    own = agent.request("GET", "/api/v1/agent/state", headers={"Origin": agent.url})
    assert own.status == 200, own.text


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.nip.io", "[::2]"])
def test_a_foreign_host_is_refused_on_every_daemon(
    scheduler: Daemon, agent: Daemon, observer: Daemon, host: str
) -> None:
    checks = [
        (agent, "GET", "/api/v1/agent/state", None),
        (agent, "POST", "/api/v1/agent/launch", {"task_info": task_info("t1")}),
        (agent, "POST", "/api/v1/executor", {"type": "HEARTBEAT"}),
        (scheduler, "GET", "/api/v1/jobs", None),
        (scheduler, "GET", "/", None),
        (observer, "GET", "/", None),
        (observer, "GET", "/api/v1/tasks", None),
    ]
    for daemon, method, path, body in checks:
        data = None if body is None else json.dumps(body).encode()
        reply = daemon.request(method, path, data, {"Host": host})
        assert reply.status in (403, 421), (daemon.name, path, reply.status, reply.text)
        assert "Traceback" not in reply.text
    assert executors(agent) == []
    # the loopback names are this daemon's
    for name in ("localhost", "127.0.0.1", "LOCALHOST."):
        assert observer.request("GET", "/api/v1/tasks", headers={"Host": f"{name}:1"}).status == 200


def test_allow_host_adds_a_name(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    observer = start(
        "observer",
        ["--root", str(tmp_path / "r"), "--allow-host", "obs.internal"],
        tmp_path / "o.log",
        CheckpointRoot(tmp_path / "r").observer_token,
    )
    try:
        assert observer.request("GET", "/", headers={"Host": "obs.internal:1338"}).status == 200
        assert observer.request("GET", "/", headers={"Host": "other.internal"}).status == 421
    finally:
        observer.stop()


def observer_with_token(tmp_path: Path) -> tuple[Daemon, str]:
    """An observer whose token the test knows (``--auth-token-file``), and that token."""
    (tmp_path / "r").mkdir()
    token_file = tmp_path / "token"
    token = "observer-token-0123456789"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)  # a token file must be private
    observer = start(
        "observer",
        ["--root", str(tmp_path / "r"), "--auth-token-file", str(token_file)],
        tmp_path / "o.log",
        None,
    )
    return observer, token


def test_observer_redirect_stays_on_site_and_odd_paths_are_clean(tmp_path: Path) -> None:
    observer, token = observer_with_token(tmp_path)
    try:
        for path in ("//evil.example/", "/\\evil.example/", "//\\evil.example/x"):
            conn_reply = raw_get(observer, f"{path}?token={token}".encode())
            location = conn_reply[1].get("location", "")
            assert conn_reply[0] in (301, 302), conn_reply
            assert location.startswith("/") and not location.startswith(("//", "/\\")), location
    finally:
        observer.stop()
    assert "Traceback" not in observer.logged()


def test_observer_non_utf8_paths_and_queries_are_clean_refusals(tmp_path: Path) -> None:
    observer, token = observer_with_token(tmp_path)
    auth = b"token=" + token.encode()
    try:
        for target, allowed in (
            (b"/task/%ff/config", (400, 404)),
            (b"/task/%ff%fe?" + auth, (400, 404)),
            (b"/logs/%ff/p/0/stdout", (400, 404)),
            (b"/api/v1/tasks/%ff", (400, 404)),
            (b"/task/\xff\xfe/config", (400, 401, 404)),
            (b"/x?a=%ff&" + auth, (302, 400, 404)),
        ):
            status, _, _ = raw_get(observer, target)
            assert status in allowed, (target, status)
        assert raw_get(observer, b"/health")[0] == 200
    finally:
        observer.stop()
    assert "Traceback" not in observer.logged()


def raw_get(daemon: Daemon, target: bytes) -> tuple[int, dict[str, str], bytes]:
    """A GET with the request line written by hand (a path http.client would refuse)."""
    import socket

    head = b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as sock:
        sock.sendall(b"GET " + target + head)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    header, _, body = data.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body

"""Serversets in a real ZooKeeper (Debian's package, started by the tests): the exact member
JSON, re-joining after deletion, session expiry and a ZooKeeper restart, leaving before the
service is stopped, digest ACLs, and ``borealis serverset``."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster import AgentProcess, envelope, running_agent
from kazoo.client import KazooClient
from support import REPO, borealis, wait_for
from zookeeper import ZooKeeper, free_port

SERVICE = REPO / "tests" / "tools" / "lifecycle_service.py"
PATH = "/aurora/www-data/devel/svc"


@pytest.fixture(scope="module")
def zookeeper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooKeeper]:
    server = ZooKeeper(tmp_path_factory.mktemp("zookeeper"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def zk(zookeeper: ZooKeeper) -> Iterator[KazooClient]:
    client = KazooClient(hosts=zookeeper.hosts)
    client.start(timeout=15)
    if client.exists("/aurora"):
        client.delete("/aurora", recursive=True)
    yield client
    client.stop()
    client.close()


@pytest.fixture
def zk_agent(tmp_path: Path, zookeeper: ZooKeeper) -> Iterator[AgentProcess]:
    env = {
        "BOREALIS_ANNOUNCER_ENSEMBLE": zookeeper.hosts,
        "BOREALIS_ANNOUNCER_SESSION_TIMEOUT": "2s",
    }
    with running_agent(tmp_path, env) as process:
        yield process


def members(zk: KazooClient, path: str = PATH) -> dict[str, Any]:
    if not zk.exists(path):
        return {}
    return {c: json.loads(zk.get(f"{path}/{c}")[0]) for c in zk.get_children(path)}


def announced_service(agent: AgentProcess, task_id: str, **extra: Any) -> tuple[int, int]:
    http, health = free_port(), free_port()
    env = envelope(
        {
            "name": "web",
            "cmdline": f"exec {sys.executable} {SERVICE} {{{{thermos.ports[health]}}}} hits.log",
        },
        ports={"http": http, "health": health},
        instance=3,
        lifecycle={"http": None},
        **{"announce": {"primary_port": "http"}, **extra},
    )
    agent.launch(task_id, env)
    return http, health


def test_member_appears_with_the_exact_json(zk_agent: AgentProcess, zk: KazooClient) -> None:
    http, health = announced_service(zk_agent, "a1")
    zk_agent.wait_state("a1", "TASK_RUNNING")
    found = wait_for(lambda: members(zk), 20, "a member")
    ((name, data),) = found.items()
    assert name.startswith("member_") and len(name) == len("member_") + 10
    host = socket.getfqdn()
    assert data == {
        "serviceEndpoint": {"host": host, "port": http},
        "additionalEndpoints": {
            "aurora": {"host": host, "port": http},
            "health": {"host": host, "port": health},
            "http": {"host": host, "port": http},
        },
        "status": "ALIVE",
        "shard": 3,
    }
    _, stat = zk.get(f"{PATH}/{name}")
    assert stat.ephemeralOwner != 0


def test_member_announces_port_map_aliases_and_static_ports(
    zk_agent: AgentProcess, zk: KazooClient
) -> None:
    # http_example.aurora's map plus a static port; the primary port is the alias
    announce = {"primary_port": "alias", "portmap": {"alias": "http", "admin": "8443"}}
    http, health = announced_service(zk_agent, "a7", announce=announce)
    zk_agent.wait_state("a7", "TASK_RUNNING")
    found = wait_for(lambda: members(zk), 20, "a member")
    ((_name, data),) = found.items()
    host = socket.getfqdn()
    assert data["serviceEndpoint"] == {"host": host, "port": http}
    assert data["additionalEndpoints"] == {
        "admin": {"host": host, "port": 8443},
        "alias": {"host": host, "port": http},
        "health": {"host": host, "port": health},
        "http": {"host": host, "port": http},
    }


def test_deleted_member_is_created_again(zk_agent: AgentProcess, zk: KazooClient) -> None:
    announced_service(zk_agent, "a2")
    first = wait_for(lambda: members(zk), 20, "a member")
    (name,) = first
    zk.delete(f"{PATH}/{name}")
    again = wait_for(lambda: (m := members(zk)) and name not in m and m, 20, "a new member")
    assert len(again) == 1 and next(iter(again.values())) == first[name]


def test_session_expiry_creates_the_member_again(zk_agent: AgentProcess, zk: KazooClient) -> None:
    announced_service(zk_agent, "a3")
    (name,) = wait_for(lambda: members(zk), 20, "a member")
    executor = zk_agent.executor("a3")
    os.kill(executor["pid"], signal.SIGSTOP)  # frozen past its 2 s session: the server expires it
    try:
        wait_for(lambda: not members(zk), 20, "the session to expire")
    finally:
        os.kill(executor["pid"], signal.SIGCONT)
    again = wait_for(lambda: members(zk), 30, "the member to come back")
    assert name not in again and len(again) == 1


@pytest.mark.parametrize(
    ("session", "away", "kept"),
    [
        # back within its session: the same member (30 s: a ZooKeeper restart on a loaded
        # machine, then the client's reconnect, once took longer than a 10 s session in CI)
        ("30s", 0.0, True),
        ("2s", 4.0, False),  # back after it: the server expired it, a new member
    ],
    ids=["within-the-session", "after-the-session"],
)
def test_a_zookeeper_restart(
    tmp_path: Path, zookeeper: ZooKeeper, zk: KazooClient, session: str, away: float, kept: bool
) -> None:
    """ZooKeeper keeps sessions across a restart and gives each its whole timeout again from
    the moment it is up. The executor is frozen while ZooKeeper restarts and for ``away``
    seconds after, so when its announcer reconnects is set by the test, not by luck (a client
    that connects while the server is still starting waits a whole session for an answer)."""
    env = {"BOREALIS_ANNOUNCER_ENSEMBLE": zookeeper.hosts,
           "BOREALIS_ANNOUNCER_SESSION_TIMEOUT": session}  # fmt: skip
    with running_agent(tmp_path, env) as agent:
        announced_service(agent, "a4")
        ((name, _),) = wait_for(lambda: members(zk), 20, "a member").items()
        _, before = zk.get(f"{PATH}/{name}")
        executor = agent.executor("a4")["pid"]
        os.kill(executor, signal.SIGSTOP)
        try:
            zookeeper.stop()
            zookeeper.start()
            fresh = KazooClient(hosts=zookeeper.hosts)
            fresh.start(timeout=15)
            deadline = time.monotonic() + away
            while time.monotonic() < deadline:  # the frozen announcer's session runs out
                time.sleep(0.1)
        finally:
            os.kill(executor, signal.SIGCONT)
        try:
            if kept:
                wait_for(lambda: agent_reconnected(agent, "a4"), 60, "the announcer to reconnect")
                assert list(members(fresh)) == [name]
                _, after = fresh.get(f"{PATH}/{name}")
                assert (after.czxid, after.ephemeralOwner) == (before.czxid, before.ephemeralOwner)
            else:
                again = wait_for(lambda: (m := members(fresh)) and name not in m and m, 30,
                                 "a new member", seen=lambda: members(fresh))  # fmt: skip
                assert len(again) == 1
                (new,) = again
                _, after = fresh.get(f"{PATH}/{new}")
                assert after.ephemeralOwner != before.ephemeralOwner  # a new session
            deadline = time.monotonic() + 1  # a duplicate would show up now
            while time.monotonic() < deadline:
                assert len(members(fresh)) == 1
        finally:
            fresh.stop()
            fresh.close()
            agent.post("/api/v1/agent/kill", {"task_id": "a4"})
            agent.wait_state("a4", "TASK_KILLED")


def agent_reconnected(agent: AgentProcess, task_id: str) -> bool:
    log = Path(agent.executor(task_id)["run_dir"]) / "stderr"
    return log.read_text().count("Zookeeper connection established") >= 2


def test_member_is_gone_before_the_service_gets_sigterm(
    zk_agent: AgentProcess, zk: KazooClient
) -> None:
    announced_service(zk_agent, "a5")
    wait_for(lambda: members(zk), 20, "a member")
    gone_at: list[float] = []
    seen = threading.Event()

    def watch(children: list[str]) -> None:
        if not children and not gone_at:
            gone_at.append(time.time())
            seen.set()

    zk.ChildrenWatch(PATH, watch)
    zk_agent.post("/api/v1/agent/kill", {"task_id": "a5"})
    zk_agent.wait_state("a5", "TASK_KILLED")
    assert seen.wait(10)
    hits = Path(zk_agent.executor("a5")["run_dir"]) / "sandbox" / "hits.log"
    sigterm = next(
        float(line.split()[0]) for line in hits.read_text().splitlines() if line.endswith("SIGTERM")
    )
    assert gone_at[0] < sigterm


def test_serverset_command_lists_members_as_finagle_does(
    zk: KazooClient, zookeeper: ZooKeeper
) -> None:
    zk.ensure_path("/aurora/r/e/j")
    good = {
        "serviceEndpoint": {"host": "h1", "port": 31000},
        "additionalEndpoints": {"http": {"host": "h1", "port": 31000}},
        "status": "ALIVE",
        "shard": 0,
    }
    zk.create("/aurora/r/e/j/member_", json.dumps(good).encode(), ephemeral=True, sequence=True)
    zk.create(
        "/aurora/r/e/j/member_",
        json.dumps({**good, "status": "DEAD"}).encode(),
        ephemeral=True,
        sequence=True,
    )
    zk.create("/aurora/r/e/j/member_", b"\x00thrift", ephemeral=True, sequence=True)
    zk.create("/aurora/r/e/j/other", json.dumps(good).encode())
    out = borealis("serverset", zookeeper.hosts, "/aurora/r/e/j")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 1 and lines[0].endswith("h1:31000 shard=0 http=h1:31000")
    as_json = json.loads(borealis("serverset", zookeeper.hosts, "/aurora/r/e/j", "--json").stdout)
    assert as_json[0]["host"] == "h1" and as_json[0]["shard"] == 0
    bad = borealis("serverset", "127.0.0.1:1", "/x", "--timeout", "1")
    assert bad.returncode == 2 and "no ZooKeeper answered" in bad.stderr

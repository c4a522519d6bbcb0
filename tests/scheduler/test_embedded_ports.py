"""Announcer port maps on the embedded cluster (``borealis job`` -> scheduler -> agent ->
executor), with the http_example-shaped fixture tests/fixtures/ports/http_like.aurora: an
alias is served on its target's allocated port and never gets one of its own; a static port
is that number on the host, one instance per host, and only on a host that offers it."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster import Embedded, embedded
from support import REPO, borealis, wait_for

CONFIG = str(REPO / "tests/fixtures/ports/http_like.aurora")


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


STATIC = unused_port()  # offered by the host (below its dynamic range)


@pytest.fixture
def ports_cluster(tmp_path: Path) -> Iterator[Embedded]:
    with embedded(
        tmp_path,
        *("--host-cpu", "4", "--executor-cpu", "0.1"),
        *("--host-ports", "31000-32000", "--host-ports", f"{STATIC}-{STATIC}"),
    ) as found:
        yield found


def job(cluster: Embedded, *args: str) -> tuple[int, str, str]:
    result = borealis("job", "--clusters", str(cluster.scheduler.clusters), *args)
    return result.returncode, result.stdout, result.stderr


def fetch(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ports.txt", timeout=1) as r:
            return bytes(r.read()).decode()
    except OSError:
        return None


def running(cluster: Embedded, key: str) -> list[dict[str, object]]:
    return [t for t in cluster.scheduler.tasks(key) if t["state"] == "RUNNING"]


def test_aliases_share_their_target_s_allocated_port(ports_cluster: Embedded) -> None:
    cluster = ports_cluster
    alias, primary = "local/www-data/devel/http_alias", "local/www-data/devel/http_primary"
    for key in (alias, primary):
        code, _out, err = job(cluster, "create", key, CONFIG)
        assert code == 0, err
    both = (alias, primary)
    wait_for(lambda: all(running(cluster, k) for k in both), 60, "both jobs RUNNING",
             seen=lambda: [cluster.scheduler.states(k) for k in both])  # fmt: skip
    [task] = cluster.scheduler.tasks(alias)
    ports = task["ports"]
    assert sorted(ports) == ["health", "http", "tcp"]  # alias has no port of its own
    listing = wait_for(lambda: fetch(ports["http"]), 30, "ports.txt on the http port")
    assert listing == (
        f"tcp={ports['tcp']} http={ports['http']} alias={ports['http']} health={ports['health']}\n"
    )
    # Announcer(): {{thermos.ports[aurora]}} is the primary port, http, allocated for it
    [task] = cluster.scheduler.tasks(primary)
    assert list(task["ports"]) == ["http"]
    http = task["ports"]["http"]
    listing = wait_for(lambda: fetch(http), 30, "ports.txt on the primary port")
    assert listing == f"aurora={http} http={http}\n"


def test_a_static_port_is_that_number_once_per_host(ports_cluster: Embedded) -> None:
    cluster = ports_cluster
    key = "local/www-data/devel/http_static"
    code, _out, err = job(cluster, "create", key, CONFIG, "--bind", f"static_port={STATIC}")
    assert code == 0, err
    # two instances need STATIC, the one host offers it once: one runs, one waits
    wait_for(lambda: running(cluster, key), 60, "an instance RUNNING",
             seen=lambda: cluster.scheduler.tasks(key))  # fmt: skip
    assert wait_for(lambda: fetch(STATIC), 30, "ports.txt on the static port") == (
        f"web={STATIC} www={STATIC}\n"
    )
    tasks = cluster.scheduler.tasks(key)
    [runs] = [t for t in tasks if t["state"] == "RUNNING"]
    [waits] = [t for t in tasks if t["state"] != "RUNNING"]
    assert runs["ports"] == {"web": STATIC}
    assert waits["state"] == "PENDING" and waits["ports"] == {}
    assert f"static {STATIC}" in waits["message"]
    # a host whose ranges lack the static port cannot take it
    other = "local/other/devel/http_static"
    code, _out, err = job(cluster, "create", other, CONFIG,
                          "--bind", "static_port=80", "--bind", "profile.role=other")  # fmt: skip
    assert code == 0, err
    wait_for(
        lambda: all("static 80" in t["message"] for t in cluster.scheduler.tasks(other)),
        30,
        "both instances PENDING for want of port 80",
        seen=lambda: cluster.scheduler.tasks(other),
    )
    assert {t["state"] for t in cluster.scheduler.tasks(other)} == {"PENDING"}


def test_a_bad_port_map_is_refused_at_create(ports_cluster: Embedded) -> None:
    key = "local/www-data/devel/http_cycle"
    code, _out, err = job(ports_cluster, "create", key, CONFIG)
    assert code == 2
    assert err.strip().endswith("announce.portmap.a: aliases form a cycle (a -> b -> a)")

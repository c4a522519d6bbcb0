"""A port link on the observer's task page goes where the service answers (issue #16): to
127.0.0.1 for a service bound to loopback, as the examples are, not to the host's name."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from observing import start_observer, stop_observer
from support import REPO, borealis, wait_for

from borealis.observer.listening import link_host, listening


@pytest.fixture
def sockets() -> Iterator[dict[str, int]]:
    """Listening sockets on loopback and on every address; their ports."""
    made = {}
    opened = []
    for name, address in (("loopback", "127.0.0.1"), ("any", "0.0.0.0")):
        sock = socket.socket()
        sock.bind((address, 0))
        sock.listen()
        opened.append(sock)
        made[name] = sock.getsockname()[1]
    try:
        yield made
    finally:
        for sock in opened:
            sock.close()


def test_listening_addresses_are_read_from_the_kernel(sockets: dict[str, int]) -> None:
    found = listening(set(sockets.values()))
    assert found[sockets["loopback"]] == ["127.0.0.1"]
    assert found[sockets["any"]] == ["0.0.0.0"]
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))  # bound, not listening
        port = unused.getsockname()[1]
        assert port not in listening({port})


@pytest.mark.parametrize(
    "addresses, host",
    [
        ([], "web1"),
        (["127.0.0.1"], "127.0.0.1"),
        (["::1"], "[::1]"),
        (["0.0.0.0"], "web1"),
        (["::"], "web1"),
        (["127.0.0.1", "10.1.2.3"], "10.1.2.3"),
        (["fd00::7"], "[fd00::7]"),
    ],
)
def test_the_host_a_link_names(addresses: list[str], host: str) -> None:
    assert link_host(addresses, "web1") == host


def test_the_task_page_links_a_loopback_service_at_127_0_0_1(tmp_path: Path) -> None:
    root = tmp_path / "root"
    config = tmp_path / "web.aurora"
    config.write_text(
        "export(Task(name='web', processes=[Process(name='web', cmdline="
        "'exec python3 -m http.server {{thermos.ports[http]}} --bind 127.0.0.1')]))\n"
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = subprocess.Popen(
        [sys.executable, "-m", "borealis.cli.main", "run", str(config), "--root", str(root),
         "--task-id", "web", "--port", f"http={port}", "-q"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    observer = None
    try:
        wait_for(lambda: port in listening({port}), 30, "the service to listen")
        observer = start_observer(tmp_path / "observer.log", "--root", str(root))
        page = observer.get("/task/web")
        assert page.status == 200, page.text
        links = re.findall(r'href="(http://[^"]+)"', page.text)
        assert f"http://127.0.0.1:{port}/" in links, links
        assert f"http://{socket.gethostname()}:{port}/" not in links
    finally:
        if observer is not None:
            stop_observer(observer)
        borealis("kill", "web", "--root", str(root))
        run.wait(30)

"""Announcer port maps through ``borealis inspect`` and ``borealis run``, on the
http_example-shaped fixture tests/fixtures/ports/http_like.aurora (rules: docs/ports.md)."""

from __future__ import annotations

import json
import signal
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from support import REPO, borealis, start_borealis, wait_for

from borealis.contract.layout import CheckpointRoot

CONFIG = str(REPO / "tests/fixtures/ports/http_like.aurora")
QUIT = ("--bind", "profile.server=true")  # the servers exit at once: the task ends


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cmdlines(stdout: str) -> list[str]:
    return [p["cmdline"] for p in json.loads(stdout)["processes"]]


def port_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("port ")]


@pytest.mark.parametrize(
    ("job", "flags", "ports", "listing"),
    [
        (
            "http_alias",
            ("--port", "http=8080", "--port", "tcp=8081", "--port", "health=8082"),
            [
                "port alias: alias of 'http' = 8080",
                "port health: requested = 8082",
                "port http: requested = 8080",
                "port tcp: requested = 8081",
            ],
            "tcp=8081 http=8080 alias=8080 health=8082",
        ),
        (
            "http_primary",
            ("--port", "http=9000"),
            ["port aurora: alias of 'http' = 9000", "port http: requested = 9000"],
            "aurora=9000 http=9000",
        ),
        (
            "http_chain",
            ("--port", "aurora=9100"),  # a port given to an alias is its target's too
            [
                "port aurora: alias of 'http' = 9100",
                "port http: requested = 9100",
                "port https: alias of 'http' via 'aurora' = 9100",
            ],
            "https=9100 aurora=9100 http=9100",
        ),
        (
            "http_static",
            ("--bind", "static_port=8111"),
            ["port web: static 8111", "port www: static 8111 (alias of 'web')"],
            "web=8111 www=8111",
        ),
    ],
)
def test_inspect_shows_and_binds_the_resolved_ports(
    job: str, flags: tuple[str, ...], ports: list[str], listing: str
) -> None:
    result = borealis("inspect", CONFIG, "--job", job, *flags)
    assert result.returncode == 0, result.stderr
    assert port_lines(result.stderr) == ports
    assert "left unbound" not in result.stderr
    assert f'echo "{listing}"' in cmdlines(result.stdout)[0]


def test_inspect_without_ports_lists_what_must_be_given() -> None:
    result = borealis("inspect", CONFIG, "--job", "http_alias")
    assert result.returncode == 0, result.stderr
    assert port_lines(result.stderr) == [
        "port alias: alias of 'http'",
        "port health: requested",
        "port http: requested",
        "port tcp: requested",
    ]
    assert "{{thermos.ports[alias]}} is left unbound" in result.stderr


def test_inspect_notes_a_primary_port_that_is_no_port_of_the_task() -> None:
    result = borealis("inspect", CONFIG, "--job", "http_thrift_primary", "--port", "http=5")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "port http: requested = 5",
        "note: announce.primary_port: 'thrift' is no port of this task (no process references "
        "it and the port map does not name it): the serverset's primary endpoint will be port 0",
    ]
    result = borealis("inspect", CONFIG, "--job", "http_primary", "--port", "http=5")
    assert "primary_port" not in result.stderr


@pytest.mark.parametrize(
    ("job", "flags", "error"),
    [
        ("http_cycle", (), "announce.portmap.a: aliases form a cycle (a -> b -> a)"),
        ("http_nothing", (), "announce.portmap.alias: must not be empty"),
        (
            "http_alias",
            ("--port", "http=8080", "--port", "alias=8081"),
            "announce.portmap.alias: is the same port as 'http', but 'http' was given 8080 "
            "and 'alias' 8081",
        ),
        (
            "http_static",
            ("--bind", "static_port=8111", "--port", "www=8112"),
            "announce.portmap.www: is the static port 8111, but was given 8112",
        ),
        (
            "http_static",
            ("--bind", "static_port=0"),
            "announce.portmap.web: static port 0 is not from 1 to 65535",
        ),
    ],
)
@pytest.mark.parametrize("verb", ["inspect", "run"])
def test_bad_port_maps_and_conflicting_ports_are_refused(
    verb: str, job: str, flags: tuple[str, ...], error: str, root: CheckpointRoot
) -> None:
    extra = ("--root", str(root.path)) if verb == "run" else ()
    result = borealis(verb, CONFIG, "--job", job, *QUIT, *flags, *extra)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"borealis: {CONFIG}: {error}"]
    assert not (root.path / "sandboxes").exists()


def run_status(root: CheckpointRoot, task_id: str) -> dict[str, Any]:
    result = borealis("status", task_id, "--root", str(root.path), "--json")
    assert result.returncode == 0, result.stderr
    value: dict[str, Any] = json.loads(result.stdout)
    return value


def test_run_binds_an_alias_to_its_target_s_port(root: CheckpointRoot) -> None:
    flags = ("--port", "http=8080", "--port", "tcp=8081", "--port", "health=8082")
    result = borealis(
        "run", CONFIG, "--job", "http_alias", *QUIT, *flags, "--root", str(root.path),
        "--task-id", "alias",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    listing = (root.path / "sandboxes/alias/www/ports.txt").read_text()
    assert listing == "tcp=8081 http=8080 alias=8080 health=8082\n"
    # the runner's record has every name's number, the alias included
    assert run_status(root, "alias")["ports"] == {
        "alias": 8080,
        "health": 8082,
        "http": 8080,
        "tcp": 8081,
    }


def test_run_refuses_an_alias_whose_target_is_not_given(root: CheckpointRoot) -> None:
    result = borealis(
        "run", CONFIG, "--job", "http_primary", *QUIT, "--root", str(root.path)
    )  # Announcer(): the task references only aurora, the alias of http
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"borealis: {CONFIG}: processes[0].cmdline: port 'aurora' is an alias of 'http', "
        "which is not given (pass --port http=NUMBER)"
    )


def test_run_serves_on_a_static_port_without_any_port_flag(
    root: CheckpointRoot, tmp_path: Path
) -> None:
    static = unused_port()
    proc = start_borealis(
        "run", CONFIG, "--job", "http_static", "--bind", f"static_port={static}",
        "--root", str(root.path), "--task-id", "static", log=tmp_path / "run.log",
    )  # fmt: skip
    try:

        def served() -> bytes | None:
            try:
                url = f"http://127.0.0.1:{static}/ports.txt"
                with urllib.request.urlopen(url, timeout=1) as r:
                    return bytes(r.read())
            except OSError:
                return None

        listing = wait_for(served, 30, "ports.txt served on the static port",
                           seen=lambda: (tmp_path / "run.log").read_text())  # fmt: skip
        assert listing == f"web={static} www={static}\n".encode()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 3  # KILLED
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert run_status(root, "static")["ports"] == {"web": static, "www": static}

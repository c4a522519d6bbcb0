"""Every example in sandbox_examples/ runs through the real CLI and does what it says."""

from __future__ import annotations

import itertools
import json
import signal
import urllib.request
from pathlib import Path

import pytest
from support import REPO, borealis, start_borealis, wait_for

from borealis.contract.layout import CheckpointRoot

EXAMPLES = REPO / "sandbox_examples"


def status(root: CheckpointRoot, task_id: str) -> dict:
    result = borealis("status", task_id, "--root", str(root.path), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_every_example_is_covered() -> None:
    # hello_service (and its v2, an update of it) is a job for the scheduler:
    # tests/scheduler/test_embedded.py runs both; hello_cron is a cron job:
    # tests/scheduler/test_cron.py schedules and starts it
    covered = {"hello_world", "pipeline", "http_service", "flaky", "chatty_logs"}
    covered |= {"hello_service", "hello_service_v2", "hello_cron"}
    assert {p.stem for p in EXAMPLES.glob("*.aurora")} == covered


def test_hello_world(root: CheckpointRoot) -> None:
    result = borealis(
        "run", str(EXAMPLES / "hello_world.aurora"), "--root", str(root.path), "--task-id", "hello"
    )
    assert result.returncode == 0, result.stderr
    out = (root.path / "sandboxes/hello/.logs/hello/0/stdout").read_text()
    assert out == "Hello, world from task hello as root\n"


def test_pipeline_runs_in_order_then_cleans_up(root: CheckpointRoot) -> None:
    result = borealis(
        "run", str(EXAMPLES / "pipeline.aurora"), "--root", str(root.path), "--task-id", "pipe"
    )
    assert result.returncode == 0, result.stderr
    s = status(root, "pipe")
    assert s["state"] == "SUCCESS"
    runs = {name: runs[0] for name, runs in s["processes"].items()}
    order = ["fetch", "build", "test", "cleanup"]
    for before, after in itertools.pairwise(order):
        assert runs[before]["stop_time"] <= runs[after]["start_time"]
    sandbox = Path(s["sandbox"])
    assert (sandbox / ".logs/test/0/stdout").read_text() == "tests passed\n"
    assert not (sandbox / "src").exists(), "the final cleanup process removed src/"


def test_flaky_succeeds_after_two_failures(root: CheckpointRoot) -> None:
    result = borealis(
        "run", str(EXAMPLES / "flaky.aurora"), "--root", str(root.path), "--task-id", "flaky"
    )
    assert result.returncode == 0, result.stderr
    runs = status(root, "flaky")["processes"]["flaky"]
    assert [(r["state"], r["return_code"]) for r in runs] == [
        ("FAILED", 1),
        ("FAILED", 1),
        ("SUCCESS", 0),
    ]
    for previous, following in itertools.pairwise(runs):
        assert following["waiting_time"] - previous["stop_time"] >= 1.0  # min_duration


def test_chatty_logs_keeps_every_line(root: CheckpointRoot) -> None:
    result = borealis(
        "run", str(EXAMPLES / "chatty_logs.aurora"), "--root", str(root.path), "--task-id", "chatty"
    )
    assert result.returncode == 0, result.stderr
    lines = (root.path / "sandboxes/chatty/.logs/chatty/0/stdout").read_text().splitlines()
    assert len(lines) == 200_000
    assert [int(line[:8]) for line in lines] == list(range(200_000))


def test_http_service_serves_health_until_killed(
    root: CheckpointRoot, free_port: int, tmp_path: Path
) -> None:
    proc = start_borealis(
        "run",
        str(EXAMPLES / "http_service.aurora"),
        "--root",
        str(root.path),
        "--task-id",
        "web",
        "--port",
        f"http={free_port}",
        "--instance",
        "1",
        log=tmp_path / "run.log",
    )
    try:

        def health() -> bytes | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{free_port}/health", timeout=1) as r:
                    return bytes(r.read())
            except OSError:
                return None

        assert wait_for(health, 15, "the service's /health") == b"ok\n"
        with urllib.request.urlopen(f"http://127.0.0.1:{free_port}/", timeout=1) as r:
            assert b"www-data/devel instance 1" in r.read()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 3  # KILLED
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert health() is None
    assert status(root, "web")["state"] == "KILLED"


@pytest.fixture
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

"""Bad input to the agent and the scheduler is a 400 with one line, never a 500 with a
traceback: ids that would become paths (``../../..``, ``/``, NUL bytes, 300 characters) are
refused before they touch the disk, nothing is created outside the agent's work directory, and
a refused launch leaves no run directory behind."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from daemons import Daemon, executors, job, task_info

BAD_IDS = ["../../..", "/", "..", ".", "a/../../b", "a\0b", "x" * 300, "-rf", ".hidden", ""]


def tree(path: Path) -> set[str]:
    found = set()
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            found.add(os.path.join(dirpath, name))
    return found


def run_dirs(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "work").glob("slaves/*/frameworks/*/executors/*/runs/*"))


def assert_refused(reply: Any, field: str = "") -> None:
    assert reply.status == 400, (reply.status, reply.text)
    error = reply.json()["error"]
    assert "\n" not in error and "Traceback" not in reply.text
    assert field in error, error


@pytest.mark.parametrize("field", ["framework_id", "executor_id", "task_id"])
def test_path_traversal_ids_are_refused_before_touching_a_path(
    agent: Daemon, tmp_path: Path, field: str
) -> None:
    outside = tmp_path.parent
    before = {p.name for p in outside.iterdir()}
    fs_root = set(os.listdir("/"))
    for bad in BAD_IDS:
        if field == "task_id" and bad == "":
            continue  # an empty task id is refused too, but by name in another test
        body: dict[str, Any] = {
            "task_info": task_info("ok-task" if field != "task_id" else bad),
            "executor_command": "sleep 60",
        }
        if field != "task_id":
            body[field] = bad
            if bad == "":
                continue  # empty means "the default" for these two
        assert_refused(agent.post_json("/api/v1/agent/launch", body), field)
    assert executors(agent) == [] and run_dirs(tmp_path) == []
    assert {p.name for p in outside.iterdir()} == before
    assert set(os.listdir("/")) == fs_root
    assert not list((tmp_path / "work").glob("slaves/*/frameworks/*/executors/*/runs/*"))
    assert "Traceback" not in agent.logged()


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"shutdown_grace_period_secs": "soon"}, "shutdown_grace_period_secs"),
        ({"shutdown_grace_period_secs": -1}, "shutdown_grace_period_secs"),
        ({"shutdown_grace_period_secs": 1e308}, "shutdown_grace_period_secs"),
        ({"capabilities": "TASK_KILLING_STATE"}, "capabilities"),
        ({"capabilities": [{"type": 1}]}, "capabilities"),
        ({"checkpoint": "yes"}, "checkpoint"),
        ({"executor_uris": "file:///etc/shadow"}, "executor_uris"),
        ({"executor_uris": [{"value": 7}]}, "executor_uris"),
        ({"executor_command": ["id"]}, "executor_command"),
        ({"executor_command": "id\0"}, "executor_command"),
    ],
)
def test_malformed_launch_fields_are_400_and_leave_nothing(
    agent: Daemon, tmp_path: Path, extra: dict[str, Any], field: str
) -> None:
    body = {"task_info": task_info("t1"), "executor_command": "sleep 60", **extra}
    assert_refused(agent.post_json("/api/v1/agent/launch", body), field)
    assert executors(agent) == [] and run_dirs(tmp_path) == []
    assert "Traceback" not in agent.logged()


def test_other_calls_and_bodies_are_400(agent: Daemon, tmp_path: Path) -> None:
    nested = b"[" * 100_000 + b"]" * 100_000
    for path in ("/api/v1/agent/launch", "/api/v1/agent/kill", "/api/v1/agent/shutdown"):
        assert_refused(agent.request("POST", path, nested))
        assert_refused(agent.request("POST", path, b"[1, 2]"))
        assert_refused(agent.request("POST", path, b"\xff\xfe"))
    assert_refused(
        agent.post_json("/api/v1/agent/kill", {"task_id": "t", "grace_period_secs": "x"})
    )
    assert_refused(agent.post_json("/api/v1/agent/kill", {"task_id": "../x"}), "task_id")
    assert_refused(agent.post_json("/api/v1/agent/kill", {"task_id": ["t"]}), "task_id")
    assert_refused(agent.post_json("/api/v1/agent/shutdown", {"executor_id": "../.."}))
    assert_refused(agent.post_json("/api/v1/agent/launch", {"task_info": {"task_id": {}}}))
    assert executors(agent) == [] and run_dirs(tmp_path) == []
    assert agent.request("GET", "/health", auth=False).status == 200
    assert "Traceback" not in agent.logged()


def test_scheduler_bad_bodies_are_400_with_one_line(scheduler: Daemon) -> None:
    nested = b'{"a": ' * 50_000 + b"1" + b"}" * 50_000
    bodies = [
        nested,
        b"[" * 100_000 + b"]" * 100_000,
        b"[]",
        b'"job"',
        b"17",
        json.dumps({**job("x", "true"), "task": "not a task"}).encode(),
        json.dumps({**job("x", "true"), "key": ["local"]}).encode(),
        json.dumps({**job("x", "true"), "instances": "3"}).encode(),
        json.dumps({**job("x", "true"), "constraints": [1]}).encode(),
    ]
    for body in bodies:
        reply = scheduler.request("POST", "/api/v1/jobs", body)
        assert reply.status == 400, (body[:60], reply.status, reply.text)
        assert "\n" not in reply.json()["error"]
    assert scheduler.request("GET", "/api/v1/jobs").json()["jobs"] == []
    assert "Traceback" not in scheduler.logged()

"""Credentials on the daemons: the agent's framework API and the scheduler's API refuse a call
with no token (401) or the wrong one (403) and do nothing; an executor speaks only for itself
(a forged UPDATE for a live task, with no secret or another executor's, is refused and the
task keeps running); token files are private and never written through a link."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cluster import start_daemon
from daemons import Daemon, executors, job, root, sleeper, task_info
from support import REPO, borealis, wait_for

from borealis.contract.layout import AgentWorkDir, executor_sandbox, process_log
from borealis.contract.mesos import MesosState
from borealis.executor.mesos import protocol

WRONG = "wrong-token-but-long-enough-0123456789"
AGENT_CALLS = [
    ("POST", "/api/v1/agent/launch"),
    ("POST", "/api/v1/agent/kill"),
    ("POST", "/api/v1/agent/shutdown"),
    ("GET", "/api/v1/agent/updates"),
    ("GET", "/api/v1/agent/state"),
]


@pytest.mark.parametrize(("given", "status"), [(False, 401), (WRONG, 403)])
def test_agent_framework_api_needs_its_token(
    agent: Daemon, tmp_path: Path, given: bool | str, status: int
) -> None:
    marker = tmp_path / "marker"
    launch = {"task_info": task_info("t1"), "executor_command": f"touch {marker}"}
    for method, path in AGENT_CALLS:
        body = json.dumps(launch if path.endswith("launch") else {"task_id": "t1"}).encode()
        reply = agent.request(method, path, body if method == "POST" else None, auth=given)
        assert reply.status == status, (path, reply.status, reply.text)
        assert reply.text.count("\n") == 0 and reply.json()["status"] == status
    assert executors(agent) == [] and not marker.exists()
    assert agent.request("GET", "/health", auth=False).status == 200


@pytest.mark.parametrize(("given", "status"), [(False, 401), (WRONG, 403)])
def test_scheduler_api_needs_its_token(scheduler: Daemon, given: bool | str, status: int) -> None:
    created = scheduler.post_json("/api/v1/jobs", job("evil", "id"), auth=given)
    assert created.status == status, created.text
    for path in ("/api/v1/jobs", "/api/v1/tasks", "/api/v1/jobs/local/www-data/devel/evil"):
        assert scheduler.request("GET", path, auth=given).status == status, path
    killed = scheduler.post_json("/api/v1/jobs/local/www-data/devel/evil/kill", {}, auth=given)
    assert killed.status == status
    update = "/api/v1/updates/00000000-0000-0000-0000-000000000000"
    assert scheduler.request("GET", update, auth=given).status == status
    for path, body in (
        ("/api/v1/jobs/local/www-data/devel/evil/updates", {"job": job("evil", "id")}),
        ("/api/v1/jobs/local/www-data/devel/evil/restart", {"instances": [0]}),
        ("/api/v1/jobs/local/www-data/devel/evil/add", {"instance": 0, "count": 5}),
        *((f"{update}/{verb}", {}) for verb in ("pause", "resume", "abort", "rollback", "pulse")),
    ):
        assert scheduler.post_json(path, body, auth=given).status == status, path
    listed = scheduler.request("GET", "/api/v1/jobs")
    assert listed.status == 200 and listed.json()["jobs"] == []
    assert scheduler.request("GET", "/health", auth=False).status == 200


def test_token_files_are_private_and_the_cli_finds_the_scheduler_token(
    scheduler: Daemon, tmp_path: Path
) -> None:
    for path in (root().agent_token, root().scheduler_token):
        info = path.stat()
        assert stat.S_IMODE(info.st_mode) == 0o600, path
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    clusters = tmp_path / "clusters.json"
    clusters.write_text(json.dumps([{"name": "local", "scheduler_uri": scheduler.url}]))
    # no flag, no env: the token under the state root
    listed = borealis("job", "--clusters", str(clusters), "list", "local")
    assert listed.returncode == 0, listed.stderr
    env = {**os.environ, "BOREALIS_TOKEN": WRONG}
    wrong = subprocess.run(
        [sys.executable, "-m", "borealis.cli.main", "job", "--clusters", str(clusters), "list",
         "local"], capture_output=True, text=True, cwd=REPO, env=env, timeout=60,
    )  # fmt: skip
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr
    named = tmp_path / "mine.token"
    named.write_text(scheduler.token + "\n")
    entry = {"name": "local", "scheduler_uri": scheduler.url, "auth_token_file": str(named)}
    clusters.write_text(json.dumps([entry]))
    env = {k: v for k, v in os.environ.items() if k != "BOREALIS_TOKEN"}
    env["BOREALIS_ROOT"] = str(tmp_path / "elsewhere")  # no token under this root
    by_file = subprocess.run(
        [sys.executable, "-m", "borealis.cli.main", "job", "--clusters", str(clusters), "list",
         "local"], capture_output=True, text=True, cwd=REPO, env=env, timeout=60,
    )  # fmt: skip
    assert by_file.returncode == 0, by_file.stderr


def test_a_planted_symlink_at_the_token_path_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    secrets = root().secrets_dir
    secrets.mkdir(parents=True)
    root().agent_token.symlink_to(victim)
    with pytest.raises(AssertionError, match=r"agent\.token"):
        start_daemon("agent", ["--work-dir", str(tmp_path / "w")], tmp_path / "agent.log")
    assert victim.read_text() == "precious\n"
    assert "Traceback" not in (tmp_path / "agent.log").read_text()


def update_call(fid: str, eid: str, task_id: str, state: MesosState) -> bytes:
    status = protocol.status(task_id, state, executor_id=eid)
    return protocol.encode(protocol.update(fid, eid, status))


def two_running(agent: Daemon) -> tuple[dict[str, Any], dict[str, Any]]:
    """Tasks ``victim`` and ``other``, each with its executor, both RUNNING."""
    for task_id in ("victim", "other"):
        reply = agent.post_json(
            "/api/v1/agent/launch", {"task_info": task_info(task_id, sleeper(task_id))}
        )
        assert reply.status == 200, reply.text

    def running() -> bool:
        states = {t: s for e in executors(agent) for t, s in e["tasks"].items()}
        return states.get("victim") == "TASK_RUNNING" and states.get("other") == "TASK_RUNNING"

    wait_for(running, 60, "both tasks RUNNING")
    by_task = {next(iter(e["tasks"])): e for e in executors(agent)}
    return by_task["victim"], by_task["other"]


def test_a_forged_executor_update_is_refused_and_the_task_keeps_running(
    agent: Daemon, tmp_path: Path
) -> None:
    victim, other = two_running(agent)
    forged = update_call(
        victim["framework_id"], victim["executor_id"], "victim", MesosState.TASK_FAILED
    )
    work = AgentWorkDir(tmp_path / "work")
    meta = work.executor_meta(other["framework_id"], other["executor_id"])
    others_secret = json.loads(meta.read_text()).get("secret") if meta.exists() else WRONG
    for auth in (False, WRONG, others_secret):
        reply = agent.request(
            "POST", "/api/v1/executor", forged, auth=auth, headers={"Accept": "application/json"}
        )
        assert reply.status in (401, 403), (auth, reply.status, reply.text)
    updates = agent.request("GET", "/api/v1/agent/updates").json()["updates"]
    assert [u["state"] for u in updates if u["task_id"] == "victim"][-1] == "TASK_RUNNING"
    now = {next(iter(e["tasks"])): e for e in executors(agent)}["victim"]
    assert now["tasks"]["victim"] == "TASK_RUNNING" and not now["terminated"]
    # the agent's metadata, which holds the secrets, is private
    assert stat.S_IMODE(meta.stat().st_mode) == 0o600
    assert stat.S_IMODE(meta.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(work.updates_log.stat().st_mode) == 0o600


def test_an_update_resent_in_a_subscribe_speaks_only_for_the_subscriber(
    agent: Daemon, tmp_path: Path
) -> None:
    """SUBSCRIBE carries the updates an executor has not had acknowledged: with its own secret,
    ``other`` may not slip in a TASK_FAILED for ``victim``'s task, nor a status with no task
    (a 500 with a traceback before), and the refusal leaves its real subscription alone."""
    victim, other = two_running(agent)
    fid, eid = other["framework_id"], other["executor_id"]
    meta = AgentWorkDir(tmp_path / "work").executor_meta(fid, eid)
    secret = json.loads(meta.read_text())["secret"]
    forged = protocol.status("victim", MesosState.TASK_FAILED, executor_id=eid)
    no_task = dict(protocol.status("other", MesosState.TASK_FAILED, executor_id=eid))
    del no_task["task_id"]
    for status in (forged, no_task):
        call = {
            "type": "SUBSCRIBE",
            "framework_id": {"value": fid},
            "executor_id": {"value": eid},
            "subscribe": {"unacknowledged_updates": [{"status": status}]},
        }
        reply = agent.request("POST", "/api/v1/executor", protocol.encode(call), auth=secret)
        assert reply.status == 400, (reply.status, reply.text)
    updates = agent.request("GET", "/api/v1/agent/updates").json()["updates"]
    assert [u["state"] for u in updates if u["task_id"] == "victim"][-1] == "TASK_RUNNING"
    assert all(
        u["task_id"] != "victim" or u["executor_id"] == victim["executor_id"] for u in updates
    )
    assert all(e["subscribed"] for e in executors(agent))  # nobody's stream was replaced
    assert "Traceback" not in agent.logged()


def test_a_task_does_not_inherit_its_executors_secret(agent: Daemon, tmp_path: Path) -> None:
    """The secret lets its holder speak for the executor: the task's processes, and the
    runner and coordinator above them, never get it."""
    spy = {
        "job": {"role": "www-data", "environment": "devel", "name": "spy"},
        "task": {
            "name": "spy",
            "processes": [
                {
                    "name": "spy",
                    "cmdline": "env; tr '\\0' '\\n' < /proc/$PPID/environ; echo SPY-DONE",
                    "min_duration": 0,
                }
            ],
        },
    }
    reply = agent.post_json("/api/v1/agent/launch", {"task_info": task_info("spy", spy)})
    assert reply.status == 200, reply.text
    run_dir = Path(reply.json()["run_dir"])
    stdout = process_log(executor_sandbox(run_dir), "spy", 0, "stdout")
    wait_for(lambda: stdout.exists() and "SPY-DONE" in stdout.read_text(), 60, "the spy's output")
    ex = executors(agent)[0]
    meta = AgentWorkDir(tmp_path / "work").executor_meta(ex["framework_id"], ex["executor_id"])
    secret = json.loads(meta.read_text())["secret"]
    assert len(secret) >= 16
    seen = stdout.read_text()
    assert "MESOS_FRAMEWORK_ID" in seen or "BOREALIS" in seen  # the spy did read environments
    assert secret not in seen

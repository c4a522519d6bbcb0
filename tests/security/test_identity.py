"""Identities (issue #12, items 2 and 4): a task runs as its role's Unix user, and so do its
shell health checks and the fetching of its executor_uris; root needs the operator's word.

Everything runs for real: ``borealis agent`` (and the scheduler) on loopback, executors,
runners and processes, as root, with the operator settings the rest of the suite turns on
(``tests/conftest.py``) turned off here. The processes prove their identity by writing
``id -u`` into their sandbox and by owning what they create.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cluster import AgentProcess, SchedulerProcess, envelope, running_agent
from daemons import (  # operator_agent is the "agent" fixture here
    ALLOW_ROOT_ENV,
    DEFAULTS,
    operator_agent,  # noqa: F401
    sandbox_of,
    shell_task,
)
from support import borealis, wait_for

WWW_DATA, NOBODY = 33, 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")


def proves_identity(name: str = "p") -> dict[str, Any]:
    """A process that writes who it is into the sandbox."""
    return {"name": name, "cmdline": "id -u > uid; echo {{thermos.user}} > templated_user"}


def owner(path: Path) -> int:
    return path.stat().st_uid


# --- the task's processes -------------------------------------------------------------


@pytest.mark.parametrize(("role", "uid"), [("www-data", WWW_DATA), ("nobody", NOBODY)])
def test_a_task_runs_as_its_role(agent: AgentProcess, role: str, uid: int) -> None:
    env = envelope(proves_identity())
    env["job"]["role"] = role
    agent.launch("ident-role", env)
    agent.wait_state("ident-role", "TASK_FINISHED")
    sandbox = sandbox_of(agent, "ident-role")
    assert (sandbox / "uid").read_text().strip() == str(uid)
    assert owner(sandbox / "uid") == uid
    assert (sandbox / "templated_user").read_text().strip() == role


def test_a_role_that_is_no_unix_user_fails_and_nothing_runs(agent: AgentProcess) -> None:
    env = envelope(proves_identity())
    env["job"]["role"] = "no-such-role-here"
    agent.launch("ident-norole", env)
    failed = agent.wait_state("ident-norole", "TASK_FAILED")
    assert "no-such-role-here" in failed["message"], failed["message"]
    assert "not a Unix user" in failed["message"], failed["message"]
    assert not (sandbox_of(agent, "ident-norole") / "uid").exists()


def test_a_root_role_is_refused_without_the_operator_setting(agent: AgentProcess) -> None:
    env = envelope(proves_identity())
    env["job"]["role"] = "root"
    agent.launch("ident-root", env)
    failed = agent.wait_state("ident-root", "TASK_FAILED")
    assert "allow-root-tasks" in failed["message"], failed["message"]
    assert not (sandbox_of(agent, "ident-root") / "uid").exists()


def test_a_task_cannot_name_another_user_than_its_role(agent: AgentProcess) -> None:
    env = envelope(proves_identity(), task_fields={"user": "root"})  # role www-data
    agent.launch("ident-other", env)
    failed = agent.wait_state("ident-other", "TASK_FAILED")
    assert "is not the job's role" in failed["message"], failed["message"]
    assert not (sandbox_of(agent, "ident-other") / "uid").exists()


def test_a_root_role_runs_when_the_operator_allows_it(base: Path) -> None:
    with running_agent(base, env={**DEFAULTS, ALLOW_ROOT_ENV: "1"}) as agent:
        env = envelope(proves_identity())
        env["job"]["role"] = "root"
        agent.launch("ident-allowed", env)
        agent.wait_state("ident-allowed", "TASK_FINISHED")
        assert (sandbox_of(agent, "ident-allowed") / "uid").read_text().strip() == "0"


def test_a_sandbox_the_role_cannot_reach_fails_with_the_reason(tmp_path: Path) -> None:
    # pytest's tmp_path is 0700 root: www-data cannot enter a run directory below it
    with running_agent(tmp_path, env=DEFAULTS) as agent:
        agent.launch("ident-closed", envelope(proves_identity()))
        failed = agent.wait_state("ident-closed", "TASK_FAILED")
        assert "cannot reach the sandbox" in failed["message"], failed["message"]
        assert "'www-data'" in failed["message"], failed["message"]


# --- shell health checks --------------------------------------------------------------


def test_a_shell_health_check_runs_as_the_task_user(agent: AgentProcess) -> None:
    # The task writes the check's script; the check must not run it as root.
    script = "id -u > check_uid; id -G > check_groups; echo $HOME $USER > check_env; exit 0"
    env = shell_task(script)
    agent.launch("ident-health", env)
    running = agent.wait_state("ident-health", "TASK_RUNNING")
    assert running.get("healthy") is True, running
    sandbox = sandbox_of(agent, "ident-health")
    assert (sandbox / "check_uid").read_text().strip() == str(NOBODY)
    assert owner(sandbox / "check_uid") == NOBODY
    groups = {int(g) for g in (sandbox / "check_groups").read_text().split()}
    assert 0 not in groups, groups
    assert (sandbox / "check_env").read_text().split() == [str(sandbox), "nobody"]
    code, reply = agent.post("/api/v1/agent/kill", {"task_id": "ident-health"})
    assert code == 200, reply
    agent.wait_state("ident-health", "TASK_KILLED")


# --- executor_uris --------------------------------------------------------------------


def launch_body(task_id: str, uris: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    # an executor that only exits: the fetch is what is tested
    return {
        "task_info": {"name": task_id, "task_id": {"value": task_id}, "data": ""},
        "executor_command": "true",
        "executor_uris": uris,
        **extra,
    }


def run_dirs(base: Path) -> list[Path]:
    return [p for p in (base / "work").rglob("*") if p.is_dir() and len(p.name) == 32]


def test_a_user_who_cannot_read_etc_shadow_cannot_fetch_it(agent: AgentProcess, base: Path) -> None:
    shadow = Path("/etc/shadow")
    assert shadow.exists() and not shadow.stat().st_mode & stat.S_IROTH
    for value in ("/etc/shadow", "file:///etc/shadow"):
        code, reply = agent.post(
            "/api/v1/agent/launch", launch_body(f"shadow-{len(value)}", [{"value": value}],
                                                user="nobody")
        )  # fmt: skip
        assert code == 400, reply
        assert "Permission denied" in reply.get("error", ""), reply
    copies = [p for d in run_dirs(base) for p in d.iterdir() if p.name == "shadow"]
    assert copies == []


def test_executor_uris_without_a_user_are_not_fetched_by_root(
    agent: AgentProcess, base: Path
) -> None:
    code, reply = agent.post(
        "/api/v1/agent/launch", launch_body("nouser", [{"value": "/etc/shadow"}])
    )
    assert code == 400, reply
    assert "need a user" in reply.get("error", ""), reply
    assert [p for d in run_dirs(base) for p in d.iterdir() if p.name == "shadow"] == []


def test_fetching_as_root_needs_the_operator_setting(agent: AgentProcess) -> None:
    code, reply = agent.post(
        "/api/v1/agent/launch", launch_body("asroot", [{"value": "/etc/shadow"}], user="root")
    )
    assert code == 400, reply
    assert ALLOW_ROOT_ENV in reply.get("error", ""), reply


def test_fetched_files_belong_to_the_user(agent: AgentProcess, base: Path) -> None:
    source = base / "tool.sh"
    source.write_text("#!/bin/sh\necho hi\n")
    source.chmod(0o644)
    data = base / "data.txt"
    data.write_text("x")
    data.chmod(0o600)  # readable by root only: refused for www-data
    uris = [{"value": f"file://{source}", "executable": True}]
    agent.post("/api/v1/agent/launch", launch_body("fetch-ok", uris, user="www-data"))
    fetched = wait_for(
        lambda: next((p for d in run_dirs(base) for p in d.glob("tool.sh")), None), 10, "tool.sh"
    )
    info = fetched.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (WWW_DATA, WWW_DATA, 0o755)
    assert fetched.read_text() == source.read_text()
    code, reply = agent.post(
        "/api/v1/agent/launch", launch_body("fetch-no", [{"value": str(data)}], user="www-data")
    )
    assert code == 400, reply
    assert [p for d in run_dirs(base) for p in d.glob("data.txt")] == []


# --- through the scheduler: the role becomes the user ---------------------------------

JOB = """
p = Process(name='p', cmdline='id -u > uid; echo {{thermos.user}} > templated_user; sleep 600')
jobs = [Service(cluster='local', role='www-data', environment='devel', name='who',
                task=Task(name='who', processes=[p],
                          resources=Resources(cpu=0.1, ram=32*MB, disk=32*MB)))]
"""


def test_a_job_submitted_to_the_scheduler_runs_as_its_role(base: Path) -> None:
    with running_agent(base, env=DEFAULTS) as agent:
        scheduler = SchedulerProcess(
            base / "scheduler.db", base / "scheduler.log", agent.url,
            extra=("--host-cpu", "4", "--executor-cpu", "0.1"),
        )  # fmt: skip
        scheduler.start()
        try:
            config = base / "who.aurora"
            config.write_text(JOB)
            key = "local/www-data/devel/who"
            job = ("job", "--clusters", str(scheduler.clusters))
            done = borealis(*job, "create", key, str(config))
            assert done.returncode == 0, done.stderr
            task_id = wait_for(
                lambda: next((t["task_id"] for t in scheduler.tasks(key)), None), 30, "a task"
            )
            agent.wait_state(task_id, "TASK_RUNNING")
            uid = sandbox_of(agent, task_id) / "uid"
            wait_for(lambda: uid.exists() and uid.read_text().strip(), 30, "the process")
            assert uid.read_text().strip() == str(WWW_DATA)
            assert (sandbox_of(agent, task_id) / "templated_user").read_text().strip() == "www-data"
            done = borealis(*job, "kill", key)
            assert done.returncode == 0, done.stderr
        finally:
            scheduler.stop()


# --- borealis run ---------------------------------------------------------------------

SIMPLE = "export(Task(name='t', processes=[Process(name='p', cmdline='id -u > uid')]))\n"


def test_root_running_a_task_as_root_needs_allow_root(tmp_path: Path) -> None:
    config = tmp_path / "t.aurora"
    config.write_text(SIMPLE)
    sandbox = tmp_path / "box"
    env = {**os.environ, ALLOW_ROOT_ENV: "0"}
    args = ("run", str(config), "--root", str(tmp_path / "root"), "--sandbox", str(sandbox), "-q")
    refused = borealis(*args, env=env)
    assert refused.returncode == 2, refused.stderr
    assert "--allow-root" in refused.stderr and "Traceback" not in refused.stderr
    assert not (sandbox / "uid").exists()
    allowed = borealis(*args, "--allow-root", "--task-id", "allowed", env=env)
    assert allowed.returncode == 0, allowed.stderr
    assert (sandbox / "uid").read_text().strip() == "0"


def test_root_running_a_task_that_names_a_user_needs_no_flag(base: Path) -> None:
    config = base / "t.aurora"
    config.write_text(SIMPLE.replace("name='t',", "name='t', user='nobody',"))
    sandbox = base / "box"
    done = borealis(
        "run", str(config), "--root", str(base / "root"), "--sandbox", str(sandbox), "-q",
        "--task-id", "who", env={**os.environ, ALLOW_ROOT_ENV: "0"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (sandbox / "uid").read_text().strip() == str(NOBODY)
    status = borealis("status", "who", "--root", str(base / "root"))
    assert status.returncode == 0, status.stderr
    assert "user     nobody" in status.stdout, status.stdout


def test_a_fetched_file_cannot_take_a_name_of_the_run_directory(
    agent: AgentProcess, base: Path
) -> None:
    for name in ("sandbox", "stdout", "tasks"):
        planted = base / name
        planted.write_text("not yours")
        planted.chmod(0o644)
        body = launch_body(f"taken-{name}", [{"value": str(planted)}], user="www-data")
        code, reply = agent.post("/api/v1/agent/launch", body)
        assert code == 400, reply
        assert "is a name of the run directory" in reply.get("error", ""), reply

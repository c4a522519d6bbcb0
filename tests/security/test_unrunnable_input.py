"""Input that can never run is refused up front, and a run that cannot start is FAILED.

A NUL byte in a command line used to pass ``inspect``, ``run`` and ``job create``;
every run of it then died in its coordinator with a traceback and was LOST, which
never counts as a failure, so it was retried until the run cap. Job keys ``.``,
``..`` and hidden names were accepted and failed later, as paths.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cluster import SchedulerProcess, running_agent
from support import borealis, run_in_process, task

from borealis.contract.causes import ProcessesFailed
from borealis.contract.layout import CheckpointRoot
from borealis.contract.states import ProcessState, TaskState
from borealis.contract.taskspec import ProcessSpec
from borealis.executor.runner.coordinator import START_FAILURE_RC

NUL_TASK = """
hello = Process(name='hello', cmdline='echo a\\x00b')
export(Task(name='hello', processes=[hello]))
"""


def one_line_refusal(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("command", ["inspect", "run"])
def test_nul_in_a_cmdline_is_refused_by_inspect_and_run(
    command: str, root: CheckpointRoot, tmp_path: Path
) -> None:
    config = tmp_path / "nul.aurora"
    config.write_text(NUL_TASK)
    extra = ["--root", str(root.path)] if command == "run" else []
    result = borealis(command, str(config), *extra)
    one_line_refusal(result, "nul.aurora", "processes[0].cmdline", "NUL byte")
    assert not root.sandboxes_dir.exists()


def job_config(cmdline: str, name: str = "web") -> str:
    return f"""
jobs = [Job(cluster='local', role='www-data', environment='devel', name={name!r},
            task=Task(name='t', processes=[Process(name='p', cmdline={cmdline!r})],
                      resources=Resources(cpu=0.1, ram=32*MB, disk=32*MB)))]
"""


def post_job(scheduler: SchedulerProcess, body: dict[str, object]) -> tuple[int, str]:
    request = urllib.request.Request(
        scheduler.url + "/api/v1/jobs",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **scheduler.auth},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_job_create_refuses_nul_bytes_and_dot_keys(tmp_path: Path) -> None:
    with running_agent(tmp_path) as agent:
        scheduler = SchedulerProcess(tmp_path / "scheduler.db", tmp_path / "s.log", agent.url)
        scheduler.start()
        try:
            clusters = str(scheduler.clusters)
            config = tmp_path / "job.aurora"
            config.write_text(job_config("echo a\x00b"))
            result = borealis("job", "--clusters", clusters, "create", "local/www-data/devel/web",
                              str(config))  # fmt: skip
            one_line_refusal(result, "job.aurora", "cmdline", "NUL byte")
            for bad in (".", "..", ".hidden"):
                config.write_text(job_config("true", bad))
                key = f"local/www-data/devel/{bad}"
                result = borealis("job", "--clusters", clusters, "create", key, str(config))
                one_line_refusal(result, "must not start with '.'")
            # The scheduler itself refuses them too (a client need not be ours).
            task_json = {
                "name": "t",
                "processes": [{"name": "p", "cmdline": "echo a\x00b"}],
                "resources": {"cpu": 0.1, "ram": 1 << 25, "disk": 1 << 25},
            }
            key = {"cluster": "local", "role": "www-data", "environment": "devel", "name": "w"}
            code, text = post_job(scheduler, {"key": key, "task": task_json})
            assert code == 400 and "NUL byte" in text and "Traceback" not in text, (code, text)
            task_json["processes"] = [{"name": "p", "cmdline": "true"}]
            code, text = post_job(scheduler, {"key": {**key, "name": ".."}, "task": task_json})
            assert code == 400 and "must not start with '.'" in text, (code, text)
            assert scheduler.get("/api/v1/jobs")["jobs"] == []
        finally:
            scheduler.stop()


def test_a_command_that_cannot_start_fails_and_counts_against_max_failures(
    root: CheckpointRoot,
) -> None:
    # Past validation (as a task built in code or by an older client could be):
    # the coordinator must turn the spawn error into a FAILED run.
    spec = task({"name": "ok", "cmdline": "true"}, {"name": "bad", "cmdline": "true"})
    bad = ProcessSpec(name="bad", cmdline="echo a\x00b", max_failures=2, min_duration=0)
    spec = type(spec)(name=spec.name, processes=(spec.processes[0], bad))
    final, runner = run_in_process(root, spec)
    assert final is TaskState.FAILED
    runs = runner.state.runs("bad")
    assert [r.state for r in runs] == [ProcessState.FAILED, ProcessState.FAILED]
    assert all(r.return_code == START_FAILURE_RC for r in runs)
    assert all("could not start" in (r.reason or "") for r in runs), runs
    why = runner.state.statuses[-1].why
    assert isinstance(why, ProcessesFailed) and why.failed[0].name == "bad"

"""Containers on the embedded cluster: the agent runs none, so a job that asks for one stays
PENDING, saying why, while a job without one runs beside it; an agent restarted with
``--ignore-container`` advertises ``containers=docker,mesos`` and the waiting task runs on the
host, its header saying so."""

from __future__ import annotations

import json
from pathlib import Path

from cluster import Embedded
from support import borealis, wait_for

KEYS = {"docker": "local/www-data/devel/boxed", "plain": "local/www-data/devel/bare"}
TASK = (
    "Task(name='{name}', processes=[Process(name='p', cmdline='echo up; sleep 100000')],"
    " resources=Resources(cpu=0.1, ram=32*MB, disk=32*MB))"
)
CONFIG = f"""
jobs = [
    Service(cluster='local', role='www-data', environment='devel', name='boxed',
            task={TASK.format(name="boxed")},
            container=Docker(image='python:3.11-slim')),
    Service(cluster='local', role='www-data', environment='devel', name='bare',
            task={TASK.format(name="bare")}),
]
"""


def job(cluster: Embedded, *args: str) -> str:
    result = borealis("job", "--clusters", str(cluster.scheduler.clusters), *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_docker_job_waits_for_an_agent_that_runs_docker_then_runs_on_the_host(
    cluster: Embedded,
) -> None:
    config = cluster.base / "jobs.aurora"
    config.write_text(CONFIG)
    for key in KEYS.values():
        job(cluster, "create", key, str(config))  # the key picks the job
    scheduler = cluster.scheduler
    wait_for(lambda: scheduler.states(KEYS["plain"]) == ["RUNNING"], 30, "the plain job running")
    reason = "1 hosts do not run docker containers (no containers=docker attribute)"
    wait_for(lambda: reason in scheduler.tasks(KEYS["docker"])[0]["message"], 30, "the reason")
    assert scheduler.states(KEYS["docker"]) == ["PENDING"]
    status = job(cluster, "status", KEYS["docker"])
    assert "PENDING" in status and reason in status
    assert (
        "  container: Docker container (image python:3.11-slim), placed only on hosts whose "
        "containers attribute lists docker"
    ) in status
    assert "container:" not in job(cluster, "status", KEYS["plain"])
    launched = {
        task_id
        for e in cluster.agent.get("/api/v1/agent/state")["executors"]
        for task_id in e["tasks"]
    }
    assert launched == {scheduler.tasks(KEYS["plain"])[0]["task_id"]}  # never sent to the agent

    cluster.agent.stop()
    cluster.agent.start("--ignore-container")
    assert cluster.agent.get("/api/v1/agent/state")["attributes"] == {"containers": "docker,mesos"}
    assert "tasks that ask for a Docker or Mesos container run on this host" in (
        cluster.agent.log.read_text()
    )
    wait_for(lambda: scheduler.states(KEYS["docker"]) == ["RUNNING"], 60, "the docker job running")
    task_id = scheduler.tasks(KEYS["docker"])[0]["task_id"]
    run_dir = cluster.agent.executor(task_id)["run_dir"]
    shown = borealis("status", task_id, "--root", run_dir, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["ignored_container"] == (
        "Docker container (image python:3.11-slim)"
    )
    assert Path(run_dir).is_dir()


RISKY = [
    (
        "params",
        "Docker(image='busybox', parameters=[Parameter(name='privileged', value='true')])",
        "borealis: job: container.docker.parameters: Docker parameters are not allowed by this "
        "scheduler: they give the job the agent host (borealis scheduler "
        "--allow-docker-parameters)",
    ),
    (
        "volumes",
        "Mesos(image=DockerImage(name='debian', tag='bookworm'),"
        " volumes=[Volume(container_path='/host', host_path='/', mode='RW')])",
        "borealis: job: container.mesos.volumes: host volumes are not allowed by this scheduler: "
        "they give the job the agent host's files (borealis scheduler --allow-container-volumes)",
    ),
]


def test_docker_parameters_and_host_volumes_are_refused_unless_the_operator_allows_them(
    cluster: Embedded,
) -> None:
    config = cluster.base / "risky.aurora"
    clusters = str(cluster.scheduler.clusters)
    for name, container, line in RISKY:
        config.write_text(
            f"jobs = [Job(cluster='local', role='www-data', environment='devel', name='{name}',"
            f" task={TASK.format(name=name)}, container={container})]"
        )
        result = borealis("job", "--clusters", clusters, "create", f"local/www-data/devel/{name}",
                          str(config))  # fmt: skip
        assert result.returncode == 2
        assert result.stderr.splitlines() == [line]
    listed = borealis("job", "--clusters", clusters, "list", "local")
    assert listed.returncode == 0 and "params" not in listed.stdout  # nothing stored
    assert "volumes" not in listed.stdout

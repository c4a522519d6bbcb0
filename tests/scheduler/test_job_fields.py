"""Aurora's job fields through ``borealis job create`` (issue #15): each is honoured (stored,
shown by ``job status``, the job API and the job page) or refused with one line naming it."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

import pytest
from cluster import Embedded
from support import borealis, wait_for

BASE = """
p = Process(name='p', cmdline='sleep 100000')
t = Task(name='t', processes=[p], resources=Resources(cpu=0.1, ram=32*MB, disk=32*MB))
job = Service(cluster='local', role='r', environment='devel', name='x', instances=3, task=t)
jobs = [job(%s)]
"""


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (
            "sla_policy=CoordinatorSlaPolicy(coordinator_url='file:///etc/passwd')",
            "sla_policy.coordinator_url: expected an http(s) URL",
        ),
        (
            "sla_policy=CountSlaPolicy(count=3, duration_secs=60)",
            "sla_policy.count: count=3 lets no instance go down",
        ),
        (
            "sla_policy=PercentageSlaPolicy(percentage=70, duration_secs=60)",
            "sla_policy.percentage: percentage=70 lets no instance of 3 go down",
        ),
        (
            "sla_policy=CountSlaPolicy(count=1, duration_secs=9000)",
            "sla_policy.duration_secs: must be at most 7200",
        ),
        (
            "executor_config=ExecutorConfig(name='MyExecutor', data='{}')",
            "executor_config.name: custom executor 'MyExecutor' is not supported",
        ),
        (
            "task=t(resources=Resources(cpu=0.1, ram=32*MB, disk=32*MB, gpu=1))",
            "task.resources.gpu: GPU resource support is disabled in this cluster",
        ),
        ("tier='gold'", "tier: expected one of preemptible, preferred, revocable"),
        ("production=True, tier='revocable'", "production: production=True contradicts"),
        (
            "update_config=UpdateConfig(max_total_failures=3)",
            "update_config.max_total_failures: must be less than the job's instances (3)",
        ),
        (
            "instances=100, constraints={'dedicated': 'r/x'}",
            "update_config.max_total_failures: a dedicated job must tolerate 2% of its",
        ),
    ],
)
def test_fields_borealis_cannot_honour_are_refused_in_one_line(
    tmp_path: Path, fields: str, problem: str
) -> None:
    config, clusters = tmp_path / "x.aurora", tmp_path / "clusters.json"
    config.write_text(BASE % fields)
    # nothing listens there: the refusal comes before any request
    uri = f"http://127.0.0.1:{unused_port()}"
    clusters.write_text(json.dumps([{"name": "local", "scheduler_uri": uri}]))
    result = borealis("job", "--clusters", str(clusters), "create", "local/r/devel/x", str(config))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and problem in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


KEPT = (
    "sla_policy=CountSlaPolicy(count=2, duration_secs=1), production=True, "
    "metadata=[Metadata(key='owner', value='team-a'), Metadata(key='owner', value='team-a')], "
    "task_links={'docs': 'https://example.com/%shard_id%/%task_id%'}, enable_hooks=True, "
    "update_config=UpdateConfig(sla_aware=True)"
)


def test_fields_are_stored_and_shown(cluster: Embedded) -> None:
    config = cluster.base / "x.aurora"
    config.write_text(BASE % KEPT)
    clusters = str(cluster.scheduler.clusters)
    result = borealis("job", "--clusters", clusters, "create", "local/r/devel/x", str(config))
    assert result.returncode == 0, result.stderr
    # ignored with a warning each, as decided in docs/config.md
    assert "enable_hooks=True is ignored" in result.stderr
    assert "production is deprecated: use tier='preferred'" in result.stderr
    spec = cluster.scheduler.get("/api/v1/jobs/local/r/devel/x")["spec"]
    assert spec["sla_policy"] == {"kind": "count", "count": 2, "duration_secs": 1}
    assert spec["tier"] == "preferred"
    assert spec["metadata"] == [{"key": "owner", "value": "team-a"}]  # a set, as Aurora's
    assert spec["task_links"] == {"docs": "https://example.com/%shard_id%/%task_id%"}

    def all_up() -> bool:
        sla = cluster.scheduler.get("/api/v1/jobs/local/r/devel/x")["sla"]
        return bool(sla["up"] == 3 and sla["may_go_down"] == 1)

    wait_for(all_up, timeout=60, what="three instances up for a second")
    status = borealis("job", "--clusters", clusters, "status", "local/r/devel/x")
    assert status.returncode == 0, status.stderr
    for line in (
        "tier preferred (production)",
        "sla count: 2 up for 1s: 3 up now, 1 may go down",
        "metadata owner=team-a",
        "link docs: https://example.com/%shard_id%/%task_id%",
    ):
        assert line in status.stdout, status.stdout
    with urllib.request.urlopen(f"{cluster.scheduler.url}/job/local/r/devel/x", timeout=10) as r:
        page = r.read().decode()
    assert "count: 2 up for 1s" in page and "team-a" in page
    # each running instance's link, with Aurora's substitutions
    task_id = cluster.scheduler.tasks("local/r/devel/x")[0]["task_id"]
    assert f'href="https://example.com/0/{task_id}"' in page


def test_sla_aware_without_a_policy_warns(tmp_path: Path) -> None:
    config, clusters = tmp_path / "x.aurora", tmp_path / "clusters.json"
    config.write_text(BASE % "update_config=UpdateConfig(sla_aware=True)")
    uri = f"http://127.0.0.1:{unused_port()}"
    clusters.write_text(json.dumps([{"name": "local", "scheduler_uri": uri}]))
    result = borealis("job", "--clusters", str(clusters), "create", "local/r/devel/x", str(config))
    # evaluated and warned about before the (absent) scheduler is called
    assert "warning: " in result.stderr and "sla_aware=True has no effect: the job has no" in (
        result.stderr
    )


def test_job_status_lines_for_a_coordinator_policy() -> None:
    from borealis.cli.job_cmd import job_facts

    reply = {
        "spec": {"tier": "preemptible", "metadata": [], "task_links": {}},
        "sla": {
            "policy": {"kind": "coordinator"},
            "text": "coordinator: asks http://c/ (drain)",
            "up": 3,
            "may_go_down": 0,
        },
    }
    # no count of who may go down: only the coordinator knows
    assert job_facts(reply) == ["tier preemptible", "sla coordinator: asks http://c/ (drain)"]

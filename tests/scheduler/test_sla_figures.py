"""``borealis sla get-job-uptime`` / ``get-task-up-count`` end to end on the embedded
cluster: a 3-instance service runs, and the figures the CLI prints are shaped as Aurora's and
bounded by the wall clock around the test."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

import pytest
from cluster import Embedded
from support import borealis, wait_for

KEY = "local/r/devel/up"
CONFIG = """
p = Process(name='p', cmdline='sleep 100000')
t = Task(name='t', processes=[p], resources=Resources(cpu=0.1, ram=32*MB, disk=32*MB))
jobs = [Service(cluster='local', role='r', environment='devel', name='up', instances=3, task=t)]
"""


def test_job_uptime_and_task_up_count_of_a_running_job(cluster: Embedded) -> None:
    config = cluster.base / "up.aurora"
    config.write_text(CONFIG)
    clusters = str(cluster.scheduler.clusters)
    before = time.time()
    created = borealis("job", "--clusters", clusters, "create", KEY, str(config))
    assert created.returncode == 0, created.stderr
    wait_for(lambda: cluster.scheduler.states(KEY) == ["RUNNING"] * 3, 60, "3 RUNNING")

    def sla(*args: str) -> str:
        result = borealis("sla", "--clusters", clusters, *args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    # text: Aurora's lines, highest percentile first
    lines = sla("get-job-uptime", KEY, "--percentiles", "50,99,90").splitlines()
    assert [line.split(" ")[0] for line in lines] == ["99", "90", "50"]
    assert all(re.fullmatch(r"\d+ percentile\t- \d+ seconds", line) for line in lines), lines
    reply = json.loads(sla("get-job-uptime", KEY, "--json"))
    allowed = time.time() - before + 1  # no run can have been up longer than the test
    figures = reply["job_uptime"]
    assert [f["percentile"] for f in figures] == [99, 95, 90, 85, 75, 60, 50, 30, 10]
    seconds = [f["seconds"] for f in figures]
    assert all(0 <= s <= allowed for s in seconds), (seconds, allowed)
    assert seconds == sorted(seconds)  # a lower percentile never reads a shorter uptime

    lines = sla("get-task-up-count", KEY, "--durations", "1d,0s").splitlines()
    assert lines == ["0s\t- 100.00 %", "1d\t- 0.00 %"]  # all 3 live, none up for a day
    counts = json.loads(sla("get-task-up-count", KEY, "--json"))["task_up_count"]
    assert [c["duration_secs"] for c in counts] == [60, 600, 3600, 43200, 604800]
    assert all(c["percent"] in (0.0, 100 / 3, 200 / 3, 100.0) for c in counts), counts

    # bad input: one line, exit 2, before or from the scheduler
    for args in (
        ("get-job-uptime", KEY, "--percentiles", "100"),
        ("get-task-up-count", KEY, "--durations", "10s1m"),
        ("get-job-uptime", "local/r/devel/nosuch"),
    ):
        result = borealis("sla", "--clusters", clusters, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr

    # the route needs the scheduler's token, as the rest of the API
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{cluster.scheduler.url}/api/v1/jobs/{KEY}/sla", timeout=10)
    refused.value.close()
    assert refused.value.code == 401

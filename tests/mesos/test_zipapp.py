"""The executor as shipped to Mesos agents: one zipapp file, fetched into the run directory
(``CommandInfo.uris``) and run there; the runner it starts comes from the same file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cluster import AgentProcess, envelope
from support import REPO, wait_for

from borealis.contract.layout import CheckpointRoot
from borealis.contract.replay import load


@pytest.mark.slow
@pytest.mark.xdist_group("builds-in-the-checkout")  # scripts/build-executor: one at a time
def test_zipapp_executor_fetched_and_run_by_the_agent(agent: AgentProcess, tmp_path: Path) -> None:
    pyz = tmp_path / "dist" / "borealis.pyz"
    built = subprocess.run(
        [str(REPO / "scripts" / "build-executor"), str(pyz)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    agent.launch(
        "zip",
        envelope({"name": "sleeper", "cmdline": "sleep 1000"}),
        executor_uris=[{"value": f"file://{pyz}"}],
        executor_command=f"{sys.executable} borealis.pyz executor",
    )
    agent.wait_state("zip", "TASK_RUNNING")
    run_dir = Path(agent.executor("zip")["run_dir"])
    assert (run_dir / "borealis.pyz").read_bytes() == pyz.read_bytes()  # fetched
    state = load(CheckpointRoot(run_dir).task("zip").runner_stream)
    runner = state.runners[-1].identity.pid
    cmdline = Path(f"/proc/{runner}/cmdline").read_bytes().split(b"\0")
    assert str(run_dir / "borealis.pyz").encode() in cmdline and b"runner" in cmdline
    agent.post("/api/v1/agent/kill", {"task_id": "zip"})
    agent.wait_state("zip", "TASK_KILLED")
    wait_for(lambda: agent.executor("zip")["terminated"], 30, "the executor to exit")

"""One state root per host: with nothing but the default root (here $BOREALIS_ROOT, as the
test fixtures set it), ``borealis agent`` keeps its executors' runs under ROOT/agent, and
``borealis status``, ``tail`` and the observer show those tasks next to the root's own,
without a flag naming the agent's work directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cluster import AgentProcess, envelope, kill_executors, start_daemon
from observing import start_observer, stop_observer
from support import REPO, borealis, kill_leftovers, wait_for

from borealis.contract.layout import CheckpointRoot


def test_status_tail_and_the_observer_show_the_embedded_agents_tasks_without_flags(
    tmp_path: Path,
) -> None:
    root = CheckpointRoot(Path(os.environ["BOREALIS_ROOT"]))
    alone = borealis("run", str(REPO / "sandbox_examples" / "hello_world.aurora"),
                     "--task-id", "standalone")  # fmt: skip
    assert alone.returncode == 0, alone.stderr
    process, port = start_daemon("agent", [], tmp_path / "agent.log")  # no --work-dir
    agent = AgentProcess(root.agent_work_dir.path, tmp_path / "agent.log", port, process)
    observer = None
    try:
        agent.launch(
            "on-agent", envelope({"name": "p", "cmdline": "echo from the agent; sleep 60"})
        )
        agent.wait_state("on-agent", "TASK_RUNNING")
        run_dir = Path(agent.executor("on-agent")["run_dir"])
        assert run_dir.is_relative_to(root.path / "agent")

        listing = json.loads(borealis("status", "--json").stdout)
        assert {t["task_id"] for t in listing} == {"standalone", "on-agent"}
        one = borealis("status", "on-agent")
        assert one.returncode == 0 and "task on-agent: ACTIVE" in one.stdout, one.stderr
        wait_for(lambda: borealis("tail", "on-agent", "p").stdout == "from the agent\n",
                 20, "the agent task's output")  # fmt: skip

        observer = start_observer(tmp_path / "observer.log")  # no --root, no --mesos-root
        seen = {t["task_id"] for t in observer.json("/api/v1/tasks")["tasks"]}
        assert seen == {"standalone", "on-agent"}
    finally:
        if observer is not None:
            stop_observer(observer)
        agent.stop()
        kill_executors(root.path)
        kill_leftovers(root.path)

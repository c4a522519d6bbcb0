"""One task under the executor: its runner as a separate process, followed through the
checkpoint directory only (the executor never asks the runner anything).

``start`` writes the task file and starts ``borealis runner`` in its own session, so the
runner outlives nothing it should not and the executor can be replaced without touching the
task's processes. ``state()`` replays what the runner appended since the last call.
``stop`` asks for a kill (SIGTERM: the runner's TERM -> grace -> KILL of every process) and
``hurry`` asks again (a second request SIGKILLs at once, docs/runner.md). When no runner is
alive any more, ``borealis kill`` re-attaches one just to stop the task.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from borealis.contract.layout import SANDBOX_DIR, CheckpointRoot, TaskPaths, open_private
from borealis.contract.replay import Follower, RunnerState
from borealis.contract.taskspec import TaskSpec
from borealis.executor.runner import prepare
from borealis.executor.runner.proctree import is_alive, send_signal


def borealis_command() -> list[str]:
    """How to run the ``borealis`` command from this interpreter: a zipapp (the executor as
    shipped to Mesos agents, ``scripts/build-executor``) runs itself again."""
    program = sys.argv[0] if sys.argv else ""
    if program.endswith((".pyz", ".pex")) and os.path.isfile(program):
        return [sys.executable, os.path.abspath(program)]
    return [sys.executable, "-m", "borealis.cli.main"]


class TaskRun:
    def __init__(self, root: CheckpointRoot, task_id: str, sandbox: Path) -> None:
        self.root = root
        self.task_id = task_id
        self.sandbox = sandbox
        self.paths: TaskPaths = root.task(task_id)
        self.process: subprocess.Popen[bytes] | None = None
        self._follower: Follower | None = None

    def start(
        self,
        spec: TaskSpec,
        ports: dict[str, int],
        kill_grace: float,
        ignored_container: str = "",
    ) -> None:
        """Start the runner (``ignored_container``: the container the task runs without, on
        the host, recorded in its header)."""
        self.root.ensure()
        prepare.write_task_file(self.paths, spec)
        self.sandbox.mkdir(mode=SANDBOX_DIR, parents=True, exist_ok=True)
        argv = [
            *borealis_command(),
            "runner",
            self.task_id,
            "--root",
            str(self.root.path),
            "--sandbox",
            str(self.sandbox),
            "--kill-grace",
            f"{kill_grace:g}s",
            "-q",
        ]
        for name, number in sorted(ports.items()):
            argv += ["--port", f"{name}={number}"]
        if ignored_container:
            argv += ["--ignored-container", ignored_container]
        # Private as every checkpoint file (contract/layout.py, docs/security.md).
        self.paths.make_checkpoint_dir()
        log = open_private(self.paths.runner_log)
        try:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        finally:
            os.close(log)

    def state(self) -> RunnerState:
        if self._follower is None:
            self._follower = Follower(self.paths.runner_stream)
        try:
            self._follower.update()
        except FileNotFoundError:
            pass
        return self._follower.state

    def runner_output_tail(self) -> str:
        """The last line the runner wrote to its log (why it could not start, if it could not)."""
        try:
            lines = self.paths.runner_log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1][:300] if lines else ""

    def runner_exited(self) -> int | None:
        """The runner's exit status once it has exited (``None`` while it runs)."""
        return None if self.process is None else self.process.poll()

    def runner_alive(self) -> bool:
        """Whether the runner that last took the task is alive (by identity, not by pid)."""
        state = self.state()
        return bool(state.runners) and is_alive(state.runners[-1].identity)

    def stop(self) -> None:
        """Ask the runner to kill the task (again: at once)."""
        state = self.state()
        if self.runner_alive():
            send_signal(state.runners[-1].identity, signal.SIGTERM)
        elif self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # not yet recorded in its stream
        else:
            self._kill_without_runner()

    def _kill_without_runner(self) -> None:
        current = self.state().task_state
        if current is not None and current.terminal:
            return
        subprocess.Popen(
            [*borealis_command(), "kill", self.task_id, "--root", str(self.root.path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def close(self) -> None:
        """Stop following (the runner, if still alive, keeps the task)."""
        if self._follower is not None:
            self._follower.close()

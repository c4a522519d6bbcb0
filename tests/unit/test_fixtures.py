"""Checkpoints written by each format version stay readable (one fixture per version).

``tests/fixtures/v1`` is the checkpoint root of a real ``borealis run`` of
``sandbox_examples/flaky.aurora`` (format 1). Never regenerate a fixture of a
released format: add one for the new version instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from borealis.contract.layout import CheckpointRoot
from borealis.contract.records import FORMAT_VERSION
from borealis.contract.replay import load
from borealis.contract.states import ProcessState, TaskState
from borealis.contract.taskspec import task_from_text

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_a_fixture_exists_for_the_current_format() -> None:
    assert (FIXTURES / f"v{FORMAT_VERSION}").is_dir()


def test_v1_replays_to_the_recorded_outcome() -> None:
    root = CheckpointRoot(FIXTURES / "v1")
    paths = root.task("flaky-v1")
    state = load(paths.runner_stream)
    assert state.header is not None and state.header.format == 1
    assert state.task_state is TaskState.SUCCESS
    runs = state.runs("flaky")
    assert [(r.state, r.return_code) for r in runs] == [
        (ProcessState.FAILED, 1),
        (ProcessState.FAILED, 1),
        (ProcessState.SUCCESS, 0),
    ]
    assert all(r.pid is not None and r.coordinator is not None for r in runs)
    spec = task_from_text(paths.finished_task_file.read_text(), "fixture")
    assert spec.process("flaky").max_failures == 3
    # the coordinator stream holds the same process records the runner merged
    coordinator = load_process_stream(paths.process_stream("flaky"))
    assert [r["state"] for r in coordinator] == ["FORKED", "RUNNING", "FAILED"] * 2 + [
        "FORKED",
        "RUNNING",
        "SUCCESS",
    ]


def load_process_stream(path: Path) -> list[dict[str, object]]:
    from borealis.contract.stream import read_all

    return [json.loads(p) for p in read_all(path).payloads]


def test_v1_through_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "borealis.cli.main", "status", "flaky-v1", "--json",
         "--root", str(FIXTURES / "v1")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    status = json.loads(result.stdout)
    assert status["state"] == "SUCCESS"
    assert [r["return_code"] for r in status["processes"]["flaky"]] == [1, 1, 0]

"""Runner semantics with real processes, one rule per test.

Every scenario runs a real task to its end through ``run_in_process``, which
also asserts that the runner's live state equals the state replayed from its
checkpoint.
"""

from __future__ import annotations

import itertools
import os
import pwd

import pytest
from support import replayed, run_in_process, task

from borealis.contract.layout import CheckpointRoot
from borealis.contract.states import ProcessState, TaskState
from borealis.executor.runner.runner import RunnerOptions


def states(root: CheckpointRoot, name: str, task_id: str = "t1") -> list[str]:
    return [r.state.value for r in replayed(root, task_id).runs(name)]


def test_single_process_success_records_pid_and_exit(root: CheckpointRoot) -> None:
    state, runner = run_in_process(root, task({"name": "a", "cmdline": "exit 0"}))
    assert state is TaskState.SUCCESS
    (run,) = runner.state.runs("a")
    assert run.state is ProcessState.SUCCESS and run.return_code == 0
    assert run.pid is not None and run.coordinator is not None
    assert run.waiting_time <= run.fork_time <= run.start_time <= run.stop_time  # type: ignore[operator]
    assert root.task("t1").finished_task_file.exists()
    assert not root.task("t1").active_task_file.exists()


def test_order_constraints_run_processes_one_after_another(root: CheckpointRoot) -> None:
    spec = task(
        {"name": "a", "cmdline": "sleep 0.2"},
        {"name": "b", "cmdline": "sleep 0.1"},
        {"name": "c", "cmdline": "true"},
        {"name": "free", "cmdline": "true"},
        constraints=[{"order": ["a", "b", "c"]}],
    )
    state, runner = run_in_process(root, spec)
    assert state is TaskState.SUCCESS
    a, b, c = (runner.state.runs(n)[0] for n in "abc")
    free = runner.state.runs("free")[0]
    assert a.stop_time <= b.waiting_time and b.stop_time <= c.waiting_time  # type: ignore[operator]
    assert free.start_time < a.stop_time  # type: ignore[operator]  # unconstrained: in parallel


def test_max_concurrency_limits_simultaneous_runs(root: CheckpointRoot) -> None:
    procs = [{"name": f"p{i}", "cmdline": "sleep 0.2"} for i in range(5)]
    state, runner = run_in_process(root, task(*procs, max_concurrency=2))
    assert state is TaskState.SUCCESS
    intervals = [(r.waiting_time, r.stop_time) for p in procs for r in runner.state.runs(p["name"])]
    for t, _ in intervals:
        overlapping = sum(1 for start, stop in intervals if start <= t < stop)  # type: ignore[operator]
        assert overlapping <= 2


def test_failed_runs_keep_exit_status_and_retry_up_to_max_failures(root: CheckpointRoot) -> None:
    spec = task({"name": "bad", "cmdline": "exit 3", "max_failures": 3})
    state, runner = run_in_process(root, spec)
    assert state is TaskState.FAILED
    runs = runner.state.runs("bad")
    assert [(r.state, r.return_code) for r in runs] == [(ProcessState.FAILED, 3)] * 3
    assert all(r.stop_time is not None for r in runs)  # Thermos lost these for FAILED runs
    assert "bad" in runner.state.statuses[-1].reason


def test_max_failures_zero_retries_until_the_run_cap(root: CheckpointRoot) -> None:
    spec = task({"name": "bad", "cmdline": "exit 1", "max_failures": 0})
    state, runner = run_in_process(root, spec, options=RunnerOptions(max_runs=4))
    assert state is TaskState.FAILED
    assert len(runner.state.runs("bad")) == 4
    assert "limit of 4 runs" in runner.state.statuses[-1].reason


def test_min_duration_is_the_gap_between_runs(root: CheckpointRoot) -> None:
    spec = task({"name": "bad", "cmdline": "exit 1", "max_failures": 3, "min_duration": 1})
    state, runner = run_in_process(root, spec)
    assert state is TaskState.FAILED
    runs = runner.state.runs("bad")
    for previous, following in itertools.pairwise(runs):
        assert following.waiting_time - previous.stop_time >= 1.0  # type: ignore[operator]


def test_daemon_is_rerun_after_success(root: CheckpointRoot) -> None:
    spec = task(
        {"name": "d", "cmdline": "sleep 0.1", "daemon": True, "ephemeral": True},
        {"name": "main", "cmdline": "sleep 1"},
    )
    state, runner = run_in_process(root, spec)
    assert state is TaskState.SUCCESS
    runs = runner.state.runs("d")
    assert len(runs) >= 3
    assert all(r.state is ProcessState.SUCCESS for r in runs[:-1])


def test_ephemeral_processes_do_not_hold_up_completion(root: CheckpointRoot) -> None:
    spec = task(
        {"name": "side", "cmdline": "sleep 100", "ephemeral": True},
        {"name": "main", "cmdline": "true"},
    )
    state, runner = run_in_process(root, spec)
    assert state is TaskState.SUCCESS
    (side,) = runner.state.runs("side")
    assert side.state is ProcessState.KILLED and side.return_code == -15


def test_failing_ephemeral_past_its_limit_is_finished_not_failed(root: CheckpointRoot) -> None:
    spec = task(
        {"name": "side", "cmdline": "exit 1", "ephemeral": True, "max_failures": 2},
        {"name": "main", "cmdline": "sleep 0.3"},
    )
    state, _ = run_in_process(root, spec)
    assert state is TaskState.SUCCESS
    assert states(root, "side") == ["FAILED", "FAILED"]


def test_final_processes_run_after_the_regular_plan_in_order(root: CheckpointRoot) -> None:
    spec = task(
        {"name": "work", "cmdline": "echo work >> trace"},
        {"name": "f1", "cmdline": "echo f1 >> trace", "final": True},
        {"name": "f2", "cmdline": "echo f2 >> trace", "final": True},
        constraints=[{"order": ["f1", "f2"]}],
    )
    state, runner = run_in_process(root, spec)
    assert state is TaskState.SUCCESS
    trace = (root.path / "sandboxes/t1/trace").read_text().split()
    assert trace == ["work", "f1", "f2"]
    assert [s.state for s in runner.state.statuses] == [
        TaskState.ACTIVE,
        TaskState.CLEANING,
        TaskState.FINALIZING,
        TaskState.SUCCESS,
    ]


def test_final_processes_run_even_when_the_task_failed(root: CheckpointRoot) -> None:
    spec = task(
        {"name": "work", "cmdline": "exit 2"},
        {"name": "cleanup", "cmdline": "touch cleaned", "final": True},
    )
    state, _ = run_in_process(root, spec)
    assert state is TaskState.FAILED
    assert (root.path / "sandboxes/t1/cleaned").exists()
    assert states(root, "cleanup") == ["SUCCESS"]


def test_finalization_wait_bounds_final_processes(root: CheckpointRoot) -> None:
    spec = task(
        {"name": "work", "cmdline": "true"},
        {"name": "slow_final", "cmdline": "sleep 100", "final": True},
        finalization_wait=1,
    )
    state, runner = run_in_process(root, spec)
    assert state is TaskState.SUCCESS  # a final process does not decide the outcome
    (run,) = runner.state.runs("slow_final")
    assert run.state is ProcessState.KILLED
    left_active = runner.state.entered(TaskState.CLEANING)
    assert left_active is not None and run.stop_time is not None
    assert 1.0 <= run.stop_time - left_active < 5.0


def test_task_max_failures_counts_failed_processes(root: CheckpointRoot) -> None:
    procs = (
        {"name": "bad", "cmdline": "exit 1"},
        {"name": "good", "cmdline": "sleep 0.3"},
    )
    state, _ = run_in_process(root, task(*procs, max_failures=2))
    assert state is TaskState.SUCCESS  # one failed process is under the limit of two
    state, _ = run_in_process(root, task(*procs, max_failures=1), task_id="t2")
    assert state is TaskState.FAILED


def test_unhealthy_task_stops_its_other_processes(root: CheckpointRoot) -> None:
    spec = task({"name": "bad", "cmdline": "exit 1"}, {"name": "long", "cmdline": "sleep 100"})
    state, runner = run_in_process(root, spec)
    assert state is TaskState.FAILED
    (long_run,) = runner.state.runs("long")
    assert long_run.state is ProcessState.KILLED


def test_deadlock_when_a_dependency_fails_for_good(root: CheckpointRoot) -> None:
    spec = task(
        {"name": "a", "cmdline": "exit 1"},
        {"name": "b", "cmdline": "true"},
        constraints=[{"order": ["a", "b"]}],
        max_failures=0,
    )
    state, runner = run_in_process(root, spec)
    assert state is TaskState.FAILED
    assert runner.state.runs("b") == []
    assert "b waits for a" in runner.state.statuses[-1].reason


def test_killed_and_lost_runs_are_retried_without_counting(root: CheckpointRoot) -> None:
    # Run 0 kills itself with SIGKILL (KILLED, not a failure); run 1 succeeds.
    spec = task({"name": "p", "cmdline": 'if [ "$BOREALIS_RUN" = 0 ]; then kill -9 $$; fi'})
    state, runner = run_in_process(root, spec)
    assert state is TaskState.SUCCESS
    runs = runner.state.runs("p")
    assert [(r.state, r.return_code) for r in runs] == [
        (ProcessState.KILLED, -9),
        (ProcessState.SUCCESS, 0),
    ]


def test_coordinator_death_makes_the_run_lost_and_kills_its_process(root: CheckpointRoot) -> None:
    # Run 0 SIGKILLs its own coordinator (its parent) and goes on as `sleep`:
    # the run must become LOST and its orphaned process be killed before run 1
    # starts, so that two runs of one process never overlap.
    cmd = (
        'if [ "$BOREALIS_RUN" = 0 ]; then echo $$ > run0.pid; kill -9 $PPID; exec sleep 100; fi; '
        "if kill -0 $(cat run0.pid) 2>/dev/null; then echo overlap; exit 1; fi"
    )
    state, runner = run_in_process(root, task({"name": "p", "cmdline": cmd}))
    assert state is TaskState.SUCCESS
    first, second = runner.state.runs("p")
    assert first.state is ProcessState.LOST and "coordinator" in first.reason
    assert second.state is ProcessState.SUCCESS


def test_environment_cwd_and_session(root: CheckpointRoot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAKY_SECRET", "should-not-pass")
    spec = task(
        {
            "name": "env",
            # field 6 of /proc/PID/stat is the session id (no procps needed)
            "cmdline": "env | sort > env.out; pwd > pwd.out; cut -d' ' -f6 /proc/$$/stat > sid.out",
        }
    )
    state, runner = run_in_process(root, spec)
    assert state is TaskState.SUCCESS
    sandbox = root.path / "sandboxes/t1"
    env = dict(
        line.split("=", 1) for line in (sandbox / "env.out").read_text().splitlines() if "=" in line
    )
    assert env["HOME"] == str(sandbox)
    assert env["BOREALIS_TASK_ID"] == "t1"
    assert env["BOREALIS_SANDBOX"] == str(sandbox)
    assert env["BOREALIS_PROCESS"] == "env"
    assert env["BOREALIS_RUN"] == "0"
    assert env["USER"] == env["LOGNAME"] == "root"
    assert "LEAKY_SECRET" not in env
    assert (sandbox / "pwd.out").read_text().strip() == str(sandbox)
    (run,) = runner.state.runs("env")
    assert run.pid is not None
    assert int((sandbox / "sid.out").read_text()) == run.pid.pid  # its own session


def test_preserve_env_passes_the_runner_environment(
    root: CheckpointRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PASSED_ON", "yes")
    spec = task({"name": "env", "cmdline": 'test "$PASSED_ON" = yes && test "$HOME" = "$PWD"'})
    state, _ = run_in_process(root, spec, options=RunnerOptions(preserve_env=True))
    assert state is TaskState.SUCCESS


def test_thermos_profile_is_sourced(root: CheckpointRoot) -> None:
    sandbox = root.path / "sandboxes/t1"
    sandbox.mkdir(parents=True)
    (sandbox / ".thermos_profile").write_text("export FROM_PROFILE=1\n")
    state, _ = run_in_process(root, task({"name": "p", "cmdline": 'test "$FROM_PROFILE" = 1'}))
    assert state is TaskState.SUCCESS


def test_logs_go_to_the_run_directory(root: CheckpointRoot) -> None:
    spec = task(
        {
            "name": "p",
            "cmdline": "echo out $BOREALIS_RUN; echo err >&2; exit $((1 - BOREALIS_RUN))",
            "max_failures": 2,
        }
    )
    state, _ = run_in_process(root, spec)
    assert state is TaskState.SUCCESS
    logs = root.path / "sandboxes/t1/.logs/p"
    assert (logs / "0/stdout").read_text() == "out 0\n"
    assert (logs / "1/stdout").read_text() == "out 1\n"
    assert (logs / "1/stderr").read_text() == "err\n"


def test_logger_none_and_console(root: CheckpointRoot, capfd: pytest.CaptureFixture[str]) -> None:
    spec = task(
        {"name": "quiet", "cmdline": "echo hidden", "logger": {"destination": "none"}},
        {"name": "loud", "cmdline": "echo on-console", "logger": {"destination": "console"}},
    )
    state, _ = run_in_process(root, spec)
    assert state is TaskState.SUCCESS
    logs = root.path / "sandboxes/t1/.logs"
    assert not (logs / "quiet").exists() and not (logs / "loud").exists()
    assert "on-console" in capfd.readouterr().out


def test_a_run_that_cannot_start_fails_with_a_reason(root: CheckpointRoot) -> None:
    sandbox = root.path / "sandboxes/t1"
    spec = task(
        {"name": "rm", "cmdline": f"rm -rf {sandbox}"},
        {"name": "after", "cmdline": "true"},
        constraints=[{"order": ["rm", "after"]}],
    )
    state, runner = run_in_process(root, spec)
    assert state is TaskState.FAILED
    (run,) = runner.state.runs("after")
    assert run.state is ProcessState.FAILED and run.return_code == 127
    assert "could not start" in run.reason


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_task_user_runs_processes_as_that_user(root: CheckpointRoot) -> None:
    from borealis.executor.runner.prepare import resolve_user

    user, run_as = resolve_user("nobody", "test")
    assert run_as is not None
    sandbox = root.path / "sandboxes/t1"
    sandbox.mkdir(parents=True)
    os.chown(sandbox, run_as.uid, run_as.gid)
    spec = task({"name": "who", "cmdline": "id -un > who.out"}, user="nobody")
    state, _ = run_in_process(root, spec, user=user, run_as=run_as)
    assert state is TaskState.SUCCESS
    assert (sandbox / "who.out").read_text().strip() == "nobody"
    log = sandbox / ".logs/who/0/stdout"
    assert pwd.getpwuid(log.stat().st_uid).pw_name == "nobody"


def test_live_state_is_replayable_from_disk_alone(root: CheckpointRoot) -> None:
    spec = task(
        {"name": "a", "cmdline": "exit 1", "max_failures": 2},
        {"name": "b", "cmdline": "true"},
        {"name": "z", "cmdline": "true", "final": True},
    )
    state, runner = run_in_process(root, spec)
    assert state is TaskState.FAILED
    again = replayed(root, "t1")
    assert again == runner.state
    assert again.header is not None and again.header.sandbox == str(root.path / "sandboxes/t1")

"""Recovery: SIGKILL the supervisor while it supervises N live processes, start it again.

    benchmarks/.venv/bin/python benchmarks/recovery.py [--runs 5] [--records 100000]

Borealis. A task of N ``sleep 1000`` processes (``max_failures = 0``) is put on disk
with a synthetic history, so that its runner checkpoint holds about ``--records``
records once the live runs have started: the task file (``borealis inspect`` output),
then the runner stream and every process stream written with
``borealis.contract.stream`` / ``records`` as if each process had already run and
ended R times (R = records / 4N; each run leaves WAITING, FORKED, RUNNING and an end
record, FAILED exit 1 or KILLED by signal 9, 10 s apart, every 50 generations a runner
restart). The history is replayed with ``replay.load`` before use. Then:

1. ``borealis runner ID --root ROOT --max-runs 0 -q`` starts the N processes (run R of
   each); wait until all are RUNNING in the checkpoint and the runner is idle;
2. SIGKILL the runner; its shim and the sleeps stay;
3. start ``borealis runner ID --root ROOT --max-runs 0 -q`` again and poll (every
   ``--poll`` s) until **re-attached**: the new runner's ``runner`` record is in the
   checkpoint, every process's last run is still run R, RUNNING, with the same pid
   identity (pid + start ticks), nothing else was recorded, and the new runner is idle
   (blocked in ``epoll_wait``: ``/proc/PID/wchan``), i.e. it has replayed the stream,
   re-attached to the shim (by identity) and finished its first loop iteration;
4. verify after ``--settle`` s: the N original sleeps alive, N sleeps in all, no run
   added (zero duplicates), no LOST; then SIGKILL one sleep and wait for the new
   runner to record that run's end (proof that it follows the re-attached shim).

The floor is what any re-attaching Python runner must at least do: a fresh
interpreter that imports ``borealis.contract.replay`` and replays the same stream
(``python -c 'replay.load(...)'``, timed from spawn to exit).

supervisord and circus: start with N programs / watchers, wait until all are running,
SIGKILL the daemon, start it again on the same configuration, and wait until it reports
all N running; then count what is alive (they do not re-attach: the orphaned originals
keep running beside N new processes).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import harness
import peers
from harness import fmt, median, ratio, table

from borealis.contract import replay
from borealis.contract.records import (
    Header,
    Identity,
    ProcessStatus,
    Record,
    RunnerStarted,
    TaskStatus,
    encode,
)
from borealis.contract.states import ProcessState, TaskState
from borealis.contract.stream import frame, read_all

SYSTEMS = ["borealis", "supervisord", "circus"]
TASK_ID = "recovery"
RUNNER_ARGS = ("--max-runs", "0")  # the history already holds R runs of every process
GAP = 10.0  # seconds between two generations of the synthetic history
IDLE_WCHAN = {"do_epoll_wait", "ep_poll"}


def boot_id() -> str:
    with open("/proc/sys/kernel/random/boot_id") as fp:
        return fp.read().strip()


def alive(identity: Identity) -> bool:
    try:
        with open(f"/proc/{identity.pid}/stat", "rb") as fp:
            data = fp.read()
    except OSError:
        return False
    fields = data[data.rindex(b")") + 2 :].split()
    return fields[0] != b"Z" and int(fields[19]) == identity.start_ticks


def idle(pid: int) -> bool:
    """The process is asleep in ``epoll_wait`` (the runner's loop waiting for news)."""
    try:
        with open(f"/proc/{pid}/wchan") as fp:
            return fp.read().strip() in IDLE_WCHAN
    except OSError:
        return False


# -- the synthetic history -----------------------------------------------------------------


def prefill(sut: peers.Borealis, target: int) -> dict[str, int]:
    """Put the task on disk with its history; return the counts of what was written."""
    count = sut.count
    root = sut.root
    paths_task = root / "tasks" / "active" / sut.task_id
    checkpoint = root / "checkpoints" / sut.task_id
    sandbox = root / "sandboxes" / sut.task_id
    for directory in (paths_task.parent, root / "tasks" / "finished", checkpoint, sandbox):
        directory.mkdir(parents=True, exist_ok=True)
    task_json = subprocess.run(
        [harness.tool("borealis"), "inspect", str(sut.config), "--task-id", sut.task_id],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    paths_task.write_text(task_json)

    # records in the end: 2 + R/50 runner restarts + 4*count*R (history) + 1 + 3*count (live runs)
    generations = max(1, round((target - 3 - 3 * count) / (4 * count)))
    now = time.time()
    t = now - generations * GAP - 600
    boot = boot_id()
    fake_pid = 10_000_000  # above any pid_max: these processes are long gone
    runner: list[Record] = [
        Header(
            sut.task_id,
            str(sandbox),
            str(sandbox / ".logs"),
            socket.gethostname(),
            "root" if os.getuid() == 0 else str(os.getuid()),
            os.getuid(),
            {},
            t,
            boot,
        ),
        TaskStatus(TaskState.ACTIVE, t),
    ]
    coordinator: dict[str, list[Record]] = {name: [] for name in peers.names(count)}
    for gen in range(generations):
        if gen % 50 == 0:
            runner.append(RunnerStarted(Identity(fake_pid, gen), t, boot))
            fake_pid += 1
        for name in peers.names(count):
            runner.append(ProcessStatus(name, gen, ProcessState.WAITING, t))
        for i, name in enumerate(peers.names(count)):
            coord, child = Identity(fake_pid, gen), Identity(fake_pid + 1, gen)
            fake_pid += 2
            ts = t + 0.001 * i
            if (gen + i) % 3 == 0:
                end = ProcessStatus(name, gen, ProcessState.KILLED, ts + 5, return_code=-9)
            else:
                end = ProcessStatus(name, gen, ProcessState.FAILED, ts + 5, return_code=1)
            records = [
                ProcessStatus(name, gen, ProcessState.FORKED, ts, coordinator=coord),
                ProcessStatus(name, gen, ProcessState.RUNNING, ts, pid=child),
                end,
            ]
            runner += records
            coordinator[name] += records
        t += GAP
    (checkpoint / "runner").write_bytes(b"".join(frame(encode(r)) for r in runner))
    for name, records in coordinator.items():
        (checkpoint / f"process.{name}").write_bytes(b"".join(frame(encode(r)) for r in records))
    state = replay.load(checkpoint / "runner")  # raises if the history does not replay
    assert all(len(state.runs(n)) == generations for n in peers.names(count))
    return {"generations": generations, "history_records": len(runner)}


# -- Borealis ------------------------------------------------------------------------------


def borealis_run(ws: harness.Workspace, args: argparse.Namespace) -> dict[str, float | int | None]:
    count = args.count
    sut = peers.Borealis(
        ws.directory("borealis"),
        count,
        task_id=TASK_ID,
        process_fields="max_failures=0",
        runner_args=RUNNER_ARGS,
    )
    written = prefill(sut, args.records)
    generations = written["generations"]
    sut.restarted = True  # the task is on disk: use `borealis runner`, as after a crash
    sut.start()
    harness.wait_for(sut.all_running, 300, 0.05, "borealis: first runner, all running")
    harness.wait_for(lambda: idle(sut.pid), 60, 0.01, "borealis: first runner idle")
    sut.update()
    before = {name: runs[-1] for name, runs in sut.state.processes.items()}
    identities = {name: run.pid for name, run in before.items()}
    if any(r.run != generations or r.pid is None for r in before.values()):
        raise RuntimeError("borealis: the first runner did not start run R of every process")
    records_before = len(read_all(sut.stream).payloads)

    sut.kill()
    runners_before = len(sut.state.runners)
    t0 = sut.restart()
    new_pid = sut.pid

    def reattached() -> bool:
        sut.update()
        if len(sut.state.runners) <= runners_before:
            return False
        if sut.state.runners[-1].identity.pid != new_pid:
            raise RuntimeError("borealis: the new runner record names another process")
        for name, run in before.items():
            last = sut.state.processes[name][-1]
            if last.run != run.run or last.state is not ProcessState.RUNNING:
                raise RuntimeError(
                    f"borealis: {name}: run {last.run} {last.state.value} "
                    f"after the restart (was run {run.run} RUNNING)"
                )
            if last.pid != identities[name]:
                raise RuntimeError(f"borealis: {name}: pid changed across the restart")
        return idle(new_pid)

    done = harness.wait_for(reattached, 120, args.poll, "borealis: re-attached")
    assert sut.ready_at is not None

    # -- verification -------------------------------------------------------------------
    time.sleep(args.settle)
    sut.update()
    if sut.proc is None or sut.proc.poll() is not None:
        raise RuntimeError("borealis: the new runner exited")
    originals = sum(1 for ident in identities.values() if ident is not None and alive(ident))
    added_runs = sum(len(sut.state.processes[n]) - (r.run + 1) for n, r in before.items())
    lost = sum(1 for runs in sut.state.processes.values() if runs[-1].state is ProcessState.LOST)
    records_after = len(read_all(sut.stream).payloads)
    sleeps = len(ws.ours())

    # Proof of re-attachment: an exit is noticed and recorded by the new runner.
    probe = peers.names(count)[0]
    probe_id = identities[probe]
    assert probe_id is not None
    os.kill(probe_id.pid, signal.SIGKILL)
    t_probe = time.time()

    def probe_recorded() -> bool:
        sut.update()
        run = sut.state.processes[probe][before[probe].run]
        return run.state is ProcessState.KILLED

    probe_seen = harness.wait_for(probe_recorded, 30, 0.01, "borealis: probe exit recorded")

    # -- the floor: a fresh interpreter replaying the same stream ------------------------
    floor_t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, pathlib\nfrom borealis.contract import replay\n"
            "replay.load(pathlib.Path(sys.argv[1]))",
            str(sut.stream),
        ],
        check=True,
        cwd=sut.workdir,  # not the checkout: import executor from the venv's install
    )
    floor = time.perf_counter() - floor_t0
    return {
        "total": done - t0,
        "ready": sut.ready_at - t0,
        "originals_alive": originals,
        "same_pids": sum(
            1 for n in before if sut.state.processes[n][before[n].run].pid == identities[n]
        ),
        "sleeps_alive": sleeps,
        "duplicates": added_runs + max(0, sleeps - count),
        "lost": lost,
        "records": records_before,
        "records_added": records_after - records_before,
        "probe": probe_seen - t_probe,
        "floor": floor,
    }


# -- the peers -----------------------------------------------------------------------------


def peer_run(
    ws: harness.Workspace, system: str, args: argparse.Namespace
) -> dict[str, float | int | None]:
    workdir = ws.directory(system)
    sut: peers.System
    sut = (
        peers.Supervisord(workdir, args.count)
        if system == "supervisord"
        else peers.Circus(workdir, args.count)
    )
    sut.start()
    harness.wait_for(sut.all_running, 120, 0.05, f"{system}: all running")
    before = sut.pids()
    if len(before) != args.count:
        raise RuntimeError(f"{system}: {len(before)} pids reported, expected {args.count}")
    sut.kill()
    t0 = sut.restart()
    done = harness.wait_for(sut.all_running, 120, args.poll, f"{system}: all running again")
    assert sut.ready_at is not None
    time.sleep(args.settle)
    after = sut.pids()
    sleeps = len(ws.ours())
    originals = sum(1 for pid in before.values() if peers.process_alive(pid))
    return {
        "total": done - t0,
        "ready": sut.ready_at - t0,
        "originals_alive": originals,
        "same_pids": sum(1 for name, pid in before.items() if after.get(name) == pid),
        "sleeps_alive": sleeps,
        "duplicates": max(0, sleeps - args.count),
        "lost": None,
        "records": None,
        "records_added": None,
        "probe": None,
        "floor": None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="repetitions (default 5)")
    parser.add_argument("--count", type=int, default=100, help="processes (default 100)")
    parser.add_argument(
        "--records",
        type=int,
        default=100_000,
        help="runner checkpoint size to reach, records (default 100000)",
    )
    parser.add_argument("--poll", type=float, default=0.002, help="poll interval, s (0.002)")
    parser.add_argument(
        "--settle", type=float, default=1.0, help="wait after re-attach before verifying, s (1)"
    )
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated subset")
    parser.add_argument("--out", type=Path, help="also write the raw figures as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories")
    args = parser.parse_args()
    systems = harness.systems_arg(args.systems, SYSTEMS)

    with harness.Workspace("recovery", keep=args.keep) as ws:
        results = harness.repeat(
            ws,
            systems,
            args.runs,
            lambda s: borealis_run(ws, args) if s == "borealis" else peer_run(ws, s, args),
        )

    print(f"# recovery: SIGKILL + restart of the supervisor of {args.count} x `sleep 1000`")
    print(f"# {harness.machine()}")
    print(
        f"# runs={args.runs} records={args.records} poll={args.poll}s settle={args.settle}s "
        f"command: {' '.join(sys.argv)}\n"
    )
    headers = [
        "system",
        "run",
        "restart -> ready s",
        "restart -> all running s",
        "originals alive",
        "same pids",
        "sleeps alive",
        "duplicates",
        "LOST",
        "checkpoint records",
        "records added",
        "probe exit seen s",
        "floor s",
        "host busy %",
    ]
    rows = []
    for system in systems:
        for i, r in enumerate(results[system]):
            rows.append(
                [
                    system,
                    i + 1,
                    fmt(r["ready"]),
                    fmt(r["total"]),
                    r["originals_alive"],
                    r["same_pids"],
                    r["sleeps_alive"],
                    r["duplicates"],
                    "-" if r["lost"] is None else r["lost"],
                    "-" if r["records"] is None else r["records"],
                    "-" if r["records_added"] is None else r["records_added"],
                    fmt(r["probe"]),
                    fmt(r["floor"]),
                    f"{r['host_busy']:.0f}",
                ]
            )
    print("Per run (Borealis: 'all running' = re-attached, see the docstring; records added")
    print("between the kill and the verification, the new runner's own 'runner' record included;")
    print("host busy % = CPU use by others just before the run):\n")
    print(table(headers, rows))

    medians = {
        s: {k: median([r[k] for r in results[s]]) for k in ("total", "ready", "floor")}
        for s in systems
    }
    print("\nMedians (seconds):\n")
    print(
        table(
            ["system", "restart -> ready", "restart -> all running / re-attached"],
            [[s, fmt(m["ready"]), fmt(m["total"])] for s, m in medians.items()],
        )
    )
    if "borealis" in medians:
        b = medians["borealis"]
        print(
            f"\nFloor (fresh interpreter + replay.load of the same checkpoint): {fmt(b['floor'])} s"
        )
        rows = [["borealis / floor", ratio(b["total"], b["floor"])]]
        rows += [
            [f"borealis / {o}", ratio(b["total"], medians[o]["total"])]
            for o in systems
            if o != "borealis"
        ]
        print("\nRatios of medians (restart -> re-attached / all running):\n")
        print(table(["ratio", "value"], rows))
    if args.out:
        harness.save(args.out, args, results, medians)
    return 0


if __name__ == "__main__":
    sys.exit(main())

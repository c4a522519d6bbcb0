"""Launch: time from starting a supervisor until it reports all N sleeps RUNNING.

    benchmarks/.venv/bin/python benchmarks/launch.py [--runs 5] [--count 100] [--poll 0.02]

For each repetition, each system in turn (the order rotates between repetitions):

* popen        the floor: ``subprocess.Popen(["sleep", "1000"])`` N times in this process;
               the time is the loop's
* borealis     ``borealis run sleepers.aurora --root TMP --task-id bench -q`` (N processes,
               ``cmdline = 'sleep 1000'``); polled by replaying the runner checkpoint
               incrementally (``borealis.contract.replay.Follower``) until the last run of
               every process is RUNNING. "ready" is the time in the runner's ``runner``
               record, so "ready -> all" leaves out interpreter start-up, imports and the
               config load
* supervisord  ``supervisord -n`` with N programs, ``startsecs = 0``; polled with XML-RPC
               ``getAllProcessInfo`` until all are RUNNING; "ready" = first XML-RPC answer
* circus       ``circusd`` with N watchers of ``numprocesses = 1``; polled with the ``status``
               command until all are ``active``; "ready" = first answer
* circus-1w    ``circusd`` with one watcher, ``numprocesses = N`` (same polling)

**CPU** (issue #13): the CPU time (user + system) that the run's processes spent, i.e.
everything the system ran to get N sleeps running: the supervisor, all its helpers (the
runner, coordinators or shims, spawners...), the children that already exited (e.g. a
``bash -c`` shell) and the N sleeps, whose pids also carry the forked child's work before
``exec`` and the exec itself. Method: the benchmark's own ``getrusage(RUSAGE_CHILDREN)``
(exact, not rounded to clock ticks), read before the start and again once the run is over.
As soon as all N are reported running, every descendant of the benchmark gets SIGSTOP (so
that nothing done after that moment counts), the sleeps are counted, then everything gets
SIGKILL and is reaped: the benchmark is a child subreaper, so every process of the run is
reaped by its parent or by the benchmark, and its time (with that of the children it
reaped) ends up in the benchmark's RUSAGE_CHILDREN. Included thus: the exit (SIGKILL
teardown) of every process, and for supervisord and circus the answers to the benchmark's
status polls (every ``--poll`` s; Borealis is polled by reading its checkpoint, which costs
it nothing). "in the sleeps" is the part spent in the sleeps' pids before the SIGSTOP
(``/proc/PID/schedstat``, exact); "supervisor" is the rest. The floor's CPU is its loop's
thread time (``RUSAGE_THREAD``) plus its sleeps' RUSAGE_CHILDREN, read the same way.

After each run every process is SIGKILLed and the absence of leftover sleeps is checked.
Prints the per-run figures, the medians and the ratios Borealis / peer and system / floor.
No assertion on any figure: the goal is judged by reading the table.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import harness
import peers
import psutil
from harness import fmt, median, ratio, table

SYSTEMS = ["popen", "borealis", "supervisord", "circus", "circus-1w"]


def children_cpu() -> float:
    """CPU s of this process's reaped descendants (each with the ones it reaped itself)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def thread_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_THREAD)
    return ru.ru_utime + ru.ru_stime


def floor(workdir: Path, count: int) -> dict[str, float]:
    cpu0 = thread_cpu()
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(harness.SLEEP_ARGV, stdin=subprocess.DEVNULL, cwd=workdir)
        for _ in range(count)
    ]
    total = time.perf_counter() - t0
    cpu = thread_cpu() - cpu0
    assert len(procs) == count
    return {"total": total, "ready": 0.0, "cpu_parent": cpu}


def freeze() -> None:
    """SIGSTOP every descendant of this process (again, until no new one shows up)."""
    stopped: set[int] = set()
    while True:
        fresh = [p for p in psutil.Process().children(recursive=True) if p.pid not in stopped]
        if not fresh:
            return
        for proc in fresh:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGSTOP)
            stopped.add(proc.pid)


def run_seconds(pid: int) -> float:
    """Time on CPU of a single-threaded process so far (``/proc/PID/schedstat``, in ns)."""
    try:
        with open(f"/proc/{pid}/schedstat") as fp:
            return int(fp.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def make(system: str, workdir: Path, count: int) -> peers.System:
    if system == "borealis":
        return peers.Borealis(workdir, count)
    if system == "supervisord":
        return peers.Supervisord(workdir, count)
    if system == "circus":
        return peers.Circus(workdir, count)
    if system == "circus-1w":
        return peers.Circus(workdir, count, one_watcher=True)
    raise ValueError(system)


def one_run(ws: harness.Workspace, system: str, count: int, poll: float) -> dict[str, float]:
    cpu0 = children_cpu()
    if system == "popen":
        result = floor(ws.directory(system), count)
    else:
        sut = make(system, ws.directory(system), count)
        t0 = sut.start()
        done = harness.wait_for(sut.all_running, 120, poll, f"{system}: all running")
        freeze()
        assert sut.ready_at is not None
        result = {"total": done - t0, "ready": sut.ready_at - t0, "cpu_parent": 0.0}
    sleeps = ws.ours()
    if len(sleeps) != count:
        raise RuntimeError(f"{system}: {len(sleeps)} sleeps alive once all reported running")
    result["cpu_sleeps"] = sum(run_seconds(pid) for pid in sleeps)
    ws.reset()  # SIGKILL and reap everything: its CPU time is now in RUSAGE_CHILDREN
    result["cpu"] = result["cpu_parent"] + children_cpu() - cpu0
    result["cpu_supervisor"] = result["cpu"] - result["cpu_sleeps"]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="repetitions (default 5)")
    parser.add_argument("--count", type=int, default=100, help="processes (default 100)")
    parser.add_argument("--poll", type=float, default=0.02, help="poll interval, s (0.02)")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated subset")
    parser.add_argument("--out", type=Path, help="also write the raw figures as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories")
    args = parser.parse_args()
    systems = harness.systems_arg(args.systems, SYSTEMS)

    with harness.Workspace("launch", keep=args.keep) as ws:
        results = harness.repeat(
            ws, systems, args.runs, lambda s: one_run(ws, s, args.count, args.poll)
        )

    print(f"# launch: {args.count} x `sleep 1000` until all RUNNING")
    print(f"# {harness.machine()}")
    print(f"# runs={args.runs} poll={args.poll}s command: {' '.join(sys.argv)}\n")
    rows = []
    for system in systems:
        for i, r in enumerate(results[system]):
            total, ready = r["total"], r["ready"]
            rows.append(
                [
                    system,
                    i + 1,
                    fmt(total),
                    fmt(ready),
                    fmt(total - ready),
                    fmt(r["cpu"]),
                    fmt(r["cpu_supervisor"]),
                    fmt(r["cpu_sleeps"]),
                    f"{r['host_busy']:.0f}",
                ]
            )
    print("Per run (seconds; host busy = CPU use by others just before the run, %):\n")
    timing = ["start -> all running", "start -> ready", "ready -> all"]
    cpus = ["CPU s", "of which supervisor", "in the sleeps"]
    print(table(["system", "run", *timing, *cpus, "host busy"], rows))

    keys = ["total", "ready", "after", "cpu", "cpu_supervisor", "cpu_sleeps"]
    medians: dict[str, dict[str, float | None]] = {}
    for system in systems:
        runs = [{**r, "after": r["total"] - r["ready"]} for r in results[system]]
        medians[system] = {k: median([r[k] for r in runs]) for k in keys}
    print("\nMedians (seconds):\n")
    print(
        table(
            ["system", *timing, *cpus],
            [[s, *(fmt(m[k]) for k in keys)] for s, m in medians.items()],
        )
    )
    if "borealis" in medians:
        b = medians["borealis"]
        rows = []
        for other in systems:
            if other == "borealis":
                continue
            o = medians[other]
            rows.append(
                [
                    f"borealis / {other}",
                    ratio(b["total"], o["total"]),
                    ratio(b["after"], o["total"]),
                    ratio(b["cpu"], o["cpu"]),
                ]
            )
        print("\nRatios of medians:\n")
        print(
            table(
                [
                    "ratio",
                    "start -> all running",
                    "borealis ready -> all, over peer's total",
                    "CPU s",
                ],
                rows,
            )
        )
    if "popen" in medians:
        f = medians["popen"]
        rows = [
            [f"{s} / popen", ratio(m["total"], f["total"]), ratio(m["cpu"], f["cpu"])]
            for s, m in medians.items()
            if s != "popen"
        ]
        print("\nRatios of medians to the floor (popen):\n")
        print(table(["ratio", "start -> all running", "CPU s"], rows))
    if args.out:
        harness.save(args.out, args, results, medians)
    return 0


if __name__ == "__main__":
    sys.exit(main())

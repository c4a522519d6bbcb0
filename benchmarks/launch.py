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

After each run every process is SIGKILLed and the absence of leftover sleeps is checked.
Prints the per-run figures, the medians and the ratios Borealis / peer. No assertion on
any figure: the goal is judged by reading the table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import harness
import peers
from harness import fmt, median, ratio, table

SYSTEMS = ["popen", "borealis", "supervisord", "circus", "circus-1w"]


def floor(workdir: Path, count: int) -> dict[str, float]:
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(harness.SLEEP_ARGV, stdin=subprocess.DEVNULL, cwd=workdir)
        for _ in range(count)
    ]
    total = time.perf_counter() - t0
    assert len(procs) == count
    return {"total": total, "ready": 0.0}


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
    if system == "popen":
        result = floor(ws.directory(system), count)
    else:
        sut = make(system, ws.directory(system), count)
        t0 = sut.start()
        done = harness.wait_for(sut.all_running, 120, poll, f"{system}: all running")
        assert sut.ready_at is not None
        result = {"total": done - t0, "ready": sut.ready_at - t0}
    live = len(ws.ours())
    if live != count:
        raise RuntimeError(f"{system}: {live} sleeps alive once all reported running")
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
                [system, i + 1, fmt(total), fmt(ready), fmt(total - ready), f"{r['host_busy']:.0f}"]
            )
    print("Per run (seconds; host busy = CPU use by others just before the run, %):\n")
    print(
        table(
            [
                "system",
                "run",
                "start -> all running",
                "start -> ready",
                "ready -> all",
                "host busy",
            ],
            rows,
        )
    )

    medians: dict[str, dict[str, float | None]] = {}
    for system in systems:
        runs = results[system]
        total = median([r["total"] for r in runs])
        ready = median([r["ready"] for r in runs])
        after = median([r["total"] - r["ready"] for r in runs])
        medians[system] = {"total": total, "ready": ready, "after": after}
    print("\nMedians (seconds):\n")
    print(
        table(
            ["system", "start -> all running", "start -> ready", "ready -> all"],
            [[s, fmt(m["total"]), fmt(m["ready"]), fmt(m["after"])] for s, m in medians.items()],
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
                ]
            )
        print("\nRatios of medians:\n")
        print(
            table(
                ["ratio", "start -> all running", "borealis ready -> all, over peer's total"],
                rows,
            )
        )
    if args.out:
        harness.save(args.out, args, results, medians)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Idle: CPU and memory a supervisor costs while N processes just sleep.

    benchmarks/.venv/bin/python benchmarks/idle.py [--runs 3] [--duration 60] [--count 100]

For each repetition, each system in turn: start it with N ``sleep 1000`` processes (see
``peers.py``), wait until it reports all of them running, let it settle (``--settle``,
default 5 s, so that start-up work is not counted), then take the CPU time (user +
system) of its processes, wait ``--duration`` seconds without talking to it, and take
it again. Memory is read at the end with psutil ``memory_full_info()``: RSS, PSS and
USS, each summed over the processes.

Which processes count: the supervisor process and every descendant that is not one
of the sleeps. For Borealis that is the runner plus its N coordinators (forked from
the runner, so they share pages with it and with each other: their RSS sum counts
shared pages N+1 times, PSS splits them fairly, USS counts only private pages). For
supervisord and circusd it is the daemon (one process each: circusd-stats is off).
The floor (``popen``) is a bare ``python -c`` parent that Popens the sleeps and
blocks in ``wait()``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import harness
import peers
from harness import fmt, median, ratio, table

SYSTEMS = ["popen", "borealis", "supervisord", "circus"]
MB = 1024 * 1024


def make(system: str, workdir: Path, count: int) -> peers.System:
    if system == "popen":
        return peers.PopenParent(workdir, count)
    if system == "borealis":
        return peers.Borealis(workdir, count)
    if system == "supervisord":
        return peers.Supervisord(workdir, count)
    if system == "circus":
        return peers.Circus(workdir, count)
    raise ValueError(system)


def one_run(
    ws: harness.Workspace, system: str, count: int, duration: float, settle: float
) -> dict[str, float]:
    sut = make(system, ws.directory(system), count)
    sut.start()
    harness.wait_for(sut.all_running, 120, 0.05, f"{system}: all running")
    time.sleep(settle)
    procs = sut.overhead()
    before = peers.cpu_seconds(procs)
    wall0 = time.monotonic()
    time.sleep(duration)
    after = peers.cpu_seconds(procs)
    wall = time.monotonic() - wall0
    rss, pss, uss = peers.memory(procs)
    live = len(ws.ours())
    if live != count:
        raise RuntimeError(f"{system}: {live} sleeps alive at the end, expected {count}")
    cpu = sum(after[p] - before[p] for p in before)
    return {
        "cpu": cpu,
        "cpu_top": after[sut.pid] - before[sut.pid],
        "cpu_per_min": cpu * 60.0 / wall,
        "wall": wall,
        "procs": len(procs),
        "rss": rss / MB,
        "pss": pss / MB,
        "uss": uss / MB,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--duration", type=float, default=60.0, help="measured window, s (60)")
    parser.add_argument("--settle", type=float, default=5.0, help="wait before measuring, s (5)")
    parser.add_argument("--count", type=int, default=100, help="processes (default 100)")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated subset")
    parser.add_argument("--out", type=Path, help="also write the raw figures as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories")
    args = parser.parse_args()
    systems = harness.systems_arg(args.systems, SYSTEMS)

    with harness.Workspace("idle", keep=args.keep) as ws:
        results = harness.repeat(
            ws,
            systems,
            args.runs,
            lambda s: one_run(ws, s, args.count, args.duration, args.settle),
        )

    print(f"# idle: {args.count} x `sleep 1000` supervised for {args.duration:.0f} s")
    print(f"# {harness.machine()}")
    print(f"# runs={args.runs} settle={args.settle}s command: {' '.join(sys.argv)}\n")
    headers = [
        "system",
        "run",
        "CPU s",
        "CPU s / min",
        "of which top process",
        "processes",
        "RSS sum MB",
        "PSS sum MB",
        "USS sum MB",
        "host busy %",
    ]
    rows = []
    for system in systems:
        for i, r in enumerate(results[system]):
            rows.append(
                [
                    system,
                    i + 1,
                    fmt(r["cpu"], 2),
                    fmt(r["cpu_per_min"], 3),
                    fmt(r["cpu_top"], 2),
                    int(r["procs"]),
                    fmt(r["rss"], 1),
                    fmt(r["pss"], 1),
                    fmt(r["uss"], 1),
                    f"{r['host_busy']:.0f}",
                ]
            )
    print("Per run (host busy % = CPU use by others just before the run):\n")
    print(table(headers, rows))

    keys = ["cpu_per_min", "cpu_top", "procs", "rss", "pss", "uss"]
    medians = {s: {k: median([r[k] for r in results[s]]) for k in keys} for s in systems}
    print("\nMedians:\n")
    print(
        table(
            ["system", "CPU s / min", "processes", "RSS sum MB", "PSS sum MB", "USS sum MB"],
            [
                [
                    s,
                    fmt(m["cpu_per_min"], 3),
                    fmt(m["procs"], 0),
                    fmt(m["rss"], 1),
                    fmt(m["pss"], 1),
                    fmt(m["uss"], 1),
                ]
                for s, m in medians.items()
            ],
        )
    )
    if "borealis" in medians:
        b = medians["borealis"]
        rows = [
            [
                f"borealis / {o}",
                ratio(b["cpu_per_min"], medians[o]["cpu_per_min"]),
                ratio(b["rss"], medians[o]["rss"]),
                ratio(b["pss"], medians[o]["pss"]),
                ratio(b["uss"], medians[o]["uss"]),
            ]
            for o in systems
            if o != "borealis"
        ]
        print("\nRatios of medians:\n")
        print(table(["ratio", "CPU", "RSS sum", "PSS sum", "USS sum"], rows))
    if args.out:
        harness.save(args.out, args, results, medians)
    return 0


if __name__ == "__main__":
    sys.exit(main())

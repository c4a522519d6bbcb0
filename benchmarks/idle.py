"""Idle: memory and CPU a supervisor costs while N processes just sleep (issue #13).

    benchmarks/.venv/bin/python benchmarks/idle.py [--runs 3] [--counts 1,100]
        [--settle 5] [--duration 60] [--systems ...] [--out FILE]

For each count, each repetition, each system in turn (the order rotates): start it with N
``sleep 1000`` processes (see ``peers.py``), wait until it reports all of them running,
let it settle (``--settle`` s, so that start-up work is not counted), take the CPU time
(user + system) of its processes, wait ``--duration`` s without talking to it, take it
again, then read the memory of each process (psutil ``memory_full_info()``: RSS, PSS and
USS from ``/proc/PID/smaps_rollup``). Memory is thus read ``settle + duration`` s after
all were running: with the defaults after Borealis' first resource samples (every 20 s).

Which processes count (``peers.System.overhead``): every live process the run started
except the supervised sleeps and zombies, whatever their names: for Borealis the runner
and all its helpers (coordinators or shims, whichever the runner model has), for
supervisord and circusd the daemon (circusd-stats is off). A process forked from another
shares pages with it: the RSS sum counts shared pages once per process, PSS splits each
page between the processes that map it (a sleep's share of libc included), USS counts
only pages private to one process. The goals of issue #13 are read on the PSS sum.

Systems:

* ``popen``              the floor: a bare ``python -c`` parent that Popens the sleeps
                         and blocks in ``wait()``
* ``borealis``           ``borealis run`` with the default settings (resource sampling on)
* ``borealis-nosample``  the same with ``--sample-interval 0``
* ``supervisord``, ``circus``   each with its defaults (one program / watcher per process)

Prints, per count: the figures of each run; the medians of the sums; the medians per
process, grouped by what the process is (depth below the benchmark, name, command line
with the run's directory as ``WORK``), so that the runner, a shim and any other helper
are seen apart; the ratios of the medians to supervisord's; the two goals of issue #13.
No assertion on any figure.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import harness
import peers
import psutil
from harness import fmt, median, ratio, table

SYSTEMS = ["popen", "borealis", "borealis-nosample", "supervisord", "circus"]
BOREALIS = ["borealis", "borealis-nosample"]
REFERENCE = "supervisord"
MB = 1024 * 1024
SUMS = ["cpu_per_min", "procs", "rss", "pss", "uss"]


def make(system: str, workdir: Path, count: int) -> peers.System:
    if system == "popen":
        return peers.PopenParent(workdir, count)
    if system == "borealis":
        return peers.Borealis(workdir, count)
    if system == "borealis-nosample":
        return peers.Borealis(workdir, count, runner_args=("--sample-interval", "0"))
    if system == "supervisord":
        return peers.Supervisord(workdir, count)
    if system == "circus":
        return peers.Circus(workdir, count)
    raise ValueError(system)


def one_run(
    ws: harness.Workspace, system: str, count: int, duration: float, settle: float
) -> dict[str, Any]:
    workdir = ws.directory(f"{system}-{count}")
    sut = make(system, workdir, count)
    sut.start()
    harness.wait_for(sut.all_running, 120, 0.05, f"{system}: all running")
    time.sleep(settle)
    procs = sut.overhead()
    before = peers.cpu_seconds(procs)
    wall0 = time.monotonic()
    time.sleep(duration)
    after = peers.cpu_seconds(procs)
    wall = time.monotonic() - wall0
    procs = sut.overhead()  # memory of whatever runs now (a helper may have come or gone)
    each = []
    for proc in procs:
        try:
            info = proc.memory_full_info()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):  # a helper that just ended
            continue
        each.append(
            {
                "what": peers.label(proc, workdir),
                "pid": proc.pid,
                "rss": info.rss / MB,
                "pss": info.pss / MB,
                "uss": info.uss / MB,
            }
        )
    live = len(ws.ours())
    if live != count:
        raise RuntimeError(f"{system}: {live} sleeps alive at the end, expected {count}")
    cpu = sum(after[p] - before[p] for p in before if p in after)
    return {
        "cpu": cpu,
        "cpu_per_min": cpu * 60.0 / wall if wall > 0 else None,
        "wall": wall,
        "procs": len(each),
        "rss": sum(e["rss"] for e in each),
        "pss": sum(e["pss"] for e in each),
        "uss": sum(e["uss"] for e in each),
        "each": each,
    }


def per_process(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Medians over runs, per kind of process: how many, and RSS/PSS/USS each and in total."""
    kinds: dict[str, list[dict[str, float]]] = defaultdict(list)
    for run in runs:
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for e in run["each"]:
            groups[e["what"]].append(e)
        for what, members in groups.items():
            n = len(members)
            figures = {"n": float(n)}
            for key in ("rss", "pss", "uss"):
                total = sum(m[key] for m in members)
                figures[key] = total / n
                figures[f"{key}_total"] = total
            kinds[what].append(figures)
    rows = []
    for what, seen in kinds.items():
        row: dict[str, Any] = {"what": what, "runs": len(seen)}
        for key in seen[0]:
            row[key] = median([s[key] for s in seen])
        rows.append(row)
    return sorted(rows, key=lambda r: (r["what"][:4], -(r["pss_total"] or 0)))


def report(count: int, systems: list[str], results: dict[str, list[dict[str, Any]]]) -> Any:
    print(f"\n## {count} x `sleep 1000`\n")
    rows = []
    for system in systems:
        for i, r in enumerate(results[system]):
            rows.append(
                [
                    system,
                    i + 1,
                    fmt(r["cpu_per_min"], 3),
                    int(r["procs"]),
                    fmt(r["rss"], 1),
                    fmt(r["pss"], 1),
                    fmt(r["uss"], 1),
                    f"{r['host_busy']:.0f}",
                ]
            )
    print("Per run (sums over the supervisor's processes; host busy % = others, just before):\n")
    headers = ["system", "run", "CPU s / min", "processes", "RSS MB", "PSS MB", "USS MB"]
    print(table([*headers, "host busy %"], rows))

    medians = {s: {k: median([r[k] for r in results[s]]) for k in SUMS} for s in systems}
    print("\nMedians of the sums:\n")
    print(
        table(
            ["system", "CPU s / min", "processes", "RSS MB", "PSS MB", "USS MB"],
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

    kinds = {s: per_process(results[s]) for s in systems}
    rows = []
    for system in systems:
        for k in kinds[system]:
            rows.append(
                [
                    system,
                    k["what"],
                    fmt(k["n"], 0),
                    fmt(k["pss"], 2),
                    fmt(k["pss_total"], 1),
                    fmt(k["rss"], 1),
                    fmt(k["uss"], 2),
                    f"{k['runs']}/{len(results[system])}",
                ]
            )
    print("\nPer process ([depth below the benchmark] name: command line), medians over runs:\n")
    print(
        table(
            [
                "system",
                "process",
                "how many",
                "PSS MB each",
                "PSS MB all",
                "RSS MB each",
                "USS MB each",
                "in runs",
            ],
            rows,
        )
    )

    if REFERENCE in medians:
        ref = medians[REFERENCE]
        print(f"\nRatios of the medians to {REFERENCE}'s:\n")
        print(
            table(
                ["system", "CPU", "RSS sum", "PSS sum", "USS sum"],
                [
                    [
                        f"{s} / {REFERENCE}",
                        ratio(m["cpu_per_min"], ref["cpu_per_min"]),
                        ratio(m["rss"], ref["rss"]),
                        ratio(m["pss"], ref["pss"]),
                        ratio(m["uss"], ref["uss"]),
                    ]
                    for s, m in medians.items()
                    if s != REFERENCE
                ],
            )
        )
    return {"sums": medians, "per_process": kinds}


def goals(count_medians: dict[int, Any]) -> None:
    """Issue #13's two memory goals, read on the median PSS sums."""
    rows = []
    wanted = [
        (100, 1.5, "(a) supervising 100 sleeps: PSS <= 1.5x supervisord's"),
        (1, 1.0, "(b) a 1-process task: PSS <= supervisord's 1-program footprint"),
    ]
    for count, limit, text in wanted:
        sums = count_medians.get(count, {}).get("sums", {})
        ref = sums.get(REFERENCE, {}).get("pss")
        for system in BOREALIS:
            mine = sums.get(system, {}).get("pss")
            if mine is None or ref is None:
                continue
            met = "yes" if mine <= limit * ref else "no"
            rows.append([text, system, f"{mine:.1f} / {ref:.1f} MB = {mine / ref:.2f}x", met])
    if rows:
        print("\n## Goals of issue #13 (median PSS sums)\n")
        print(table(["goal", "system", "PSS vs supervisord", "met?"], rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--duration", type=float, default=60.0, help="measured window, s (60)")
    parser.add_argument("--settle", type=float, default=5.0, help="wait before measuring, s (5)")
    parser.add_argument("--counts", default="1,100", help="process counts, comma-separated")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated subset")
    parser.add_argument("--out", type=Path, help="also write the raw figures as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories")
    args = parser.parse_args()
    systems = harness.systems_arg(args.systems, SYSTEMS)
    try:
        counts = [int(c) for c in args.counts.split(",") if c.strip()]
    except ValueError:
        raise SystemExit(f"--counts: not a list of integers: {args.counts!r}") from None
    if not counts or min(counts) < 1 or args.duration < 0 or args.settle < 0:
        raise SystemExit("--counts must be positive, --duration and --settle not negative")

    results: dict[int, dict[str, list[dict[str, Any]]]] = {}
    with harness.Workspace("idle", keep=args.keep) as ws:
        for count in counts:
            results[count] = harness.repeat(
                ws,
                systems,
                args.runs,
                lambda s, n=count: one_run(ws, s, n, args.duration, args.settle),
            )

    print(f"# idle: N x `sleep 1000` supervised, N in {counts}; memory read at the end")
    print(f"# {harness.machine()}")
    print(
        f"# runs={args.runs} settle={args.settle:g}s duration={args.duration:g}s "
        f"command: {' '.join(sys.argv)}"
    )
    medians = {count: report(count, systems, results[count]) for count in counts}
    goals(medians)
    if args.out:
        harness.save(args.out, args, results, medians)
    return 0


if __name__ == "__main__":
    sys.exit(main())

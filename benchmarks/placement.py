"""Placement throughput of the pure placement code (scheduler/placement.py) on a simulated
cluster, against Nomad's C1M anchor.

    .venv/bin/python benchmarks/placement.py [--hosts 1000,2500,5000,10000] [--per-host 100]
        [--runs 3] [--out benchmarks/results/placement.json]

Issue #7: "1,000,000 instances (1,000 jobs x 1,000) onto 10,000 hosts with mixed resources,
30% of jobs with ``limit:1`` per host; report placements per second, total time and memory.
The anchor is Nomad's C1M (1,000,000 containers on 5,000 hosts in under 5 minutes, 3,750/s,
with 5 servers); goal: match that rate on one core, and report how it scales from 1,000 to
10,000 hosts."

For each host count H the cluster is H hosts, each drawn (seeded) from four shapes
(16 cpu / 64 GiB, 32 / 128, 64 / 256, 96 / 384; 2 TiB disk; ports 31000-32000) with a
``rack`` (H/40 racks) and a ``zone`` (4) attribute; the workload keeps the density the issue
asks for at 10,000 hosts, ``--per-host`` (100) instances per host: H x 100 / 1,000 jobs of
1,000 instances each (1,000,000 at 10,000 hosts). Each job asks (seeded) for 0.02-0.2 cpu,
64 MiB-1 GiB RAM, 1-10 GiB disk and 1-2 named ports, plus the executor's overhead of
0.25 cpu and 128 MiB (Aurora's); 30 % of jobs carry ``{'host': 'limit:1'}``, 10 %
``{'zone': 'z1,z2'}`` and 10 % ``{'rack': 'limit:N'}`` with N = 1,500 / racks (60 at
1,000 hosts, 6 at 10,000). Policy ``spread`` (the default;
``--policy pack`` for the other).

Each measurement runs in a fresh child process (one core: the placement code is single
threaded): the cluster and workload are built, then ``Placer.place_job`` is timed for every
job in turn (``time.perf_counter`` around the placing only); the child reports placed and
unplaced counts, the time, and its peak RSS (``ru_maxrss``) against its RSS before placing.
``--runs`` repetitions per host count (default 3); the table shows medians. After placing,
every host is checked for overcommit (a failure aborts the benchmark).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

GIB = 1 << 30
MIB = 1 << 20
SHAPES = [(16, 64 * GIB), (32, 128 * GIB), (64, 256 * GIB), (96, 384 * GIB)]
C1M_RATE = 3750.0


def measure(host_count: int, per_host: int, policy: str, seed: int) -> dict[str, Any]:
    from borealis.contract.taskspec import Resources
    from borealis.scheduler.constraints import parse_all
    from borealis.scheduler.placement import Host, Placer, Request

    rng = random.Random(seed)
    racks = max(1, host_count // 40)
    fleet = [
        Host(
            f"host{i:05d}",
            cpu,
            ram,
            2048 * GIB,
            ((31000, 32000),),
            {"rack": f"r{rng.randrange(racks)}", "zone": f"z{rng.randrange(4)}"},
        )
        for i, (cpu, ram) in enumerate(rng.choice(SHAPES) for _ in range(host_count))
    ]
    rack_limit = max(2, -(-1500 // racks))  # room for 1,000 instances with half the racks
    jobs = []
    for j in range(host_count * per_host // 1000):
        draw = rng.random()
        constraints = (
            {"host": "limit:1"}
            if draw < 0.3
            else {"zone": "z1,z2"}
            if draw < 0.4
            else {"rack": f"limit:{rack_limit}"}
            if draw < 0.5
            else {}
        )
        request = Request(
            Resources(
                rng.choice([0.02, 0.05, 0.1, 0.2]),
                rng.choice([64, 128, 256, 512, 1024]) * MIB,
                rng.randint(1, 10) * GIB,
            ),
            ("http",) if rng.random() < 0.5 else ("http", "health"),
        )
        jobs.append((f"role{j % 50}/prod/job{j}", request, parse_all(constraints)))
    placer = Placer(fleet, policy=policy)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    placed = unplaced = 0
    started = time.perf_counter()
    for key, request, constraints in jobs:
        done, missed = placer.place_job(key, range(1000), request, constraints)
        placed += len(done)
        unplaced += len(missed)
    elapsed = time.perf_counter() - started
    for host in fleet:
        if (
            host.used_cpu > host.cpu + 1e-6
            or host.used_ram > host.ram
            or host.used_disk > host.disk
        ):
            raise SystemExit(f"overcommitted {host.name}")
    return {
        "hosts": host_count,
        "instances": len(jobs) * 1000,
        "placed": placed,
        "unplaced": unplaced,
        "seconds": elapsed,
        "rate": placed / elapsed if elapsed else None,
        "rss_mb_before": rss_before / 1024,
        "rss_mb_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", default="1000,2500,5000,10000")
    parser.add_argument("--per-host", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--policy", default="spread", choices=["spread", "pack"])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/placement.json"))
    parser.add_argument(
        "--child", nargs=3, metavar=("HOSTS", "SEED", "POLICY"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        hosts, seed, policy = args.child
        print(json.dumps(measure(int(hosts), args.per_host, policy, int(seed))))
        return 0
    import harness

    counts = [int(h) for h in args.hosts.split(",")]
    runs: dict[int, list[dict[str, Any]]] = {h: [] for h in counts}
    for rep in range(args.runs):
        for hosts in counts:
            print(f"... run {rep + 1}/{args.runs}: {hosts} hosts", file=sys.stderr, flush=True)
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--per-host",
                    str(args.per_host),
                    "--child",
                    str(hosts),
                    str(rep),
                    args.policy,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            runs[hosts].append(json.loads(out.stdout))
    medians = {}
    rows = []
    for hosts in counts:
        rs = runs[hosts]
        med = {
            k: harness.median([r[k] for r in rs])
            for k in ("seconds", "rate", "rss_mb_peak", "rss_mb_before", "unplaced")
        }
        medians[hosts] = med
        rows.append(
            [
                hosts,
                rs[0]["instances"],
                harness.fmt(med["seconds"], 1),
                f"{med['rate']:.0f}",
                ", ".join(f"{r['rate']:.0f}" for r in rs),
                f"{med['rate'] / C1M_RATE:.1f}x",
                f"{med['rss_mb_before']:.0f} / {med['rss_mb_peak']:.0f}",
                f"{med['unplaced']:.0f}",
            ]
        )
    what = f"policy {args.policy}, {args.per_host} instances per host, medians of {args.runs} runs"
    print(f"\nPlacement, {what}\n")
    print(
        harness.table(
            [
                "hosts",
                "instances",
                "seconds",
                "placements/s",
                "per run",
                "vs C1M 3,750/s",
                "RSS MB before / peak",
                "unplaced",
            ],
            rows,
        )
    )
    top = medians[max(counts)]
    print(
        f"\nGoal: at least {C1M_RATE:.0f} placements/s on one core at {max(counts)} hosts: "
        f"{top['rate']:.0f}/s ({'met' if top['rate'] >= C1M_RATE else 'missed'})"
    )
    harness.save(
        args.out,
        args,
        {str(k): v for k, v in runs.items()},
        {str(k): v for k, v in medians.items()},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

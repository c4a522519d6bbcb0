"""borealis sla: a job's SLA figures, from the scheduler's task history (docs/sla.md)

    borealis sla get-job-uptime CLUSTER/ROLE/ENV/NAME [--percentiles 50,90,99] [--json]
    borealis sla get-task-up-count CLUSTER/ROLE/ENV/NAME [--durations 1m,10m,1h] [--json]

get-job-uptime prints, for each percentile (highest first), the longest uptime in seconds
that more than that share of the job's live instances reach. get-task-up-count prints, for each
duration (XdYhZmWs, or plain seconds), the percentage of live instances up at least that
long. Without the option, Aurora's defaults: percentiles 99,95,90,85,75,60,50,30,10 and
durations 1m,10m,1h,12h,7d. Exit 2 is bad input or no such job, 1 any other error.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from borealis.contract.jobkey import JobKey
from borealis.scheduler.slafigures import parse_durations, parse_percentiles

from .clusters import find
from .jobclient import fail
from .options import command_parser


def add_parser(sub: Any, name: str, help_text: str) -> None:
    parser = command_parser(sub, name, help_text, __doc__)
    parser.add_argument("--clusters", type=Path, help="clusters.json to use")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    uptime = verbs.add_parser("get-job-uptime", help="uptime of live instances at percentiles")
    uptime.add_argument("key", metavar="CLUSTER/ROLE/ENV/NAME")
    uptime.add_argument("--percentiles", help="comma-separated, each within (0, 100)")
    uptime.add_argument("--json", action="store_true")
    count = verbs.add_parser("get-task-up-count", help="share of instances up for durations")
    count.add_argument("key", metavar="CLUSTER/ROLE/ENV/NAME")
    count.add_argument("--durations", help="comma-separated XdYhZmWs or seconds")
    count.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    key = JobKey.parse(args.key, "CLUSTER/ROLE/ENV/NAME")
    query: dict[str, str] = {}
    if args.verb == "get-job-uptime" and args.percentiles is not None:
        query["percentiles"] = ",".join(f"{p:g}" for p in parse_percentiles(args.percentiles))
    if args.verb == "get-task-up-count" and args.durations is not None:
        query["durations"] = ",".join(str(d) for d in parse_durations(args.durations))
    path = f"/api/v1/jobs/{key}/sla" + (f"?{urlencode(query)}" if query else "")
    status, reply = find(key.cluster, args.clusters).call(path)
    if status != 200:
        return fail(status, reply)
    field = "job_uptime" if args.verb == "get-job-uptime" else "task_up_count"
    if args.json:
        print(json.dumps({"key": reply["key"], field: reply[field]}, indent=2))
    elif field == "job_uptime":
        for row in reply[field]:
            print(f"{row['percentile']:g} percentile\t- {row['seconds']} seconds")
    else:
        for row in reply[field]:
            print(f"{spelled(row['duration_secs'])}\t- {row['percent']:.2f} %")
    return 0


def spelled(seconds: int) -> str:
    """3725 -> 1h2m5s; 0 -> 0s."""
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out += f"{seconds // size}{unit}"
            seconds %= size
    return out or "0s"

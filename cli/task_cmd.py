"""borealis task: list the tasks (runs of instances) a scheduler holds

borealis task list CLUSTER[/ROLE/ENV/NAME] [--all] [--json]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from borealis.contract.jobkey import JobKey

from .clusters import find
from .jobclient import fail
from .options import command_parser


def add_parser(sub: Any, name: str, help_text: str) -> None:
    parser = command_parser(sub, name, help_text, __doc__)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    listing = verbs.add_parser("list", help="list tasks")
    listing.add_argument("where", metavar="CLUSTER[/ROLE/ENV/NAME]")
    listing.add_argument("--all", action="store_true", help="include ended runs")
    listing.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    where = args.where
    cluster = where.split("/")[0]
    query = []
    if "/" in where:
        query.append(f"job={JobKey.parse(where, 'CLUSTER/ROLE/ENV/NAME')}")
    if args.all:
        query.append("all=1")
    scheduler = find(cluster)
    status, reply = scheduler.call("/api/v1/tasks" + ("?" + "&".join(query) if query else ""))
    if status != 200:
        return fail(status, reply)
    if args.json:
        print(json.dumps(reply["tasks"], indent=2))
        return 0
    for task in reply["tasks"]:
        where = task["host"] or "-"
        print(
            f"{task['job_key']}/{task['instance']}  {task['state']:<9} {task['task_id']}  {where}"
        )
    return 0

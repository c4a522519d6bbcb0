"""borealis job: create, inspect, kill and restart jobs on a scheduler

    borealis job create CLUSTER/ROLE/ENV/NAME CONFIG [--bind KEY=VALUE]...
    borealis job status CLUSTER/ROLE/ENV/NAME [--json]
    borealis job kill CLUSTER/ROLE/ENV/NAME
    borealis job restart CLUSTER/ROLE/ENV/NAME
    borealis job list CLUSTER[/ROLE] [--json]

create evaluates CONFIG here (it is Python) and sends the job as JSON; the scheduler
never runs submitted code. The scheduler of CLUSTER comes from a clusters.json
([{"name": "local", "scheduler_uri": "http://127.0.0.1:8081"}, ...], as in Aurora): the
one given with --clusters, else $BOREALIS_CLUSTERS, ~/.borealis/clusters.json, then
/etc/borealis/clusters.json. The cluster local is http://127.0.0.1:8081 unless one says
otherwise. The scheduler's token: $BOREALIS_TOKEN, else the cluster's auth_token_file in
clusters.json, else ROOT/secrets/scheduler.token, else ~/.borealis/token.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from borealis.contract.errors import InputError
from borealis.contract.jobkey import JobKey

from .clusters import find
from .options import command_parser, parse_bindings


def add_parser(sub: Any, name: str, help_text: str) -> None:
    parser = command_parser(sub, name, help_text, __doc__)
    parser.add_argument("--clusters", type=Path, help="clusters.json to use")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    create = verbs.add_parser("create", help="create a job from a config")
    create.add_argument("key", metavar="CLUSTER/ROLE/ENV/NAME")
    create.add_argument("config", help="the .aurora file defining the job")
    create.add_argument("--bind", action="append", metavar="KEY=VALUE")
    for verb, text in (
        ("status", "show a job's instances"),
        ("kill", "kill every instance"),
        ("restart", "restart every instance"),
    ):
        one = verbs.add_parser(verb, help=text)
        one.add_argument("key", metavar="CLUSTER/ROLE/ENV/NAME")
        one.add_argument("--json", action="store_true")
    listing = verbs.add_parser("list", help="list jobs")
    listing.add_argument("where", metavar="CLUSTER[/ROLE]")
    listing.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)


def fail(status: int, reply: Any) -> int:
    error = reply.get("error") if isinstance(reply, dict) else None
    print(f"borealis: {error or f'the scheduler answered {status}'}", file=sys.stderr)
    if status == 401:
        print(
            "borealis: set $BOREALIS_TOKEN, or auth_token_file in clusters.json, to the "
            "scheduler's token",
            file=sys.stderr,
        )
    return 2 if status in (400, 404, 409) else 1


def run(args: argparse.Namespace) -> int:
    if args.verb == "list":
        cluster, _, role = args.where.partition("/")
        scheduler = find(cluster, args.clusters)
        status, reply = scheduler.call("/api/v1/jobs" + (f"?role={role}" if role else ""))
        if status != 200:
            return fail(status, reply)
        if args.json:
            print(json.dumps(reply["jobs"], indent=2))
            return 0
        for job in reply["jobs"]:
            states = " ".join(f"{k}={v}" for k, v in sorted(job["states"].items()))
            killed = "  KILLED" if job["killed"] else ""
            print(f"{job['key']}  instances={job['instances']}{killed}  {states}")
        return 0
    key = JobKey.parse(args.key, "CLUSTER/ROLE/ENV/NAME")
    scheduler = find(key.cluster, args.clusters)
    path = f"/api/v1/jobs/{key}"
    if args.verb == "create":
        from borealis.executor.config import convert, loader
        from borealis.executor.config.jobdoc import job_document

        config = loader.load(args.config)
        spec = job_document(config, str(key), convert.Bindings(user=parse_bindings(args.bind)))
        if spec.key != key:
            raise InputError(args.config, "jobs", f"the job in the config is {spec.key}, not {key}")
        status, reply = scheduler.call("/api/v1/jobs", "POST", spec.to_json())
        if status != 200:
            return fail(status, reply)
        print(f"created {reply['key']}: {len(reply['tasks'])} instances")
        return 0
    if args.verb in ("kill", "restart"):
        status, reply = scheduler.call(f"{path}/{args.verb}", "POST", {})
        if status != 200:
            return fail(status, reply)
        count = reply.get("killing", reply.get("restarting", 0))
        print(f"{args.verb} {key}: {count} running instances asked to stop")
        return 0
    status, reply = scheduler.call(path)
    if status != 200:
        return fail(status, reply)
    if args.json:
        print(json.dumps(reply, indent=2))
        return 0
    print(f"{reply['key']}: {reply['instances']} instances{' (killed)' if reply['killed'] else ''}")
    for task in reply["tasks"]:
        where = f" on {task['host']}" if task["host"] else ""
        line = f"  {task['instance']:>3}  {task['state']:<9} {task['task_id']}{where}"
        print(f"{line}  {task['message']}")
    return 0

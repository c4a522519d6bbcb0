"""borealis job: create, inspect, kill and restart jobs on a scheduler

    borealis job create CLUSTER/ROLE/ENV/NAME CONFIG [--bind KEY=VALUE]...
    borealis job status CLUSTER/ROLE/ENV/NAME [--json]
    borealis job kill CLUSTER/ROLE/ENV/NAME[/INSTANCES]
    borealis job restart CLUSTER/ROLE/ENV/NAME[/INSTANCES]
    borealis job add CLUSTER/ROLE/ENV/NAME/INSTANCE COUNT
    borealis job diff CLUSTER/ROLE/ENV/NAME CONFIG [--bind KEY=VALUE]...
    borealis job update start|status|pause|resume|abort|rollback|pulse|wait|list ...
    borealis job list CLUSTER[/ROLE] [--json]

INSTANCES are Aurora's ranges: 0-3,7 is instances 0, 1, 2, 3 and 7. kill removes those
instances from the job (nothing replaces them); add starts COUNT new instances with
INSTANCE's config. Updates roll a new config out (docs/updates.md): see
`borealis job update --help`.

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
from pathlib import Path
from typing import Any

from borealis.contract.container import ATTRIBUTE, container_from_json
from borealis.contract.errors import InputError
from borealis.contract.jobkey import parse_with_instances
from borealis.contract.partition import PartitionPolicy
from borealis.contract.reading import Reader

from . import update_cmd
from .clusters import find
from .jobclient import fail, key_and_config, load_job, n_instances
from .options import command_parser


def add_parser(sub: Any, name: str, help_text: str) -> None:
    parser = command_parser(sub, name, help_text, __doc__)
    parser.add_argument("--clusters", type=Path, help="clusters.json to use")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    create = verbs.add_parser("create", help="create a job from a config")
    key_and_config(create)
    status = verbs.add_parser("status", help="show a job's instances")
    status.add_argument("key", metavar="CLUSTER/ROLE/ENV/NAME")
    status.add_argument("--json", action="store_true")
    for verb, text in (
        ("kill", "kill every instance, or the ones named"),
        ("restart", "restart every instance, or the ones named"),
    ):
        one = verbs.add_parser(verb, help=text)
        one.add_argument("key", metavar="CLUSTER/ROLE/ENV/NAME[/INSTANCES]")
    add = verbs.add_parser("add", help="add instances with the config of one")
    add.add_argument("key", metavar="CLUSTER/ROLE/ENV/NAME/INSTANCE")
    add.add_argument("count", type=int)
    update_cmd.add_verbs(verbs)
    listing = verbs.add_parser("list", help="list jobs")
    listing.add_argument("where", metavar="CLUSTER[/ROLE]")
    listing.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)


def job_facts(reply: dict[str, Any]) -> list[str]:
    """What the job says about itself (tier, SLA, metadata, links), one line each."""
    spec, out = reply.get("spec") or {}, []
    tier = spec.get("tier")
    if tier:
        out.append(f"tier {tier}{' (production)' if tier == 'preferred' else ''}")
    sla = reply.get("sla")
    if sla and sla["policy"]["kind"] == "coordinator":
        out.append(f"sla {sla['text']}")  # only the coordinator knows who may go down
    elif sla:
        out.append(f"sla {sla['text']}: {sla['up']} up now, {sla['may_go_down']} may go down")
    for pair in spec.get("metadata") or []:
        out.append(f"metadata {pair['key']}={pair['value']}")
    for name, url in sorted((spec.get("task_links") or {}).items()):
        out.append(f"link {name}: {url}")
    return out


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
    if args.verb in update_cmd.VERBS:
        return update_cmd.run(args)
    key, instances = parse_with_instances(args.key, "CLUSTER/ROLE/ENV/NAME[/INSTANCES]")
    scheduler = find(key.cluster, args.clusters)
    path = f"/api/v1/jobs/{key}"
    if args.verb == "create":
        spec = load_job(args.config, key, args.bind)
        if spec.cron is not None:
            raise InputError(
                args.config,
                "cron_schedule",
                f"a cron job is not created but scheduled: borealis cron schedule {key} "
                f"{args.config}",
            )
        status, reply = scheduler.call("/api/v1/jobs", "POST", spec.to_json())
        if status != 200:
            return fail(status, reply)
        print(f"created {reply['key']}: {n_instances(len(reply['tasks']))}")
        return 0
    if args.verb in ("kill", "restart"):
        chosen = {} if instances is None else {"instances": sorted(instances)}
        status, reply = scheduler.call(f"{path}/{args.verb}", "POST", chosen)
        if status != 200:
            return fail(status, reply)
        count = reply.get("killing", reply.get("restarting", 0))
        print(f"{args.verb} {key}: {count} running instances asked to stop")
        return 0
    if args.verb == "add":
        if instances is None or len(instances) != 1:
            raise InputError("CLUSTER/ROLE/ENV/NAME/INSTANCE", args.key, "name one instance")
        body = {"instance": min(instances), "count": args.count}
        status, reply = scheduler.call(f"{path}/add", "POST", body)
        if status != 200:
            return fail(status, reply)
        print(f"added {n_instances(len(reply['tasks']))} to {key}")
        return 0
    status, reply = scheduler.call(path)
    if status != 200:
        return fail(status, reply)
    if args.json:
        print(json.dumps(reply, indent=2))
        return 0
    killed = " (killed)" if reply["killed"] else ""
    print(f"{reply['key']}: {n_instances(reply['instances'])}{killed}")
    for line in job_facts(reply):
        print(f"  {line}")
    if reply.get("update"):
        u = reply["update"]
        print(f"  update {u['id']}: {u['status']} ({u['reason']})")
    policy = PartitionPolicy(**(reply.get("spec") or {}).get("partition_policy") or {})
    if policy != PartitionPolicy():  # Aurora's default (reschedule at once) goes unsaid
        print(f"  partition policy: {policy.describe()}")
    raw = (reply.get("spec") or {}).get("container")
    if raw is not None:
        container = container_from_json(Reader("scheduler"), raw, "spec.container")
        if container is not None:
            print(
                f"  container: {container.describe()}, placed only on hosts whose "
                f"{ATTRIBUTE} attribute lists {container.kind.value}"
            )
    mixed = len({task["config"] for task in reply["tasks"]}) > 1  # e.g. during an update
    for task in reply["tasks"]:
        where = f" on {task['host']}" if task["host"] else ""
        config = f"  config {task['config'][:8]}" if mixed else ""
        line = f"  {task['instance']:>3}  {task['state']:<9} {task['task_id']}{where}{config}"
        print(f"{line}  {task['message']}")
    return 0

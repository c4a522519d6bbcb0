"""borealis job update / job diff: roll a new config out to a job's instances (docs/updates.md)

    borealis job update start CLUSTER/ROLE/ENV/NAME CONFIG [--instances 0-3,7] [--wait]
    borealis job update status|pause|resume|abort|rollback|pulse|wait CLUSTER/ROLE/ENV/NAME
    borealis job update list CLUSTER/ROLE/ENV/NAME
    borealis job diff CLUSTER/ROLE/ENV/NAME CONFIG

The verbs act on the job's running update (status: the latest one). `wait` (and `start
--wait`) return when the update has ended: exit 0 when it ROLLED_FORWARD, 3 when it
ROLLED_BACK, 4 when it FAILED, was ABORTED or is in ERROR; 2 is a refusal (bad config, no such
job, another update running) and 1 any other error.
"""

from __future__ import annotations

import argparse
import getpass
import json
import time
from typing import Any

from borealis.contract.jobdiff import field_diff
from borealis.contract.jobkey import JobKey, parse_instances

from .clusters import Cluster, find
from .jobclient import fail, key_and_config, load_job, n_instances

VERBS = ("update", "diff")
ACTIONS = ("pause", "resume", "abort", "rollback", "pulse")
EXIT = {"ROLLED_FORWARD": 0, "ROLLED_BACK": 3, "FAILED": 4, "ABORTED": 4, "ERROR": 4}
POLL = 0.5


def add_verbs(verbs: Any) -> None:
    diff = verbs.add_parser("diff", help="what an update to CONFIG would change")
    key_and_config(diff)
    update = verbs.add_parser("update", help="roll a new config out (start, status, pause...)")
    actions = update.add_subparsers(dest="action", metavar="ACTION", required=True)
    start = actions.add_parser("start", help="start updating the job to CONFIG")
    key_and_config(start)
    start.add_argument("--instances", metavar="RANGES", help="only these instances (0-3,7)")
    start.add_argument("--wait", action="store_true", help="return when it has ended")
    for action, text in (
        ("status", "the running (else the latest) update"),
        ("wait", "wait until the update has ended"),
        ("list", "every update of the job, newest first"),
        *((a, f"{a} the running update") for a in ACTIONS),
    ):
        one = actions.add_parser(action, help=text)
        one.add_argument("key", metavar="CLUSTER/ROLE/ENV/NAME")
        one.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    key = JobKey.parse(args.key, "CLUSTER/ROLE/ENV/NAME")
    scheduler = find(key.cluster, args.clusters)
    if args.verb == "diff":
        return diff(scheduler, key, args)
    path = f"/api/v1/jobs/{key}/updates"
    if args.action == "start":
        spec = load_job(args.config, key, args.bind)  # warns of sla_aware without a policy
        body: dict[str, Any] = {"job": spec.to_json(), "user": getpass.getuser()}
        if args.instances:
            body["instances"] = sorted(parse_instances(args.instances, "--instances"))
        status, reply = scheduler.call(path, "POST", body)
        if status != 200:
            return fail(status, reply)
        changing = n_instances(len(reply["instances"]))
        print(f"update {reply['id']} of {key}: {changing} to change, {reply['status']}")
        return wait(scheduler, reply["id"]) if args.wait else 0
    status, reply = scheduler.call(path)
    if status != 200:
        return fail(status, reply)
    updates = reply["updates"]
    if args.action == "list":
        if args.json:
            print(json.dumps(updates, indent=2))
        for u in updates:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(u["created"]))
            print(f"{u['id']}  {when}  {u['user']:<10} {u['status']:<27} {u['reason']}")
        return 0
    if not updates:
        return fail(404, {"error": f"{key} has never been updated"})
    latest = updates[0]
    if args.action in ACTIONS:
        status, reply = scheduler.call(f"/api/v1/updates/{latest['id']}/{args.action}", "POST", {})
        if status != 200:
            return fail(status, reply)
        print(f"update {reply['id']}: {reply['status']} ({reply['reason']})")
        return 0
    if args.action == "wait":
        return wait(scheduler, latest["id"])
    status, reply = scheduler.call(f"/api/v1/updates/{latest['id']}")
    if status != 200:
        return fail(status, reply)
    if args.json:
        print(json.dumps(reply, indent=2))
    else:
        show(reply)
    return 0


def show(update: dict[str, Any]) -> None:
    phases = " ".join(f"{k}={v}" for k, v in sorted(update["phases"].items()))
    print(f"update {update['id']} of {update['job_key']} by {update['user']}")
    print(f"  {update['status']}: {update['reason']}")
    print(f"  instances {update['instances_before']} -> {update['instances_after']}; {phases}")
    for path, old, new in update.get("diff", []):
        print(f"  {path}: {json.dumps(old)} -> {json.dumps(new)}")
    for event in update["events"]:
        when = time.strftime("%H:%M:%S", time.localtime(event["time"]))
        print(f"  {when}  {event['status']:<27} {event['reason']}")


def wait(scheduler: Cluster, update_id: str) -> int:
    last = ""
    while True:
        status, reply = scheduler.call(f"/api/v1/updates/{update_id}")
        if status != 200:
            return fail(status, reply)
        line = f"{reply['status']} ({reply['reason']})"
        if line != last:
            print(f"update {update_id}: {line}", flush=True)
            last = line
        if reply["status"] in EXIT:
            return EXIT[reply["status"]]
        time.sleep(POLL)


def diff(scheduler: Cluster, key: JobKey, args: argparse.Namespace) -> int:
    """Instances added, removed and changed by an update to CONFIG, and each field that
    differs from the config the job has now."""
    spec = load_job(args.config, key, args.bind)
    status, reply = scheduler.call(f"/api/v1/jobs/{key}")
    if status != 200:
        return fail(status, reply)
    configs = {int(i): c for i, c in reply["configs"].items()}
    new = spec.config_id
    added = [i for i in range(spec.instances) if i not in configs]
    removed = [i for i in configs if i >= spec.instances]
    changed = [i for i, c in configs.items() if i < spec.instances and c != new]
    for name, instances in (("added", added), ("removed", removed), ("changed", changed)):
        print(f"{name}: {ranges(instances) or '-'}")
    for path, before, after in field_diff(reply["spec"], spec.to_json()):
        print(f"  {path}: {json.dumps(before)} -> {json.dumps(after)}")
    return 0


def ranges(instances: list[int]) -> str:
    """``[0, 1, 2, 3, 7]`` as ``0-3,7``."""
    out: list[str] = []
    for i in sorted(instances):
        if out and out[-1].split("-")[-1] == str(i - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{i}"
        else:
            out.append(str(i))
    return ",".join(out)

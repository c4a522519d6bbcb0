"""borealis cron: run a job on a cron schedule (docs/cron.md)

    borealis cron schedule CLUSTER/ROLE/ENV/NAME CONFIG [--bind KEY=VALUE]...
    borealis cron deschedule CLUSTER/ROLE/ENV/NAME
    borealis cron start CLUSTER/ROLE/ENV/NAME
    borealis cron show CLUSTER/ROLE/ENV/NAME [--json]
    borealis cron list CLUSTER [--json]

schedule stores the job of CONFIG (it needs a cron_schedule) as a cron job, or replaces the
one stored: each slot of its schedule launches its instances, which run as a job's (not a
service's) do. deschedule forgets it (runs already launched go on: `borealis job kill`
stops them). start launches it now, outside its schedule; its collision policy applies.
show prints the schedule, its zone, the policies, the last slot that fired, the next slots
and the recent triggers and skips. Exit 2 is a refusal (bad config, no such cron job, a run
active under CANCEL_NEW), 1 any other error.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from borealis.contract.errors import InputError
from borealis.contract.jobkey import JobKey

from .clusters import find
from .jobclient import fail, key_and_config, load_job
from .options import command_parser


def add_parser(sub: Any, name: str, help_text: str) -> None:
    parser = command_parser(sub, name, help_text, __doc__)
    parser.add_argument("--clusters", type=Path, help="clusters.json to use")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    schedule = verbs.add_parser("schedule", help="store (or replace) a cron job from a config")
    key_and_config(schedule)
    for verb, text in (
        ("deschedule", "forget a cron job (its runs go on)"),
        ("start", "launch a cron job now, outside its schedule"),
        ("show", "a cron job's schedule, next slots and recent triggers"),
    ):
        one = verbs.add_parser(verb, help=text)
        one.add_argument("key", metavar="CLUSTER/ROLE/ENV/NAME")
        if verb == "show":
            one.add_argument("--json", action="store_true")
    listing = verbs.add_parser("list", help="the cron jobs of a cluster")
    listing.add_argument("cluster", metavar="CLUSTER")
    listing.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.verb == "list":
        status, reply = find(args.cluster, args.clusters).call("/api/v1/cron")
        if status != 200:
            return fail(status, reply)
        if args.json:
            print(json.dumps(reply["cron_jobs"], indent=2))
        for job in reply["cron_jobs"]:
            print(f"{job['key']}  {job['schedule']!r} ({job['zone']})  next {job['next']}")
        return 0
    key = JobKey.parse(args.key, "CLUSTER/ROLE/ENV/NAME")
    scheduler = find(key.cluster, args.clusters)
    path = f"/api/v1/cron/{key}"
    if args.verb == "schedule":
        spec = load_job(args.config, key, args.bind)
        if spec.cron is None:
            raise InputError(
                args.config, "cron_schedule", "not set: run this job with `borealis job create`"
            )
        status, reply = scheduler.call("/api/v1/cron", "POST", {"job": spec.to_json()})
        if status != 200:
            return fail(status, reply)
        upcoming = reply["next"][0]["slot"] if reply["next"] else "never"
        print(f"scheduled {key}: {reply['cron']['schedule']!r} in {reply['zone']}, next {upcoming}")
        return 0
    if args.verb in ("deschedule", "start"):
        status, reply = scheduler.call(f"{path}/{args.verb}", "POST", {})
        if status != 200:
            return fail(status, reply)
        if args.verb == "deschedule":
            print(f"descheduled {key}")
        elif reply["killing"]:
            print(f"started {key}: killing the active runs first (KILL_EXISTING)")
        else:
            print(f"started {key}")
        return 0
    status, reply = scheduler.call(path)
    if status != 200:
        return fail(status, reply)
    if args.json:
        print(json.dumps(reply, indent=2))
    else:
        show(reply)
    return 0


def clock(when: float | None, zone: str) -> str:
    """An instant on the job's wall clock, as its slots are written, with the zone's
    abbreviation (CET, CEST) so that times either side of a DST change read apart."""
    if when is None:
        return "-"
    try:
        at = datetime.fromtimestamp(when, ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):  # a zone this client lacks: its own clock
        at = datetime.fromtimestamp(when).astimezone()
    return at.strftime("%Y-%m-%d %H:%M:%S %Z")


def show(reply: dict[str, Any]) -> None:
    cron = reply["cron"]
    print(f"{reply['key']}: cron job")
    print(f"  schedule    {cron['schedule']}  ({reply['zone']})")
    print(f"  collision   {cron['collision']}")
    print(f"  catch-up    {cron['catch_up']} within {cron['catch_up_window_secs']}s")
    last = reply["last_slot"]
    zone = reply["zone"]
    fired = "never" if last is None else f"{last} (at {clock(reply['last_fired'], zone)})"
    print(f"  last fired  {fired}")
    if reply["owed"]:
        print(f"  waiting     {reply['owed']} launches when the killed runs have ended")
    print(f"  active      {'yes' if reply['active'] else 'no'}")
    upcoming = ", ".join(s["slot"] for s in reply["next"])
    print(f"  next        {upcoming + f'  ({zone})' if upcoming else 'never'}")
    print("  history:")
    for event in reply["history"]:
        slot = f"  {event['slot']}" if event["slot"] else ""
        print(f"    {clock(event['time'], zone)}  {event['action']:<11}{slot}  {event['reason']}")

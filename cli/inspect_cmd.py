"""borealis inspect: print the task a config defines, as the runner would get it.

    borealis inspect CONFIG [--task NAME | --job NAME [--instance N]]
                     [--bind KEY=VALUE]... [--port NAME=NUM]... [--task-id ID]

Prints the task as JSON (the wire format and task-file format, see
docs/config.md), with every template bound that can be: --bind values,
mesos.instance, mesos.hostname, thermos.user, and
thermos.ports / thermos.task_id when given. Templates that stay
unbound are listed on stderr and kept as {{...}} in the output. The task
is checked exactly as borealis run checks it.

The task's ports are listed on stderr first, resolved through the job's
Announcer port map (docs/ports.md), one line each:

    port alias: alias of 'http'
    port http: requested = 8080
    port web: static 80

"requested" ports need a number (--port here, the scheduler in a cluster);
an alias is its target's port; a static port is always its number.

A job's container (Docker(...), Mesos(image=...)) is not part of the task: it
is printed on stderr as "container: ..." with its image, parameters and volumes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from borealis.contract.container import ContainerSpec
from borealis.contract.taskspec import task_from_json
from borealis.contract.templates import RuntimeValues, fill
from borealis.contract.validation import validate
from borealis.executor.config import containerdoc, convert
from borealis.executor.runner import prepare

from .options import command_parser, parse_ports, task_id_type
from .run import add_selection, select, wanted_user


def add_parser(sub: Any, name: str, help_text: str) -> None:
    parser = command_parser(sub, name, help_text, __doc__)
    add_selection(parser)
    parser.add_argument("--task-id", type=task_id_type("--task-id"), help="bind thermos.task_id")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    selection = select(args)
    source = selection.source
    container = containerdoc.container_of(selection)
    user, _ = prepare.resolve_user(wanted_user(selection), source)
    task = convert.plain_task(selection)
    plan, numbers = convert.resolve_ports(selection, task, parse_ports(args.port))
    for name, what in plan.describe():
        number = numbers.get(name)
        given = "" if number is None or what.startswith("static") else f" = {number}"
        print(f"port {name}: {what}{given}", file=sys.stderr)
    announce = convert.announce_of(selection)
    if announce is not None and not plan.has(announce.primary_port):
        print(
            f"note: announce.primary_port: {announce.primary_port!r} is no port of this task "
            "(no process references it and the port map does not name it): the serverset's "
            "primary endpoint will be port 0",
            file=sys.stderr,
        )
    values = RuntimeValues(args.task_id, user, os.uname().nodename, args.instance, numbers)
    plain, unbound = fill(task, values)
    for path, ref in unbound:
        print(f"note: {path}: {{{{{ref}}}}} is left unbound", file=sys.stderr)
    spec = task_from_json(plain, source)
    validate(spec, source)
    if container is not None:
        print(describe(container), file=sys.stderr)
    print(json.dumps(spec.to_json(), indent=2, sort_keys=True))
    return 0


def describe(container: ContainerSpec) -> str:
    """One line: the container, its image and what goes with it, and the field it came from."""
    extra = [f"--{name}={value}" for name, value in container.parameters]
    extra += [f"volume {v.host_path}:{v.container_path}:{v.mode.value}" for v in container.volumes]
    details = f"; {', '.join(extra)}" if extra else ""
    return (
        f"container: {container.describe()}{details} ({container.field}; borealis run refuses "
        "it without --ignore-container)"
    )

"""borealis run: run a task from a config file, in the foreground, until it ends.

    borealis run CONFIG [--task NAME | --job NAME [--instance N]] [--task-id ID]
                 [--root DIR] [--sandbox DIR] [--port NAME=NUM]... [--bind KEY=VALUE]...
                 [--allow-root] [--ignore-container]

CONFIG is a Thermos-style file that calls export(task) or an Aurora-style
file that assigns jobs = [...]. The task runs in a sandbox (default
<root>/sandboxes/<task_id>) and its progress is printed as it happens; with
--follow, every process's output too. When a process fails, its line says where
its stderr is.
Ctrl-C or SIGTERM stops it cleanly: SIGTERM to every process, SIGKILL after
the kill grace, then the final processes; a second Ctrl-C kills at once.

Processes run as the task's user (Task(user=...)) or, when it names none, as the user
who runs this command. Root must say so to run a task as root: --allow-root (or
BOREALIS_ALLOW_ROOT_TASKS=1 in the environment); otherwise the task is refused (exit 2).

A job with a container (Docker(...), Mesos(image=...)) is refused (exit 2): this command
runs processes on the host. --ignore-container runs it on the host anyway, and the task's
header records the container it runs without (borealis status and the observer show it).

Running the same command again with the same --task-id resumes a task
whose runner died: live processes are re-attached, none is started twice.

Once the task file is written, this process becomes `borealis runner TASK_ID`
with the same flags (exec: same pid, output and exit status), so that the runner
does not keep the config language loaded for the task's whole life.

Exit status: 0 SUCCESS, 1 FAILED, 2 invalid input, 3 KILLED, 4 LOST,
5 the task cannot be run (another runner has it, unreadable checkpoint).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from borealis.contract.errors import InputError
from borealis.contract.layout import CheckpointRoot
from borealis.contract.templates import RuntimeValues
from borealis.executor.config import containerdoc, convert, loader
from borealis.executor.mesos.identity import ALLOW_ROOT_ENV, enabled
from borealis.executor.mesos.taskrun import borealis_command
from borealis.executor.runner import prepare

from .options import (
    add_root,
    command_parser,
    int_type,
    parse_bindings,
    parse_ports,
    root_of,
    setup_logging,
    task_id_type,
)
from .runner_flags import add_runner_options, runner_argv, runner_options

log = logging.getLogger("borealis.cli")


def add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="a .aurora or .thermos config file")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--task", metavar="NAME", help="the exported task to use")
    which.add_argument(
        "--job", metavar="NAME", help="the job to use (its name or CLUSTER/ROLE/ENV/NAME)"
    )
    parser.add_argument(
        "--instance",
        type=int_type("--instance"),
        default=0,
        metavar="N",
        help="instance number bound to {{mesos.instance}} (default 0)",
    )
    parser.add_argument(
        "--bind",
        action="append",
        metavar="KEY=VALUE",
        help="bind a {{template}} value (repeatable)",
    )
    parser.add_argument(
        "--port",
        action="append",
        metavar="NAME=NUM",
        help="a port bound to {{thermos.ports[NAME]}} and to the announcer's aliases of "
        "NAME (repeatable; static ports need none)",
    )


def add_parser(sub: Any, name: str, help_text: str) -> None:
    parser = command_parser(sub, name, help_text, __doc__)
    add_selection(parser)
    parser.add_argument(
        "--task-id", type=task_id_type("--task-id"), help="task id (default: generated)"
    )
    add_root(parser)
    parser.add_argument("--sandbox", type=Path, help="sandbox directory")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only warnings")
    parser.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="print every process's output as it comes: name[run] | stdout, name[run] ! stderr",
    )
    parser.add_argument(
        "--allow-root",
        action="store_true",
        help="let the task's processes run as root (when root runs a task that names no "
        "user, or names root)",
    )
    parser.add_argument(
        "--ignore-container",
        action="store_true",
        help="run a job that asks for a container on this host, without the container",
    )
    add_runner_options(parser)
    parser.set_defaults(func=run)


def generate_task_id(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "-", name).lstrip(".-")[:120] or "task"
    return f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(3).hex()}"


def select(args: argparse.Namespace) -> convert.Selection:
    config = loader.load(args.config)
    bindings = convert.Bindings(
        user=parse_bindings(args.bind), instance=args.instance, hostname=os.uname().nodename
    )
    return convert.select(config, task=args.task, job=args.job, bindings=bindings)


def wanted_user(selection: convert.Selection) -> str | None:
    if not selection.task.has_user():
        return None
    value, refs = selection.task.user().interpolate()
    if refs:
        raise InputError(selection.source, "user", convert.unbound_problem(refs[0].address()))
    return str(value.get()) or None


def run(args: argparse.Namespace) -> int:
    setup_logging(args.quiet)
    root = root_of(args)
    runner_options(args)  # a bad runner flag is refused before anything is written
    _run(args, root)


def _run(args: argparse.Namespace, root: CheckpointRoot) -> NoReturn:
    selection = select(args)
    source = selection.source
    # an ignored container's templates need not bind (Aurora's {{docker.image[...]}} cannot)
    container = containerdoc.container_of(selection, strict=not args.ignore_container)
    if container is not None and not args.ignore_container:
        raise InputError(source, container.field, containerdoc.refusal(container))
    ignored = container.describe() if container is not None else ""
    ports = parse_ports(args.port)
    user, run_as = prepare.resolve_user(wanted_user(selection), source)
    as_root = (run_as.uid if run_as is not None else os.geteuid()) == 0
    if as_root and not (args.allow_root or enabled(ALLOW_ROOT_ENV)):
        raise InputError(
            source,
            "user",
            "the task would run as root: name a user in the task (Task(user=...)) or "
            "pass --allow-root",
        )
    task_id = args.task_id or generate_task_id(convert.task_name(selection))
    hostname = os.uname().nodename
    values = RuntimeValues(task_id, user, hostname, args.instance, ports)
    spec, numbers = convert.build(selection, values)
    paths = root.task(task_id)
    resumed = prepare.check_new_or_same(paths, spec)
    sandbox = (args.sandbox or paths.default_sandbox).absolute()
    # Nothing is created before this point: bad input leaves no trace on disk.
    prepare.make_sandbox(sandbox, run_as)
    if not resumed:
        prepare.write_task_file(paths, spec)
    if ignored:
        log.warning(
            "task %s runs on this host without its %s (--ignore-container)", task_id, ignored
        )
    log.info(
        "task %s %s (sandbox %s, checkpoint root %s)",
        task_id,
        "resumed" if resumed else "started",
        sandbox,
        root.path,
    )
    hand_over(args, task_id, root, sandbox, numbers, ignored)


def hand_over(
    args: argparse.Namespace,
    task_id: str,
    root: CheckpointRoot,
    sandbox: Path,
    ports: dict[str, int],
    ignored_container: str = "",
) -> NoReturn:
    """Become ``borealis runner TASK_ID`` (same pid, flags, output and exit status): the task
    is on disk, and the runner that lives as long as the task does not need the config
    language (pystachio and ``executor/config``), which this process has loaded: a fresh
    interpreter is some 2.5 MiB smaller (docs/runner.md, "The process model and its footprint")."""
    argv = [*borealis_command(), "runner", task_id, "--root", str(root.path)]
    argv += ["--sandbox", str(sandbox)]
    for name, number in sorted(ports.items()):  # with static ports and aliases (portmap.py)
        argv += ["--port", f"{name}={number}"]
    if ignored_container:
        argv += ["--ignored-container", ignored_container]
    argv += [flag for flag, on in (("--quiet", args.quiet), ("--follow", args.follow)) if on]
    argv += runner_argv(args)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)

"""The runner's flags (borealis run, runner, kill): kill grace, run cap, logs, resources.

Kept apart from options.py so that commands which start no runner (the daemons, job, task,
serverset) do not import the runner to parse their flags.
"""

from __future__ import annotations

import argparse

from borealis.contract.taskspec import LOGGER_DESTINATIONS, LOGGER_MODES, LoggerSpec, RotatePolicy
from borealis.executor.runner.cgroups import DEFAULT_MAX_PIDS
from borealis.executor.runner.monitor import DEFAULT_INTERVAL, MonitorOptions
from borealis.executor.runner.planner import DEFAULT_MAX_RUNS
from borealis.executor.runner.runner import RunnerOptions

from .options import int_type, parse_duration, parse_size


def add_runner_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("runner")
    group.add_argument(
        "--kill-grace",
        default="10s",
        metavar="DURATION",
        help="time between SIGTERM and SIGKILL when stopping processes (default 10s, "
        "never more than the task's finalization_wait)",
    )
    group.add_argument(
        "--max-runs",
        type=int_type("--max-runs"),
        default=DEFAULT_MAX_RUNS,
        metavar="N",
        help=f"most runs of one process, whatever their outcome (default {DEFAULT_MAX_RUNS}; "
        "0 = no limit)",
    )
    group.add_argument(
        "--max-pids",
        type=int_type("--max-pids"),
        default=DEFAULT_MAX_PIDS,
        metavar="N",
        help=f"pids.max of the task's cgroup, where it has one (default {DEFAULT_MAX_PIDS}; "
        "0 = no limit; see docs/security.md)",
    )
    group.add_argument(
        "--no-memory-limit",
        action="store_true",
        help="do not give the task's cgroup a memory limit from Resources.ram (the kernel "
        "then does not stop a task over its RAM; see --enforce-ram)",
    )
    group.add_argument(
        "--preserve-env",
        action="store_true",
        help="start processes with this command's environment instead of a clean one",
    )
    logs = parser.add_argument_group(
        "logs (for processes whose config sets no Logger; see docs/logs.md)"
    )
    logs.add_argument(
        "--log-destination",
        choices=LOGGER_DESTINATIONS,
        default="file",
        help="where output goes (default file)",
    )
    logs.add_argument(
        "--log-mode",
        choices=LOGGER_MODES,
        default="rotate",
        help="rotate (bounded, the default) or standard (one file that grows)",
    )
    logs.add_argument(
        "--log-size",
        default="100MB",
        metavar="SIZE",
        help="rotate a log file at about this size (default 100MB)",
    )
    logs.add_argument(
        "--log-backups",
        type=int_type("--log-backups"),
        default=5,
        metavar="N",
        help="rotated files kept: stdout.1 .. stdout.N (default 5)",
    )

    res = parser.add_argument_group("resources (see docs/resources.md)")
    res.add_argument(
        "--sample-interval",
        default=f"{DEFAULT_INTERVAL:g}s",
        metavar="DURATION",
        help=f"measure CPU, memory and disk this often (default {DEFAULT_INTERVAL:g}s; "
        "0 = never, which also turns limits off)",
    )
    res.add_argument(
        "--no-disk-usage", action="store_true", help="do not measure the sandbox's disk usage"
    )
    res.add_argument(
        "--disk-reconcile",
        default="10m",
        metavar="DURATION",
        help="walk the whole sandbox this often to correct the incremental figure (default 10m)",
    )
    res.add_argument(
        "--disk-scan",
        default="60s",
        metavar="DURATION",
        help="without inotify, walk the sandbox at most this often (default 60s)",
    )
    res.add_argument(
        "--no-enforce-disk",
        action="store_true",
        help="report a sandbox over Resources.disk instead of failing the task",
    )
    res.add_argument(
        "--enforce-ram",
        action="store_true",
        help="fail the task when its processes' RSS exceeds Resources.ram (default: report)",
    )
    res.add_argument(
        "--sample-pss", action="store_true", help="also measure PSS (reads smaps; costlier)"
    )


def runner_argv(args: argparse.Namespace) -> list[str]:
    """The runner flags in ``args`` that differ from their defaults, as arguments again: how
    ``borealis run`` passes them on to the ``borealis runner`` it becomes. Every runner flag
    is spelled ``--`` + its dest with dashes (tests/unit/test_runner_flags.py checks it)."""
    probe = argparse.ArgumentParser(add_help=False)
    add_runner_options(probe)
    argv: list[str] = []
    for dest, default in vars(probe.parse_args([])).items():
        value = getattr(args, dest)
        if value != default:
            flag = "--" + dest.replace("_", "-")
            argv += [flag] if value is True else [flag, str(value)]
    return argv


def runner_options(args: argparse.Namespace) -> RunnerOptions:
    policy = RotatePolicy(parse_size(args.log_size, "--log-size"), args.log_backups)
    return RunnerOptions(
        kill_grace=parse_duration(args.kill_grace, "--kill-grace"),
        max_runs=args.max_runs,
        # borealis kill has neither: a resumed runner uses the limits recorded at the start
        max_pids=getattr(args, "max_pids", DEFAULT_MAX_PIDS),
        memory_limit=not getattr(args, "no_memory_limit", False),
        preserve_env=args.preserve_env,
        logger=LoggerSpec(args.log_destination, args.log_mode, policy),
        monitor=MonitorOptions(
            interval=parse_duration(args.sample_interval, "--sample-interval"),
            disk=not args.no_disk_usage,
            enforce_disk=not args.no_enforce_disk,
            enforce_ram=args.enforce_ram,
            pss=args.sample_pss,
            disk_reconcile=parse_duration(args.disk_reconcile, "--disk-reconcile"),
            disk_scan=parse_duration(args.disk_scan, "--disk-scan"),
        ),
    )

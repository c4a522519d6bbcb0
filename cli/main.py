"""The borealis command: one sub-command per module in this package.

Every failure caused by input (a bad config, flag or task id) is printed as
one line and exits with status 2; an internal error is logged with its
traceback and exits with status 101.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
from typing import NoReturn

from borealis.contract.errors import InputError
from borealis.contract.records import RecordError
from borealis.contract.replay import TransitionError
from borealis.contract.states import ExitCode
from borealis.contract.stream import CorruptStream
from borealis.executor.runner.checkpoint import AlreadyRunning

# name -> (module, one line of help). Only the chosen command's module is
# imported, so that e.g. `borealis runner` does not pay for the config language.
COMMANDS = {
    "run": ("run", "run a task from a config file in the foreground"),
    "status": ("status", "show tasks, or one task's processes and runs"),
    "tail": ("tail", "print (and follow) a process's stdout or stderr"),
    "kill": ("kill", "stop a task (SIGTERM, then SIGKILL) and wait for it to end"),
    "inspect": ("inspect_cmd", "print the interpolated task JSON of a config"),
    "gc": ("gc", "remove finished tasks, their checkpoints and sandboxes"),
    "runner": ("runner_cmd", "run or resume a task whose task file is already on disk"),
    "executor": ("executor_cmd", "run one Mesos task (started by a Mesos agent or borealis agent)"),
    "agent": ("agent_cmd", "the embedded single-host agent: launches executors, serves their API"),
    "serverset": ("serverset_cmd", "list the live members of a ZooKeeper serverset"),
    "job": ("job_cmd", "create, inspect, kill and restart jobs on a scheduler"),
    "cron": ("cron_cmd", "run jobs on a cron schedule: schedule, deschedule, start, show"),
    "sla": ("sla_cmd", "a job's SLA figures: get-job-uptime, get-task-up-count"),
    "task": ("task_cmd", "list the tasks a scheduler holds"),
    "observer": ("observer_cmd", "serve the web UI and JSON API over the tasks on this host"),
    "scheduler": ("scheduler_cmd", "keep every job's instances running (embedded or on Mesos)"),
}
CANNOT_RUN = 5
CLOSED_PIPE = 128 + signal.SIGPIPE  # what a shell reports for a program ended by SIGPIPE


class Parser(argparse.ArgumentParser):
    """argparse, with its own errors on one line like every other bad input."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(int(ExitCode.INVALID))


def parser(argv: list[str]) -> argparse.ArgumentParser:
    top = Parser(
        prog="borealis",
        description="Borealis: run Thermos-style tasks, crash-safe, on this host.",
    )
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_text) in COMMANDS.items():
        if name == chosen:
            module = importlib.import_module(f"{__package__}.{module_name}")
            module.add_parser(sub, name, help_text)
        else:
            sub.add_parser(name, help=help_text, add_help=False)
    return top


def main(argv: list[str] | None = None) -> int:
    try:
        code = run(sys.argv[1:] if argv is None else argv)
    except SystemExit as e:  # argparse's --help and usage errors
        code = e.code if isinstance(e.code, int) else int(ExitCode.INVALID)
    try:
        sys.stdout.flush()  # here, where a closed pipe is handled, not at the exit
    except BrokenPipeError:
        return closed_pipe()
    return code


def closed_pipe() -> int:
    """The reader went away (borealis status | head): nothing more to say, and nothing to
    report. What is still buffered goes nowhere, so that exiting does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return CLOSED_PIPE


def run(argv: list[str]) -> int:
    try:
        args = parser(argv).parse_args(argv)
        return int(args.func(args))
    except InputError as e:
        print(f"borealis: {e}", file=sys.stderr)
        return int(ExitCode.INVALID)
    except AlreadyRunning as e:
        print(f"borealis: {e}", file=sys.stderr)
        return CANNOT_RUN
    except (CorruptStream, RecordError, TransitionError) as e:
        print(f"borealis: the checkpoint cannot be read: {e}", file=sys.stderr)
        return CANNOT_RUN
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return closed_pipe()
    except Exception:
        logging.getLogger("borealis").exception("internal error")
        return int(ExitCode.INTERNAL_ERROR)


if __name__ == "__main__":
    sys.exit(main())

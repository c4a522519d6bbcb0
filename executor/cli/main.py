"""The ``borealis`` command: one sub-command per module in this package.

Every failure caused by input (a bad config, flag or task id) is printed as
one line and exits with status 2; an internal error is logged with its
traceback and exits with status 101.
"""

from __future__ import annotations

import argparse
import logging
import sys

from executor.contract.errors import InputError
from executor.contract.records import RecordError
from executor.contract.replay import TransitionError
from executor.contract.states import ExitCode
from executor.contract.stream import CorruptStream
from executor.runner.checkpoint import AlreadyRunning

from . import gc, inspect_cmd, kill, run, runner_cmd, status, tail

COMMANDS = (run, status, tail, kill, inspect_cmd, gc, runner_cmd)
CANNOT_RUN = 5


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="borealis",
        description="Borealis: run Thermos-style tasks, crash-safe, on this host.",
    )
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parser(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
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
    except Exception:
        logging.getLogger("borealis").exception("internal error")
        return int(ExitCode.INTERNAL_ERROR)


if __name__ == "__main__":
    sys.exit(main())

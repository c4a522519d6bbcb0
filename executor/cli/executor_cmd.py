"""borealis executor: run one Mesos task (started by a Mesos agent or borealis agent)

    borealis executor

Reads the ``MESOS_*`` environment a Mesos agent sets, subscribes to the agent's v1 executor
API, runs the task in ``TaskInfo.data`` through the runner and reports its states; exits
once its terminal update is acknowledged. See docs/mesos.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from .options import parse_duration


def add_parser(sub: Any, name: str, help_text: str) -> None:
    parser = sub.add_parser(
        name,
        help=help_text,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--kill-grace", default="10s", metavar="DURATION", help="runner TERM->KILL grace"
    )
    parser.add_argument(
        "--ack-timeout", default="60s", metavar="DURATION", help="wait this long for the last ACK"
    )
    parser.add_argument("--hostname", default="", help="hostname to bind {{mesos.hostname}} to")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from executor.mesos.environment import from_environ
    from executor.mesos.executor import Executor, ExecutorOptions

    env = from_environ()
    options = ExecutorOptions(
        kill_grace=parse_duration(args.kill_grace, "--kill-grace"),
        ack_timeout=parse_duration(args.ack_timeout, "--ack-timeout"),
        hostname=args.hostname,
    )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr
    )

    async def main() -> int:
        executor = Executor(env, options)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, executor.shutdown)
        code = await executor.main()
        waits = code == 0 and executor.driver is not None and not executor.disconnected
        if waits and not await executor.wait_for_acks():
            logging.getLogger("borealis.executor").error(
                "no ACK for the terminal update within %s", args.ack_timeout
            )
            return 1
        return code

    return asyncio.run(main())

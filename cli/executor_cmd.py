"""borealis executor: run one Mesos task (started by a Mesos agent or borealis agent)

    borealis executor

Reads the MESOS_* environment a Mesos agent sets, subscribes to the agent's v1 executor
API, runs the task in TaskInfo.data through the runner and reports its states; exits
once its terminal update is acknowledged. See docs/mesos.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from .options import command_parser, parse_duration


def add_parser(sub: Any, name: str, help_text: str) -> None:
    parser = command_parser(sub, name, help_text, __doc__)
    parser.add_argument(
        "--kill-grace", default="10s", metavar="DURATION", help="runner TERM->KILL grace"
    )
    parser.add_argument(
        "--ack-timeout", default="60s", metavar="DURATION", help="wait this long for the last ACK"
    )
    parser.add_argument("--hostname", default="", help="hostname to bind {{mesos.hostname}} to")
    zk = parser.add_argument_group("announcer (ZooKeeper serversets; flags default to $BOREALIS_*)")
    zk.add_argument(
        "--announcer-ensemble",
        default=os.environ.get("BOREALIS_ANNOUNCER_ENSEMBLE", ""),
        metavar="HOSTS",
        help="ZooKeeper hosts (host:port,...); without it nothing is announced",
    )
    zk.add_argument(
        "--announcer-serverset-path",
        default=os.environ.get("BOREALIS_ANNOUNCER_SERVERSET_PATH", "/aurora"),
        metavar="PATH",
        help="root of the serversets: PATH/ROLE/ENV/JOB (default /aurora)",
    )
    zk.add_argument(
        "--announcer-allow-custom-serverset-path",
        action="store_true",
        default=os.environ.get("BOREALIS_ANNOUNCER_ALLOW_CUSTOM_PATH") == "1",
        help="honour a job's announce.zk_path",
    )
    zk.add_argument(
        "--announcer-zookeeper-auth-config",
        type=Path,
        default=os.environ.get("BOREALIS_ANNOUNCER_ZK_AUTH") or None,
        metavar="FILE",
        help="JSON with digest auth and ACLs (Aurora's format)",
    )
    zk.add_argument(
        "--announcer-session-timeout",
        default=os.environ.get("BOREALIS_ANNOUNCER_SESSION_TIMEOUT", "10s"),
        metavar="DURATION",
        help="ZooKeeper session timeout (default 10s)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from borealis.executor.mesos.environment import from_environ
    from borealis.executor.mesos.executor import Executor, ExecutorOptions

    env = from_environ()
    options = ExecutorOptions(
        kill_grace=parse_duration(args.kill_grace, "--kill-grace"),
        ack_timeout=parse_duration(args.ack_timeout, "--ack-timeout"),
        hostname=args.hostname,
        announcer_ensemble=args.announcer_ensemble,
        announcer_serverset_path=args.announcer_serverset_path,
        announcer_allow_custom_path=args.announcer_allow_custom_serverset_path,
        announcer_auth=args.announcer_zookeeper_auth_config,
        announcer_session_timeout=parse_duration(
            args.announcer_session_timeout, "--announcer-session-timeout"
        ),
    )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr
    )

    async def main() -> int:
        executor = Executor(env, options)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, executor.shutdown)
        return await executor.main()

    return asyncio.run(main())

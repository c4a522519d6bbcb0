"""borealis agent: the embedded single-host agent (launches executors, serves their API)

    borealis agent [--work-dir DIR] [--ip 127.0.0.1] [--port 5051]

Launches ``borealis executor`` for each task a framework sends it, as a Mesos agent would,
and serves the agent side of the Mesos v1 executor API. Restarted with the same work
directory and port, it lets checkpointed executors re-subscribe. Not a Mesos agent: see
docs/mesos.md.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
from pathlib import Path
from typing import Any

from borealis.contract.errors import InputError
from borealis.contract.layout import CheckpointRoot, default_root

from .options import parse_duration


def add_parser(sub: Any, name: str, help_text: str) -> None:
    parser = sub.add_parser(
        name,
        help=help_text,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--work-dir", type=Path, help="default: <checkpoint root>/agent")
    parser.add_argument("--ip", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5051)
    parser.add_argument(
        "--reregistration-timeout",
        default="2s",
        metavar="DURATION",
        help="how long checkpointed executors get to re-subscribe after a restart (default 2s)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        ipaddress.ip_address(args.ip)
    except ValueError:
        raise InputError("--ip", args.ip, "not an IP address") from None
    if not 0 <= args.port <= 65535:
        raise InputError("--port", str(args.port), "must be between 0 and 65535")
    timeout = parse_duration(args.reregistration_timeout, "--reregistration-timeout")
    work_dir = args.work_dir or CheckpointRoot(default_root()).agent_work_dir.path
    work_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from borealis.agent.framework_api import serve

    try:
        return serve(work_dir.absolute(), args.ip, args.port, timeout)
    except OSError as e:
        raise InputError("--port", f"{args.ip}:{args.port}", e.strerror or str(e)) from None

"""borealis scheduler: keep every job's instances running (the embedded default: one agent)

    borealis scheduler --agent URL [--db FILE] [--ip 127.0.0.1] [--port 8081]

Jobs arrive through its HTTP API (``borealis job create``); their state lives in SQLite
(``--db``, default ``<checkpoint root>/scheduler.db``) and survives restarts. The embedded
default drives one ``borealis agent`` on this host. See docs/scheduler.md.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import re
from pathlib import Path
from typing import Any

from borealis.contract.errors import InputError
from borealis.contract.layout import default_root

DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
SIZE_RE = re.compile(r"^(\d+)([KMG]B?)?$", re.IGNORECASE)


def duration(flag: str) -> Any:
    def convert(text: str) -> float:
        match = DURATION_RE.match(text)
        if not match:
            raise InputError(flag, text, "expected a duration such as 30s, 5m or 500ms")
        return float(match.group(1)) * UNITS[match.group(2)]

    return convert


def size(flag: str) -> Any:
    def convert(text: str) -> int:
        match = SIZE_RE.match(text)
        if not match:
            raise InputError(flag, text, "expected a size such as 128MB or 2GB")
        unit = (match.group(2) or "").upper().rstrip("B")
        return int(match.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[unit]

    return convert


def add_parser(sub: Any, name: str, help_text: str) -> None:
    parser = sub.add_parser(
        name,
        help=help_text,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--agent", default="http://127.0.0.1:5051", help="borealis agent URL")
    mesos = parser.add_argument_group("Mesos (instead of the embedded agent)")
    mesos.add_argument("--master", help="the Mesos master: zk://HOSTS/PATH or HOST:PORT")
    mesos.add_argument("--framework-name", default="borealis")
    mesos.add_argument(
        "--executor-command",
        default="python3 borealis.pyz executor",
        help="the executor's command line on the agents",
    )
    mesos.add_argument("--executor-uri", action="append", default=[], help="fetched by the agent")
    mesos.add_argument(
        "--reconcile-interval", type=duration("--reconcile-interval"), default=900.0, help="(15m)"
    )
    parser.add_argument("--db", type=Path, help="SQLite file (default <root>/scheduler.db)")
    parser.add_argument("--ip", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--observer-url", default="", help="links to each task's observer page")
    parser.add_argument("--placement", choices=["spread", "pack"], default="spread")
    policy = parser.add_argument_group("policy")
    policy.add_argument(
        "--flapping-threshold", type=duration("--flapping-threshold"), default=300.0
    )
    policy.add_argument(
        "--penalty", type=duration("--penalty"), default=30.0, help="first flapping delay (30s)"
    )
    policy.add_argument("--max-penalty", type=duration("--max-penalty"), default=300.0)
    policy.add_argument("--transient-timeout", type=duration("--transient-timeout"), default=300.0)
    host = parser.add_argument_group("the local host (default: this machine's resources)")
    host.add_argument("--host-cpu", type=float)
    host.add_argument("--host-ram", type=size("--host-ram"))
    host.add_argument("--executor-cpu", type=float, default=0.1, help="per-instance overhead (0.1)")
    host.add_argument(
        "--executor-ram", type=size("--executor-ram"), default=64 << 20, help="(64MB)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        ipaddress.ip_address(args.ip)
    except ValueError:
        raise InputError("--ip", args.ip, "not an IP address") from None
    from borealis.scheduler.core import Policy, Scheduler
    from borealis.scheduler.daemon import serve
    from borealis.scheduler.local import LocalBackend
    from borealis.scheduler.store import Store

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    db = args.db or default_root() / "scheduler.db"
    db.parent.mkdir(parents=True, exist_ok=True)

    async def main() -> int:
        backend = LocalBackend(
            args.agent, cpu=args.host_cpu, ram=args.host_ram, work_dir=str(db.parent)
        )
        policy = Policy(
            flapping_threshold=args.flapping_threshold,
            penalty_initial=args.penalty,
            penalty_max=args.max_penalty,
            transient_timeout=args.transient_timeout,
            executor_cpu=args.executor_cpu,
            executor_ram=args.executor_ram,
            placement=args.placement,
        )
        if args.master:
            from borealis.scheduler.mesos.run import serve_mesos

            return await serve_mesos(
                Store(db),
                policy,
                master=args.master,
                ip=args.ip,
                port=args.port,
                observer_url=args.observer_url,
                framework_name=args.framework_name,
                executor_command=args.executor_command,
                executor_uris=args.executor_uri,
                reconcile_interval=args.reconcile_interval,
            )
        scheduler = Scheduler(Store(db), backend, policy)
        return await serve(scheduler, backend, args.ip, args.port, args.observer_url)

    try:
        return asyncio.run(main())
    except OSError as e:
        raise InputError("--port", f"{args.ip}:{args.port}", e.strerror or str(e)) from None

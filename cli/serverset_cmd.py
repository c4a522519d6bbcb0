"""borealis serverset: list the live members of a ZooKeeper serverset, as Finagle sees them

    borealis serverset ZK_HOSTS PATH [--watch] [--json]

Prints one line per member: member_NNNNNNNNNN host:port shard=N name=host:port ...
(only member_* nodes with valid JSON and status ALIVE, as Finagle's resolver reads
them). --watch prints the list again at every change until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import threading
from typing import Any

from borealis.contract.errors import InputError

from .options import command_parser


def add_parser(sub: Any, name: str, help_text: str) -> None:
    parser = command_parser(sub, name, help_text, __doc__)
    parser.add_argument("hosts", metavar="ZK_HOSTS", help="host:port[,host:port...]")
    parser.add_argument("path", metavar="PATH", help="the serverset, e.g. /aurora/role/env/job")
    parser.add_argument("--watch", action="store_true", help="print again at every change")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to connect")
    parser.set_defaults(func=run)


def show(members: list[Any], as_json: bool) -> None:
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "member": m.name,
                        "host": m.host,
                        "port": m.port,
                        "shard": m.shard,
                        "additional": {
                            k: {"host": h, "port": p} for k, (h, p) in m.additional.items()
                        },
                    }
                    for m in members
                ]
            ),
            flush=True,
        )
        return
    for member in members:
        print(member.describe(), flush=True)
    if not members:
        print("(no live members)", flush=True)


def run(args: argparse.Namespace) -> int:
    if not args.path.startswith("/"):
        raise InputError("PATH", args.path, "must start with '/'")
    from kazoo.client import KazooClient
    from kazoo.handlers.threading import KazooTimeoutError

    from borealis.executor.mesos.serverset import read_members

    zk = KazooClient(hosts=args.hosts, read_only=True)
    try:
        zk.start(timeout=args.timeout)
    except KazooTimeoutError:
        raise InputError(
            "ZK_HOSTS", args.hosts, f"no ZooKeeper answered within {args.timeout:g}s"
        ) from None
    try:
        if not args.watch:
            show(read_members(zk, args.path), args.json)
            return 0
        changed = threading.Event()
        zk.ensure_path(args.path)
        zk.ChildrenWatch(args.path, lambda children: changed.set())
        while True:
            changed.wait()
            changed.clear()
            show(read_members(zk, args.path), args.json)
    except KeyboardInterrupt:
        return 130
    finally:
        zk.stop()
        zk.close()

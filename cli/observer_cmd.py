"""borealis observer: serve the web UI and JSON API over the tasks on this host

    borealis observer [--root DIR]... [--mesos-root DIR]... [--ip 127.0.0.1] [--port 1338]
                      [--auth-token-file FILE]

Reads tasks from checkpoint roots (``--root``, repeatable; default: the same root
``borealis run`` uses) and from every executor run directory under a Mesos agent's work
directory (``--mesos-root``, the agent's ``--work_dir``). Read-only; binds to 127.0.0.1
unless ``--ip`` says otherwise. With ``--auth-token-file`` every route but ``/health``
needs the token (docs/observer.md). ``--port 0`` picks a free port; the URL is printed
either way.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from borealis.contract.errors import InputError
from borealis.contract.layout import CheckpointRoot, default_root

DEFAULT_PORT = 1338
MAX_BODY = 64 * 1024
MAX_HEADERS = 16 * 1024


def add_parser(sub: Any, name: str, help_text: str) -> None:
    parser = sub.add_parser(
        name,
        help=help_text,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--root", type=Path, action="append", default=[], help="checkpoint root")
    parser.add_argument(
        "--mesos-root", type=Path, action="append", default=[], help="Mesos agent work directory"
    )
    parser.add_argument("--ip", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 1338)")
    parser.add_argument("--auth-token-file", type=Path, help="file holding the bearer token")
    parser.add_argument(
        "--refresh-interval", type=float, default=1.0, help="seconds between active-task passes"
    )
    parser.add_argument(
        "--reconcile-interval", type=float, default=10.0, help="seconds between full listings"
    )
    parser.add_argument(
        "--finished-cache", type=int, default=256, help="finished tasks kept fully in memory"
    )
    parser.set_defaults(func=run)


def check(args: argparse.Namespace) -> tuple[list[Path], list[Path], str | None]:
    """The roots and token, or ``InputError`` naming the flag and the problem."""
    for flag, paths in (("--root", args.root), ("--mesos-root", args.mesos_root)):
        for path in paths:
            if not path.is_dir():
                raise InputError(flag, str(path), "no such directory")
    try:
        ipaddress.ip_address(args.ip)
    except ValueError:
        raise InputError("--ip", args.ip, "not an IP address") from None
    if not 0 <= args.port <= 65535:
        raise InputError("--port", str(args.port), "must be between 0 and 65535")
    for flag, value in (
        ("--refresh-interval", args.refresh_interval),
        ("--reconcile-interval", args.reconcile_interval),
    ):
        if not 0.05 <= value <= 3600:
            raise InputError(flag, str(value), "must be between 0.05 and 3600 seconds")
    if args.finished_cache < 1:
        raise InputError("--finished-cache", str(args.finished_cache), "must be at least 1")
    token = None
    if args.auth_token_file is not None:
        try:
            token = args.auth_token_file.read_text().strip()
        except OSError as e:
            raise InputError(
                "--auth-token-file", str(args.auth_token_file), e.strerror or ""
            ) from None
        if len(token) < 16:
            raise InputError(
                "--auth-token-file", str(args.auth_token_file), "the token must be 16+ characters"
            )
    roots = list(args.root)
    if not roots and not args.mesos_root:
        roots = [default_root()]
    # each root's embedded agent (ROOT/agent) is watched too, whether it runs yet or not
    agents = [CheckpointRoot(root).agent_work_dir.path for root in roots]
    return roots, [*args.mesos_root, *agents], token


def run(args: argparse.Namespace) -> int:
    roots, mesos, token = check(args)
    import tornado.httpserver
    import tornado.ioloop

    from borealis.observer.app import Keeper, make_app
    from borealis.observer.store import TaskStore

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    store = TaskStore(roots, mesos, cache_size=args.finished_cache)
    app = make_app(store, auth_token=token)
    server = tornado.httpserver.HTTPServer(
        app,
        max_body_size=MAX_BODY,
        max_header_size=MAX_HEADERS,
        idle_connection_timeout=120,
        body_timeout=10,
    )
    try:
        sockets = tornado.netutil.bind_sockets(args.port, address=args.ip, family=socket.AF_UNSPEC)
    except OSError as e:
        raise InputError("--port", f"{args.ip}:{args.port}", e.strerror or str(e)) from None
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    loop = tornado.ioloop.IOLoop.current()
    keeper = Keeper(store, args.refresh_interval, args.reconcile_interval)
    keeper.start()
    host = f"[{args.ip}]" if ":" in args.ip else args.ip
    counts = store.counts()
    print(
        f"borealis observer: http://{host}:{port}/  "
        f"({counts['active']} active, {counts['finished']} finished tasks; "
        f"roots: {', '.join(str(r) for r in roots + mesos)})",
        flush=True,
    )

    def stop(signum: int, frame: Any) -> None:
        loop.add_callback_from_signal(loop.stop)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        loop.start()
    finally:
        keeper.stop()
        server.stop()
        store.close()
    print("borealis observer: stopped", file=sys.stderr)
    return 0

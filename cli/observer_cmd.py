"""borealis observer: serve the web UI and JSON API over the tasks on this host

    borealis observer [--root DIR]... [--mesos-root DIR]... [--ip 127.0.0.1] [--port 1338]
                      [--auth-token-file FILE | --no-auth] [--allow-host NAME]...

Reads tasks from checkpoint roots (--root, repeatable; default: the same root borealis run
uses), from the embedded agent's runs under each (ROOT/agent), and from every executor run
directory under a Mesos agent's work directory (--mesos-root, the agent's --work_dir).
Read-only; listens on 127.0.0.1 unless --ip says otherwise. Every route but /health and the
static files needs a token: ROOT/secrets/observer.token (ROOT: the first --root, else the
default root; made 0600 at the first start) unless --auth-token-file names another file
(this user's own, mode 0600). --no-auth serves without one, which shows every task's logs
and files to every local user (docs/observer.md). --port 0 picks a free port; the URL is
printed either way, with the ?token=... link that logs a browser in.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

from borealis.contract.errors import InputError
from borealis.contract.layout import CheckpointRoot, default_root

from .options import (
    add_allow_host,
    add_listen,
    allowed_hosts_of,
    command_parser,
    daemon_token,
    duration_type,
    listen_of,
)
from .serve import Service, serve

DEFAULT_PORT = 1338
MAX_BODY = 64 * 1024
MAX_HEADERS = 16 * 1024
NO_AUTH = " --no-auth: every local user can read every task's logs and files"


def add_parser(sub: Any, name: str, help_text: str) -> None:
    parser = command_parser(sub, name, help_text, __doc__)
    parser.add_argument("--root", type=Path, action="append", default=[], help="checkpoint root")
    parser.add_argument(
        "--mesos-root", type=Path, action="append", default=[], help="Mesos agent work directory"
    )
    add_listen(parser, port=DEFAULT_PORT)
    access = parser.add_mutually_exclusive_group()
    access.add_argument(
        "--auth-token-file",
        type=Path,
        metavar="FILE",
        help="the token's file, this user's own, 0600 (default ROOT/secrets/observer.token,"
        " made at the first start)",
    )
    access.add_argument(
        "--no-auth",
        action="store_true",
        help="serve without a token: every local user reads every task's logs and files",
    )
    add_allow_host(parser)
    parser.add_argument(
        "--refresh-interval",
        type=duration_type("--refresh-interval"),
        default="1s",
        metavar="DURATION",
        help="how often active tasks are read again (default 1s)",
    )
    parser.add_argument(
        "--reconcile-interval",
        type=duration_type("--reconcile-interval"),
        default="10s",
        metavar="DURATION",
        help="how often every root is listed again (default 10s)",
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
    for flag, value in (
        ("--refresh-interval", args.refresh_interval),
        ("--reconcile-interval", args.reconcile_interval),
    ):
        if not 0.05 <= value <= 3600:
            raise InputError(flag, f"{value:g}s", "must be between 50ms and 1h")
    if args.finished_cache < 1:
        raise InputError("--finished-cache", str(args.finished_cache), "must be at least 1")
    roots = list(args.root)
    if not roots and not args.mesos_root:
        roots = [default_root()]
    token = None if args.no_auth else _token(args.auth_token_file, roots)
    # each root's embedded agent (ROOT/agent) is watched too, whether it runs yet or not
    agents = [CheckpointRoot(root).agent_work_dir.path for root in roots]
    return roots, [*args.mesos_root, *agents], token


def _token(given: Path | None, roots: list[Path]) -> str:
    """The token in ``given`` (this user's own file, 0600, never read through a link), or the
    observer's own, made at the first start; bad input names --auth-token-file."""
    from borealis.contract.credentials import CredentialError, read_token

    if given is None:
        own = CheckpointRoot(roots[0] if roots else default_root()).observer_token
        return daemon_token("--auth-token-file", own)
    try:
        return read_token(given.absolute(), private=True)
    except CredentialError as e:
        raise InputError("--auth-token-file", "", str(e)) from None


def run(args: argparse.Namespace) -> int:
    roots, mesos, token = check(args)
    allowed = allowed_hosts_of(args)
    from borealis.observer.app import Keeper, make_app
    from borealis.observer.store import TaskStore

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    async def build(port: int) -> Service:
        store = TaskStore(roots, mesos, cache_size=args.finished_cache)
        keeper = Keeper(store, args.refresh_interval, args.reconcile_interval)
        keeper.start()
        counts = store.counts()

        def close() -> None:
            keeper.stop()
            store.close()

        url = listen_of(args).url(port)
        return Service(
            make_app(store, auth_token=token, allowed_hosts=allowed),
            about=(
                f"({counts['active']} active, {counts['finished']} finished tasks; "
                f"roots: {', '.join(str(r) for r in roots + mesos)})"
                + (NO_AUTH if token is None else f" log in: {url}?token={quote(token, safe='')}")
            ),
            server={
                "max_body_size": MAX_BODY,
                "max_header_size": MAX_HEADERS,
                "idle_connection_timeout": 120,
                "body_timeout": 10,
            },
            close=close,
        )

    return serve("observer", listen_of(args), build)

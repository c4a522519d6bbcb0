"""borealis scheduler: keep every job's instances running (the embedded default: one agent)

    borealis scheduler [--agent URL [--agent-timeout 30s] | --master zk://HOSTS/PATH] [--db FILE]
                       [--ip 127.0.0.1] [--port 8081] [--token-file PATH]
                       [--agent-token-file PATH] [--allow-host NAME]...
                       [--allowed-container-types docker,mesos]
                       [--allow-docker-parameters] [--allow-container-volumes]

Jobs arrive through its HTTP API (borealis job create); their state lives in SQLite (--db,
default ROOT/scheduler.db) and survives restarts. The embedded default drives one borealis
agent on this host; with --master it is a Mesos framework. See docs/scheduler.md.

Its API needs Authorization: Bearer <token>: the token is ROOT/secrets/scheduler.token (made
0600 at the first start) unless --token-file names another file. It calls the agent with the
agent's token, ROOT/secrets/agent.token unless --agent-token-file says otherwise.

A job may ask for a Docker or Mesos container (docs/containers.md): both kinds are accepted
and placed only on hosts that advertise them (--allowed-container-types narrows that); Docker
parameters and host volumes give a job's author the agent host, so jobs that carry them are
refused unless --allow-docker-parameters / --allow-container-volumes (as Aurora's scheduler).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from borealis.contract.container import Kind, kinds_from_text
from borealis.contract.errors import InputError

from .options import (
    add_allow_host,
    add_listen,
    add_root,
    add_token_file,
    allowed_hosts_of,
    command_parser,
    daemon_token,
    duration_type,
    listen_of,
    root_of,
    size_type,
)
from .serve import Service, serve


def add_parser(sub: Any, name: str, help_text: str) -> None:
    parser = command_parser(sub, name, help_text, __doc__)
    parser.add_argument("--agent", default="http://127.0.0.1:5051", help="borealis agent URL")
    parser.add_argument(
        "--agent-timeout",
        type=duration_type("--agent-timeout"),
        default="30s",
        metavar="DURATION",
        help="the agent is unreachable (its runs PARTITIONED) after no answer for this long "
        "(default 30s)",
    )
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
        "--reconcile-interval",
        type=duration_type("--reconcile-interval"),
        default="15m",
        metavar="DURATION",
        help="implicit reconciliation this often (default 15m)",
    )
    parser.add_argument("--db", type=Path, help="SQLite file (default ROOT/scheduler.db)")
    add_root(parser)
    add_listen(parser, port=8081)
    add_token_file(parser, "--token-file", "ROOT/secrets/scheduler.token", "the API's token")
    add_token_file(
        parser, "--agent-token-file", "ROOT/secrets/agent.token", "the embedded agent's token"
    )
    add_allow_host(parser)
    parser.add_argument("--observer-url", default="", help="links to each task's observer page")
    parser.add_argument("--placement", choices=["spread", "pack"], default="spread")
    containers = parser.add_argument_group("containers (docs/containers.md)")
    containers.add_argument(
        "--allowed-container-types",
        type=container_kinds,
        default="docker,mesos",
        metavar="KINDS",
        help="the containers a job may ask for: docker, mesos, both or none (default both)",
    )
    containers.add_argument(
        "--allow-docker-parameters",
        action="store_true",
        help="accept Docker parameters from jobs (they give a job the agent host)",
    )
    containers.add_argument(
        "--allow-container-volumes",
        action="store_true",
        help="accept host volumes from jobs (they give a job the agent host's files)",
    )
    policy = parser.add_argument_group("policy")
    for flag, default, what in (
        ("--flapping-threshold", "5m", "a run shorter than this is flapping"),
        ("--penalty", "30s", "the first delay after a flapping run"),
        ("--max-penalty", "5m", "the longest delay after flapping runs"),
        ("--transient-timeout", "5m", "a run stuck in ASSIGNED, STARTING or KILLING is LOST"),
    ):
        policy.add_argument(
            flag,
            type=duration_type(flag),
            default=default,
            metavar="DURATION",
            help=f"{what} (default {default})",
        )
    host = parser.add_argument_group("the local host (default: this machine's resources)")
    host.add_argument("--host-cpu", type=float)
    host.add_argument("--host-ram", type=size_type("--host-ram"), metavar="SIZE")
    host.add_argument(
        "--host-ports",
        action="append",
        type=port_range,
        metavar="LO-HI",
        help="a range of ports the host offers (repeatable; default 31000-32000)",
    )
    host.add_argument("--executor-cpu", type=float, default=0.1, help="per-instance overhead (0.1)")
    host.add_argument(
        "--executor-ram",
        type=size_type("--executor-ram"),
        default="64M",
        metavar="SIZE",
        help="per-instance overhead (default 64M)",
    )
    parser.set_defaults(func=run)


def port_range(text: str) -> tuple[int, int]:
    """``LO-HI`` (or one port ``N``) as an inclusive range of port numbers."""
    lo, _, hi = text.partition("-")
    hi = hi or lo
    if not (lo.isdigit() and hi.isdigit() and 0 < int(lo) <= int(hi) < 65536):
        raise argparse.ArgumentTypeError(f"expected LO-HI within 1-65535, got {text!r}")
    return int(lo), int(hi)


def container_kinds(text: str) -> frozenset[Kind]:
    try:
        return kinds_from_text(text)
    except ValueError as e:
        raise InputError("--allowed-container-types", text, str(e)) from None


def run(args: argparse.Namespace) -> int:
    from borealis.scheduler.containerpolicy import ContainerPolicy
    from borealis.scheduler.core import Policy, Scheduler
    from borealis.scheduler.store import Store

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    db = args.db or root_of(args).scheduler_db
    # A directory of its own is private; the default one (the checkpoint root) must stay
    # passable for task users on their way to their sandboxes (docs/security.md).
    db.parent.mkdir(mode=0o700 if args.db else 0o711, parents=True, exist_ok=True)
    token = daemon_token("--token-file", args.token_file or root_of(args).scheduler_token)
    allowed = allowed_hosts_of(args)
    guard: dict[str, Any] = {"token": token, "allowed_hosts": allowed}
    policy = Policy(
        flapping_threshold=args.flapping_threshold,
        penalty_initial=args.penalty,
        penalty_max=args.max_penalty,
        transient_timeout=args.transient_timeout,
        executor_cpu=args.executor_cpu,
        executor_ram=args.executor_ram,
        placement=args.placement,
        containers=ContainerPolicy(
            args.allowed_container_types, args.allow_docker_parameters, args.allow_container_volumes
        ),
    )

    async def build(port: int) -> Service:
        from borealis.scheduler.app import make_app

        body = {"max_body_size": 4 << 20}
        if args.master:
            from borealis.scheduler.mesos.run import OnMesos

            framework = OnMesos(
                Store(db),
                policy,
                master=args.master,
                framework_name=args.framework_name,
                executor_command=args.executor_command,
                executor_uris=args.executor_uri,
                reconcile_interval=args.reconcile_interval,
            )
            return Service(
                make_app(framework.scheduler, args.observer_url, **guard),
                about=f"(Mesos: {args.master})",
                server=body,
                start=framework.start,
                loops=framework.loops,
                close=framework.close,
            )
        from borealis.scheduler.daemon import Embedded
        from borealis.scheduler.local import LocalBackend

        backend = LocalBackend(
            args.agent,
            cpu=args.host_cpu,
            ram=args.host_ram,
            ports=tuple(args.host_ports or [(31000, 32000)]),
            work_dir=str(db.parent),
            agent_token_file=(args.agent_token_file or root_of(args).agent_token).absolute(),
        )
        embedded = Embedded(
            Scheduler(Store(db), backend, policy), backend, agent_timeout=args.agent_timeout
        )
        return Service(
            make_app(embedded.scheduler, args.observer_url, **guard),
            about=f"(agent: {args.agent})",
            server=body,
            start=embedded.start,
            loops=embedded.loops,
            close=embedded.close,
        )

    return serve("scheduler", listen_of(args), build)

"""borealis agent: the embedded single-host agent (launches executors, serves their API)

    borealis agent [--work-dir DIR | --root DIR] [--ip 127.0.0.1] [--port 5051]
                   [--token-file PATH] [--allow-host NAME]...
                   [--allow-root-tasks] [--no-setuid] [--ignore-container]

Launches borealis executor for each task a framework sends it, as a Mesos agent would,
and serves the agent side of the Mesos v1 executor API. Restarted with the same work
directory and port, it lets checkpointed executors re-subscribe. Not a Mesos agent: see
docs/mesos.md.

Each task runs as its job role's Unix user; executor_uris are fetched as the launch's
user. --allow-root-tasks lets a task run (and fetch) as root; --no-setuid runs every task
as the agent's own user (root, for a root agent), whatever its role (docs/security.md).

It runs no containers: a scheduler places a task whose job asks for one (Docker(...),
Mesos(image=...)) only on an agent whose containers attribute lists that kind, and this one
lists none. --ignore-container makes it advertise containers=docker,mesos and run such tasks
on the host without their container; each one's header records that (borealis status and the
observer show it), and the agent says so when it starts (docs/containers.md).

Frameworks authenticate with Authorization: Bearer <token>; the token is ROOT/secrets/
agent.token (made 0600 at the first start) unless --token-file names another file. Each
executor gets a secret of its own (MESOS_EXECUTOR_AUTHENTICATION_TOKEN).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

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
)
from .serve import Service, serve


def add_parser(sub: Any, name: str, help_text: str) -> None:
    parser = command_parser(sub, name, help_text, __doc__)
    parser.add_argument("--work-dir", type=Path, help="default: ROOT/agent")
    add_root(parser)
    add_listen(parser, port=5051)
    add_token_file(parser, "--token-file", "ROOT/secrets/agent.token", "the framework API's token")
    add_allow_host(parser)
    parser.add_argument(
        "--reregistration-timeout",
        type=duration_type("--reregistration-timeout"),
        default="2s",
        metavar="DURATION",
        help="how long checkpointed executors get to re-subscribe after a restart (default 2s)",
    )
    parser.add_argument(
        "--allow-root-tasks",
        action="store_true",
        help="let a task whose role (or fetch user) is root run as root",
    )
    parser.add_argument(
        "--no-setuid",
        action="store_true",
        help="run tasks as this agent's user instead of their role's (single-user hosts)",
    )
    parser.add_argument(
        "--ignore-container",
        action="store_true",
        help="take tasks that ask for a Docker or Mesos container and run them on the host, "
        "without it (advertises containers=docker,mesos)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    listen = listen_of(args)
    work_dir = (args.work_dir or root_of(args).agent_work_dir.path).absolute()
    work_dir.mkdir(parents=True, exist_ok=True)
    token = daemon_token("--token-file", args.token_file or root_of(args).agent_token)
    allowed = allowed_hosts_of(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from borealis.contract.container import ATTRIBUTE, Kind
    from borealis.executor.mesos.identity import (
        ALLOW_ROOT_ENV,
        IGNORE_CONTAINER_ENV,
        NO_SETUID_ENV,
    )

    # The executors inherit the agent's environment: that is how these settings reach them.
    for flag, name in (
        (args.allow_root_tasks, ALLOW_ROOT_ENV),
        (args.no_setuid, NO_SETUID_ENV),
        (args.ignore_container, IGNORE_CONTAINER_ENV),
    ):
        if flag:
            os.environ[name] = "1"
    attributes: dict[str, str] = {}
    if args.ignore_container:
        attributes[ATTRIBUTE] = ",".join(k.value for k in Kind)
        logging.getLogger("borealis.agent").warning(
            "--ignore-container: tasks that ask for a Docker or Mesos container run on this "
            "host without it (advertised as %s=%s)",
            ATTRIBUTE,
            attributes[ATTRIBUTE],
        )
    from borealis.agent.executors import Agent
    from borealis.agent.framework_api import make_app

    async def build(port: int) -> Service:
        endpoint = f"{listen.ip}:{port}"
        agent = Agent(
            work_dir,
            endpoint,
            reregistration_timeout=args.reregistration_timeout,
            attributes=attributes,
        )
        agent.recover()

        async def close() -> None:
            await agent.end_long_polls()  # answered, not cancelled (a 500) when the loop ends
            agent.store.close()

        return Service(
            make_app(agent, token=token, allowed_hosts=allowed),
            about=f"(agent id {agent.store.agent_id}, work dir {work_dir})",
            server={"max_body_size": 1 << 20},  # launches and updates are kilobytes
            loops=[agent.watch],
            close=close,
        )

    return serve("agent", listen, build)

"""Arguments and conversions shared by every command: one syntax for each kind of value.

Durations: a number with ms, s, m, h, d or w (none: seconds), such as
500ms, 90s, 10m. Sizes: a number with K, M, G or T (powers of 1024,
as in the config language; KB, KiB and B are read too). Addresses: --ip is an
IP address (127.0.0.1 unless given), --port 0 to 65535 (0: any free port).

Converters raise InputError naming the flag, so a bad value is reported like any other
bad input: one line, exit status 2.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from borealis.contract.errors import InputError
from borealis.contract.layout import CheckpointRoot, check_task_id, default_root

DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|[smhdw]?)$")
SIZE_RE = re.compile(r"^(\d+)\s*([KMGT]?)(i?B)?$", re.IGNORECASE)
DURATION_UNITS = {"": 1, "ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def command_parser(sub: Any, name: str, help_text: str, doc: str | None) -> argparse.ArgumentParser:
    """A sub-command's parser: its --help shows ``doc`` (its module's docstring) as written."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help_text,
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def add_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root",
        type=Path,
        help="checkpoint root; its agent/ holds the embedded agent's tasks (default: "
        "$BOREALIS_ROOT, else /var/lib/borealis as root, else ~/.local/state/borealis)",
    )


def root_of(args: argparse.Namespace) -> CheckpointRoot:
    return CheckpointRoot(Path(args.root) if args.root else default_root())


def root_holding(args: argparse.Namespace, task_id: str) -> CheckpointRoot:
    """The root (``--root``, or an embedded agent's run under it) that has the task."""
    return root_of(args).holding(task_id)


def task_id_type(flag: str) -> Callable[[str], str]:
    """An argparse ``type`` that refuses a bad task id as bad input (exit status 2)."""

    def convert(value: str) -> str:
        try:
            return check_task_id(value)
        except ValueError as e:
            raise InputError(flag, value, str(e)) from None

    return convert


def int_type(flag: str, minimum: int = 0) -> Callable[[str], int]:
    def convert(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = minimum - 1
        if number < minimum:
            raise InputError(flag, value, f"expected an integer >= {minimum}")
        return number

    return convert


def parse_ports(values: list[str] | None) -> dict[str, int]:
    ports: dict[str, int] = {}
    for value in values or []:
        name, sep, number = value.partition("=")
        if not sep:
            name, sep, number = value.partition(":")  # Thermos' --port=name:num
        if not sep or not name or not NAME_RE.match(name):
            raise InputError("--port", value, "expected NAME=NUMBER, e.g. --port http=8080")
        if not number.isdigit() or not 0 < int(number) < 65536:
            raise InputError("--port", value, "the port must be a number from 1 to 65535")
        ports[name] = int(number)
    return ports


def parse_bindings(values: list[str] | None) -> dict[str, str]:
    bindings: dict[str, str] = {}
    for value in values or []:
        key, sep, text = value.partition("=")
        if not sep or not key or any(c.isspace() for c in key) or "{" in key or "}" in key:
            raise InputError("--bind", value, "expected KEY=VALUE, e.g. --bind profile.version=3")
        bindings[key] = text
    return bindings


def parse_duration(value: str, flag: str) -> float:
    match = DURATION_RE.match(value.strip())
    if not match:
        raise InputError(flag, value, "expected a duration such as 500ms, 90s, 10m, 12h or 7d")
    return float(match.group(1)) * DURATION_UNITS[match.group(2)]


def duration_type(flag: str) -> Callable[[str], float]:
    """An argparse ``type`` for a duration flag (its default may be written as one too)."""
    return lambda value: parse_duration(value, flag)


def size_type(flag: str) -> Callable[[str], int]:
    return lambda value: parse_size(value, flag)


@dataclass(frozen=True)
class Listen:
    """Where a daemon listens (``--ip``, ``--port``)."""

    ip: str
    port: int

    def url(self, port: int | None = None) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"http://{host}:{self.port if port is None else port}/"


def add_listen(parser: argparse.ArgumentParser, port: int) -> None:
    parser.add_argument(
        "--ip",
        type=ip_type,
        default="127.0.0.1",
        help="the address to listen on (default 127.0.0.1: this host only)",
    )
    parser.add_argument(
        "--port",
        type=port_type,
        default=port,
        help=f"the port to listen on (default {port}; 0: any free port)",
    )


def add_allow_host(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a Host name this daemon answers to besides localhost, 127.0.0.1, ::1 and its "
        "--ip (repeatable; other Hosts get 421: no DNS rebinding)",
    )


def allowed_hosts_of(args: argparse.Namespace) -> frozenset[str]:
    from borealis.contract.requestcheck import allowed_hosts

    for name in args.allow_host:
        if not name.strip() or any(c.isspace() or c in "/@?#" for c in name):
            raise InputError("--allow-host", name, "expected a host name or address")
    return allowed_hosts(args.ip, args.allow_host)


def add_token_file(parser: argparse.ArgumentParser, flag: str, default: str, what: str) -> None:
    parser.add_argument(
        flag, type=Path, metavar="PATH", help=f"{what} (default {default}; made 0600 if missing)"
    )


def daemon_token(flag: str, path: Path) -> str:
    """The token in ``path``, created at a daemon's first start; bad input names ``flag``."""
    from borealis.contract.credentials import CredentialError, ensure_token

    try:
        return ensure_token(path.absolute())
    except CredentialError as e:
        raise InputError(flag, "", str(e)) from None


def listen_of(args: argparse.Namespace) -> Listen:
    return Listen(args.ip, args.port)


def ip_type(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise InputError("--ip", value, "not an IP address") from None
    return value


def port_type(value: str) -> int:
    if not value.isdigit() or int(value) > 65535:
        raise InputError("--port", value, "expected a port number from 0 to 65535")
    return int(value)


def parse_size(value: str, flag: str) -> int:
    """``64MB``, ``100MiB``, ``1G``, ``4096``: powers of 1024, as in the config language."""
    match = SIZE_RE.match(value.strip())
    if not match or int(match.group(1)) < 1:
        raise InputError(flag, value, "expected a size such as 4096, 512KB, 64MB or 1GB")
    power = " KMGT".index(match.group(2).upper() or " ")
    return int(match.group(1)) << (10 * power)


def setup_logging(quiet: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("borealis")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False

"""Where this host listens on a task's ports, so that a port link on the task page goes where
the service actually answers: ``127.0.0.1`` for a service bound to loopback (the examples
are), this host's name for one bound to every address, the address itself otherwise.

Read from ``/proc/net/tcp`` and ``/proc/net/tcp6`` (listening sockets only; world-readable, no
process lookup, so it costs one read of each file per page whatever the number of tasks).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

LISTEN = "0A"  # the kernel's TCP_LISTEN in /proc/net/tcp's "st" column
TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))


def _address(hex_address: str) -> str:
    """The kernel's hex of a local address (little-endian 32-bit words) as text."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(words)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def listening(ports: set[int], tables: tuple[Path, ...] = TABLES) -> dict[int, list[str]]:
    """For each of ``ports`` that something listens on, the local addresses it is bound to."""
    found: dict[int, list[str]] = {}
    if not ports:
        return found
    for table in tables:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[3] != LISTEN:
                continue
            hex_address, _, hex_port = fields[1].partition(":")
            port = int(hex_port, 16)
            if port in ports:
                found.setdefault(port, []).append(_address(hex_address))
    return found


def link_host(addresses: list[str], hostname: str) -> str:
    """The host a link to a port bound to ``addresses`` should name."""
    if not addresses:
        return hostname  # nothing listens (yet): the host's name, as before
    if any(a in ("0.0.0.0", "::") for a in addresses):
        return hostname
    loopback = [a for a in addresses if ipaddress.ip_address(a).is_loopback]
    if len(loopback) == len(addresses):
        return "127.0.0.1" if "127.0.0.1" in addresses else f"[{addresses[0]}]"
    chosen = next(a for a in addresses if a not in loopback)
    return f"[{chosen}]" if ":" in chosen else chosen

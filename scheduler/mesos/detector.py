"""Which Mesos master leads: the member of the masters' ZooKeeper group with the lowest
sequence number (``json.info_<10 digits>``, data = ``MasterInfo`` as JSON).

Children whose suffix after the last ``_`` is not a number (``log_replicas``) or that are not
``json.info_`` nodes are skipped. A lexicographic minimum is only right when every member has
the same prefix, so the sequence number is compared as a number.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("borealis.scheduler")
LABEL = "json.info_"


def leader_node(children: list[str]) -> str | None:
    best: tuple[int, str] | None = None
    for child in children:
        if not child.startswith(LABEL):
            continue
        suffix = child.rsplit("_", 1)[-1]
        if not suffix.isdigit():
            continue
        entry = (int(suffix), child)
        if best is None or entry < best:
            best = entry
    return best[1] if best else None


def master_address(data: bytes) -> str | None:
    """``host:port`` from a ``MasterInfo`` JSON (``address`` first, then the old fields)."""
    try:
        info = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(info, dict):
        return None
    address = info.get("address")
    if isinstance(address, dict) and isinstance(address.get("port"), int):
        host = address.get("ip") or address.get("hostname")
        if isinstance(host, str) and host:
            return f"{host}:{address['port']}"
    if isinstance(info.get("hostname"), str) and isinstance(info.get("port"), int):
        return f"{info['hostname']}:{info['port']}"
    return None


def parse_zk_url(url: str) -> tuple[str, str]:
    """``zk://h1:2181,h2:2181/mesos`` -> (``h1:2181,h2:2181``, ``/mesos``)."""
    if not url.startswith("zk://"):
        raise ValueError(f"{url!r}: expected zk://HOSTS/PATH")
    rest = url[len("zk://") :]
    hosts, slash, path = rest.partition("/")
    if not hosts or not slash:
        raise ValueError(f"{url!r}: expected zk://HOSTS/PATH")
    return hosts, "/" + path.rstrip("/")


class MasterDetector:
    """Follows the leading master; ``on_change(address or None)`` runs on kazoo's thread."""

    def __init__(self, url: str, on_change: Callable[[str | None], None]) -> None:
        from kazoo.client import KazooClient

        hosts, self.path = parse_zk_url(url)
        self.on_change = on_change
        self.leader: str | None = None
        self._lock = threading.Lock()
        self.zk: Any = KazooClient(hosts=hosts)

    def start(self, timeout: float = 15.0) -> None:
        self.zk.start(timeout=timeout)
        self.zk.ensure_path(self.path)
        self.zk.ChildrenWatch(self.path, self._children)

    def _children(self, children: list[str]) -> None:
        from kazoo.exceptions import NoNodeError

        node = leader_node(children)
        address = None
        if node is not None:
            try:
                data, _ = self.zk.get(f"{self.path}/{node}")
                address = master_address(data)
            except NoNodeError:
                address = None
        with self._lock:
            changed = address != self.leader
            self.leader = address
        if changed:
            log.info("leading master: %s", address or "none")
            self.on_change(address)

    def stop(self) -> None:
        self.zk.stop()
        self.zk.close()

"""Announcing a task in a ZooKeeper serverset (kazoo), and staying announced.

``join`` creates the ephemeral sequential ``member_`` node (the path is created first if
needed). The node is watched: deleted by someone -> created again; the ZooKeeper session
expired (the node went with it) -> created again once kazoo has a new session. ``leave``
deletes it and closes the session; the executor leaves before it stops the service, so
clients stop sending traffic before the service is asked to quit.

Optional digest authentication and ACLs come from a JSON file in Aurora's format::

    {"auth": [{"scheme": "digest", "credential": "user:password"}],
     "acl": [{"scheme": "digest", "credential": "user:password",
              "permissions": {"read": true, "write": true, "create": true,
                              "delete": true, "admin": true}}]}
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from borealis.contract.errors import InputError

log = logging.getLogger("borealis.announcer")


def read_auth(path: Path) -> tuple[list[tuple[str, str]], list[Any] | None]:
    from kazoo.security import make_acl, make_digest_acl

    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(str(path), "", f"cannot read the ZooKeeper auth config: {e}") from None
    auth = [(a["scheme"], a["credential"]) for a in value.get("auth", [])]
    acl = []
    for entry in value.get("acl", []):
        perms = entry.get("permissions", {})
        flags = {k: bool(perms.get(k)) for k in ("read", "write", "create", "delete", "admin")}
        if entry.get("scheme") == "digest":
            user, _, password = entry["credential"].partition(":")
            acl.append(make_digest_acl(user, password, **flags))
        else:
            acl.append(make_acl(entry["scheme"], entry["credential"], **flags))
    return auth, acl or None


class Announcer:
    def __init__(
        self,
        hosts: str,
        path: str,
        data: bytes,
        *,
        auth: list[tuple[str, str]] | None = None,
        acl: list[Any] | None = None,
        session_timeout: float = 10.0,
    ) -> None:
        from kazoo.client import KazooClient
        from kazoo.retry import KazooRetry

        self.path = path.rstrip("/") or "/"
        self.data = data
        self.acl = acl
        self.node: str | None = None
        self.joins = 0
        self._left = False
        self._lock = threading.Lock()
        self.zk = KazooClient(
            hosts=hosts,
            timeout=session_timeout,
            auth_data=auth or None,
            connection_retry=KazooRetry(max_tries=-1, max_delay=30),
            command_retry=KazooRetry(max_tries=3, max_delay=5),
        )
        self.zk.add_listener(self._state)

    def join(self, timeout: float) -> str:
        """Connect and create the member; raises on timeout (blocking: call from a thread)."""
        self.zk.start(timeout=timeout)
        return self._create()

    def _create(self) -> str:
        from kazoo.recipe.watchers import DataWatch

        with self._lock:
            if self._left:
                return ""
            self.zk.ensure_path(self.path, acl=self.acl)
            node: str = self.zk.create(
                f"{self.path}/member_", self.data, acl=self.acl, ephemeral=True, sequence=True
            )
            self.node = node
            self.joins += 1
        log.info("joined %s as %s", self.path, node)

        def watch(data: bytes | None, stat: Any, event: Any = None) -> bool:
            if data is None and self.node == node and not self._left:
                log.warning("%s was deleted; joining again", node)
                self.zk.handler.spawn(self._rejoin)
                return False
            return self.node == node

        DataWatch(self.zk, node, watch)
        return node

    def _rejoin(self) -> None:
        try:
            self._create()
        except Exception as e:  # the state listener tries again on the next connection
            log.warning("could not join %s again: %s", self.path, e)

    def _state(self, state: Any) -> None:
        from kazoo.protocol.states import KazooState

        if state == KazooState.LOST:
            log.warning("ZooKeeper session lost; the member will be created again")
            self.node = None
        elif state == KazooState.CONNECTED and self.node is None and self.joins and not self._left:
            self.zk.handler.spawn(self._rejoin)

    def leave(self) -> None:
        with self._lock:
            self._left = True
            node, self.node = self.node, None
        try:
            if node is not None and self.zk.connected:
                self.zk.delete(node)
                log.info("left %s", self.path)
        except Exception as e:
            log.warning("could not delete %s: %s (it goes with the session)", node, e)
        finally:
            self.zk.stop()
            self.zk.close()

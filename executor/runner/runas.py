"""The Unix user a task's processes run as: uid, gid and supplementary groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict


class Switch(TypedDict, total=False):
    """Keyword arguments of ``subprocess.Popen`` and ``asyncio.create_subprocess_exec``."""

    user: int
    group: int
    extra_groups: list[int]


@dataclass(frozen=True)
class RunAs:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]

    def switch(self) -> Switch:
        """The ``subprocess``/``asyncio`` arguments that start a child as this user: uid, gid
        and supplementary groups (the one definition for processes, health checks and the
        agent's fetcher)."""
        return Switch(user=self.uid, group=self.gid, extra_groups=list(self.groups))

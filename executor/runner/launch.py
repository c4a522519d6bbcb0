"""A launch: everything the shim needs to start one run, as plain values.

Built by the runner (``coordinators.py``), sent to the shim over its socket (``to_wire``:
``marshal``, both ends being the same interpreter), read by the run's coordinator. Plain
values and no dataclass: the shim is kept small (docs/runner.md, "The process model and its
footprint").
"""

from __future__ import annotations

import marshal


class Launch:
    """Everything a coordinator needs, as plain values; built by the runner, sent to the shim
    over a socket (``to_wire``: ``marshal``, both ends being the same interpreter)."""

    FIELDS = (
        "task_id", "process", "run", "cmdline", "sandbox", "log_dir", "stream", "doorbell",
        "env", "destination", "mode", "log_size", "backups", "run_as", "cgroups", "log_problem",
    )  # fmt: skip
    __slots__ = FIELDS

    def __init__(
        self,
        task_id: str,
        process: str,
        run: int,
        cmdline: str,
        sandbox: str,
        log_dir: str,  # <sandbox>/.logs/<process>/<run>
        stream: str,
        doorbell: str,
        env: dict[str, str],
        destination: str,  # the effective logger: the process's own, or the runner's default
        mode: str,
        log_size: int,
        backups: int,
        run_as: tuple[int, int, tuple[int, ...]] | None,  # uid, gid, groups; None: the shim's
        cgroups: tuple[tuple[str, str], ...] = (),  # (task group, home group): born in them
        log_problem: str = "",  # why the runner could not open the log directory, if it could not
    ) -> None:
        self.task_id = task_id
        self.process = process
        self.run = run
        self.cmdline = cmdline
        self.sandbox = sandbox
        self.log_dir = log_dir
        self.stream = stream
        self.doorbell = doorbell
        self.env = env
        self.destination = destination
        self.mode = mode
        self.log_size = log_size
        self.backups = backups
        self.run_as = run_as
        self.cgroups = cgroups
        self.log_problem = log_problem

    @property
    def owner(self) -> tuple[int, int] | None:
        """(uid, gid) the run's log directories and files are given to; None: the shim's."""
        return (self.run_as[0], self.run_as[1]) if self.run_as is not None else None

    def to_wire(self) -> bytes:
        return marshal.dumps(tuple(getattr(self, name) for name in self.FIELDS))  # __init__'s order

    @classmethod
    def from_wire(cls, data: bytes) -> Launch:
        values = marshal.loads(data)
        if type(values) is not tuple or len(values) != len(cls.FIELDS):
            raise ValueError("a launch of the wrong shape")
        return cls(*values)

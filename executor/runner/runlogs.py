"""A run's log files: made and opened by the runner, turned into outputs by the shim.

The runner makes the run's log directory and opens its two files (``open_logs``), then hands
the descriptors to the shim with the launch: creating a directory and two files is most of
a start's work, and the runner has a CPU to spare while the shim starts processes. The shim
turns them into the child's stdout and stderr (``outputs``): the files themselves, or pipes
that it moves into them (``logpump.py``, ``logrotate.py``). Every name in the sandbox is
walked without following a link the task planted (``contract/confined.py``).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

from borealis.contract import confined
from borealis.contract.logfiles import LOG_FILE, LOG_STREAMS, SANDBOX_DIR

from .launch import Launch
from .logpump import Output, make_pipe
from .logrotate import RotatingFile, open_live


class CannotStart(Exception):
    """The runner found that this run cannot start (its log directory); the reason is ready."""


def outputs(
    launch: Launch, logs: list[int], report: Callable[[str], None]
) -> tuple[tuple[int | None, int | None], list[Output]]:
    """The child's stdout and stderr, and the outputs the shim must pump.

    ``file`` + ``standard``: the process appends to its own files (no copy).
    ``console``: it inherits ours. ``none``: /dev/null. Rotation and ``both``
    go through pipes to the shim (``logpump.py``). ``logs``: the run's log
    directory and its two files, which the runner opened (``open_logs``); taken over
    (closed here or by the outputs).
    """
    if not os.path.isdir(launch.sandbox):
        # Never re-create a sandbox behind the task's back.
        raise FileNotFoundError(errno.ENOENT, "the sandbox is missing", launch.sandbox)
    if launch.destination == "console":
        return (None, None), []
    if launch.destination == "none":
        devnull = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        return (devnull, devnull), []
    if launch.log_problem or len(logs) != 3:
        raise CannotStart(launch.log_problem or "its log files were not handed over")
    directory, stdout, stderr = logs
    logs.clear()  # taken over from here
    owner = launch.owner
    try:
        if launch.destination == "file" and launch.mode == "standard":
            return (stdout, stderr), []
        child_ends: list[int] = []
        outputs: list[Output] = []
        try:
            for name, file, console in zip(LOG_STREAMS, (stdout, stderr), (1, 2), strict=True):
                rotating = plain = None
                if launch.mode == "rotate":
                    path = os.path.join(launch.log_dir, name)
                    rotating = RotatingFile(
                        path, launch.log_size, launch.backups, owner=owner, dir_fd=directory,
                        fd=file,
                    )  # fmt: skip
                else:
                    plain = file
                read_end, write_end = make_pipe()
                child_ends.append(write_end)
                outputs.append(
                    Output(
                        name,
                        read_end,
                        report,
                        rotating=rotating,
                        plain=plain,
                        console=console if launch.destination == "both" else None,
                    )
                )
        except BaseException:
            for fd in child_ends:
                os.close(fd)
            for output in outputs:
                output.close()
            raise
        return (child_ends[0], child_ends[1]), outputs
    finally:
        os.close(directory)


def needs_logs(launch: Launch) -> bool:
    return launch.destination not in ("console", "none")


def open_logs(launch: Launch) -> list[int]:
    """The run's log directory and its two files, ``[directory, stdout, stderr]``.

    Called by the runner, which hands them to the shim with the launch (creating a directory
    and two files is most of a start's work, and the runner has a CPU to spare). The
    directory is made and walked from the sandbox without following a link the task planted
    (``contract/confined.py``), each directory on the way given to the task's user; the files
    are opened in it without following a link, as rotation (``logrotate.open_live``) or an
    appending writer needs them.
    """
    owner = launch.owner
    try:
        top = confined.open_top(launch.sandbox)  # the path root chose: trusted
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(errno.ENOENT, "the sandbox is missing", launch.sandbox) from None
    try:
        parts = confined.names(os.path.relpath(launch.log_dir, launch.sandbox))
        directory = confined.open_dir(top, parts, create=SANDBOX_DIR, owner=owner)
    except confined.Refused as e:
        raise confined.Refused(e.refusal, launch.log_dir) from None
    finally:
        os.close(top)
    opened = [directory]
    try:
        for name in LOG_STREAMS:
            try:
                if launch.mode == "rotate":
                    opened.append(open_live(directory, name, owner))
                else:
                    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
                    opened.append(
                        confined.open_leaf(directory, name, flags, LOG_FILE, owner=owner)[0]
                    )
            except confined.Refused as e:
                raise confined.Refused(e.refusal, os.path.join(launch.log_dir, name)) from None
    except BaseException:
        for fd in opened:
            os.close(fd)
        raise
    return opened

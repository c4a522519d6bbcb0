"""Starting a run's command: ``bash -c cmdline``, or the program itself when bash is not needed."""

from __future__ import annotations

import os
import signal

from .commandline import direct_argv, direct_environment
from .launch import Launch

BASH = "/bin/bash"

# Signals that must be back to their default in the command: the interpreter ignores SIGPIPE
# and SIGXFSZ, and the shim ignores the stop signals.
DEFAULT_SIGNALS = (
    signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
    signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD,
)  # fmt: skip


def start(launch: Launch, stdout: int | None, stderr: int | None) -> int:
    """Start the command in its own session, in the sandbox; return its pid.

    ``/bin/bash -c cmdline`` (Thermos' rule), or the program itself when the command line
    has no shell syntax and bash would only have exec'd it (``commandline.py``), for a
    task that runs as the shim's own user.
    """
    run_as = launch.run_as
    # Only as the shim's own user: the checks that decide are made with its permissions.
    direct = direct_argv(launch.cmdline, launch.env, launch.sandbox) if run_as is None else None
    if direct is None:
        path, argv, env = BASH, [BASH, "-c", launch.cmdline], launch.env
    else:
        path, argv = direct
        env = direct_environment(launch.env, launch.sandbox, path)
    if run_as is not None:  # posix_spawn cannot switch users
        import subprocess  # only where tasks run as another user: it is a large module

        child = subprocess.Popen(
            argv,
            executable=path,
            cwd=launch.sandbox,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            close_fds=True,
            user=run_as[0],
            group=run_as[1],
            extra_groups=list(run_as[2]),
        )
        child.returncode = 0  # we reap it ourselves; keep Popen from ever doing so
        return child.pid
    # posix_spawn: vfork + exec in C, the cheapest start there is.
    os.chdir(launch.sandbox)  # the command's cwd; posix_spawn has no parameter for it
    try:
        actions: list[tuple[int, ...] | tuple[int, int, str, int, int]] = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)
        ]
        if stdout is not None and stderr is not None:
            actions += [(os.POSIX_SPAWN_DUP2, stdout, 1), (os.POSIX_SPAWN_DUP2, stderr, 2)]
        return os.posix_spawn(
            path,
            argv,
            env,
            file_actions=actions,
            setsid=True,
            setsigdef=DEFAULT_SIGNALS,
            setsigmask=(),
        )
    finally:
        os.chdir("/")  # hold no sandbox open


def start_problem(error: Exception) -> str:
    """One line saying why a command could not start."""
    if isinstance(error, OSError):
        text = error.strerror or str(error)
        return text + (f": {error.filename}" if error.filename else "")
    return str(error) or type(error).__name__

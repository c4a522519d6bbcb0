"""The environment every process starts with (documented in docs/runner.md).

As in Thermos, a process does not inherit the runner's environment: it gets a
small, predictable one, so a task behaves the same whoever started it. With
``preserve_env`` the runner's environment is the base instead, and the
variables below still override it.

=====================  =======================================================
``HOME``               the sandbox (also the working directory)
``USER``, ``LOGNAME``  the user the process runs as
``PATH``               the runner's ``PATH``, or a standard one if it has none
``LANG``, ``LC_ALL``,  copied from the runner when set there, so tools keep
``TZ``                 the host's locale and time zone
``BOREALIS_TASK_ID``   the task id (also marks the task's processes, see
                       ``proctree.py``)
``BOREALIS_SANDBOX``   the sandbox path
``BOREALIS_PROCESS``   the process name
``BOREALIS_RUN``       the run number, from 0
``BASH_ENV``           ``<sandbox>/.thermos_profile`` if that file exists, so
                       ``bash -c`` sources it first (Thermos' convention)
=====================  =======================================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .proctree import PROCESS_MARKER, RUN_MARKER, SANDBOX_MARKER, TASK_MARKER

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PASSED_THROUGH = ("LANG", "LC_ALL", "TZ")
PROFILE_NAME = ".thermos_profile"


def task_environment(
    *,
    task_id: str,
    sandbox: str,
    user: str,
    runner_env: Mapping[str, str] | None = None,
    preserve_env: bool = False,
) -> dict[str, str]:
    """What every process of the task gets (computed once per runner)."""
    source = dict(os.environ if runner_env is None else runner_env)
    env: dict[str, str] = dict(source) if preserve_env else {}
    for name in PASSED_THROUGH:
        if name in source:
            env[name] = source[name]
    env.update(
        {
            "HOME": sandbox,
            "USER": user,
            "LOGNAME": user,
            "PATH": source.get("PATH") or DEFAULT_PATH,
            TASK_MARKER: task_id,
            SANDBOX_MARKER: sandbox,
        }
    )
    return env


def process_environment(task_env: Mapping[str, str], process: str, run: int) -> dict[str, str]:
    """One run's environment: the task's plus its process name, run and profile."""
    env = dict(task_env)
    env[PROCESS_MARKER] = process
    env[RUN_MARKER] = str(run)
    profile = os.path.join(env[SANDBOX_MARKER], PROFILE_NAME)
    if os.path.isfile(profile):
        env["BASH_ENV"] = profile
    return env

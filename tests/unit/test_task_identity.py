"""The rule that picks a Mesos task's user (executor/mesos/identity.py), case by case, with the
host's real users (root, www-data, nobody)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from borealis.contract.errors import InputError
from borealis.executor.mesos.identity import (
    Settings,
    asked_user,
    check_reachable,
    enabled,
    task_user,
)
from borealis.executor.runner.prepare import lookup_user

DEFAULT = Settings()
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")


@root_only
def test_the_role_is_the_user() -> None:
    chosen = task_user("www-data", None, DEFAULT, "TaskInfo.data")
    assert chosen.name == "www-data"
    assert chosen.run_as is not None and (chosen.run_as.uid, chosen.run_as.gid) == (33, 33)
    assert task_user("www-data", "www-data", DEFAULT, "x").name == "www-data"


def test_a_task_user_other_than_the_role_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        task_user("www-data", "nobody", DEFAULT, "TaskInfo.data")
    assert str(caught.value) == (
        "TaskInfo.data: task: user: 'nobody' is not the job's role 'www-data': "
        "a task runs as its role's user"
    )


def test_a_role_that_is_no_user_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        task_user("no-such-role-here", None, DEFAULT, "TaskInfo.data")
    assert caught.value.field == "role"
    assert "'no-such-role-here' is not a Unix user on this host" in str(caught.value)


@root_only
def test_root_needs_the_operator_setting() -> None:
    with pytest.raises(InputError) as caught:
        task_user("root", None, DEFAULT, "TaskInfo.data")
    assert "BOREALIS_ALLOW_ROOT_TASKS=1" in str(caught.value)
    allowed = task_user("root", None, Settings(allow_root=True), "TaskInfo.data")
    assert (allowed.name, allowed.run_as) == ("root", None)  # the executor's own user


@root_only
def test_single_user_mode_ignores_the_role() -> None:
    mode = Settings(no_setuid=True)
    assert task_user("www-data", None, mode, "x") == task_user("ops", None, mode, "x")
    assert task_user("no-such-role-here", None, mode, "x").run_as is None
    named = task_user("www-data", "nobody", mode, "x")
    assert named.run_as is not None and named.run_as.uid == 65534


def test_settings_read_the_environment() -> None:
    assert Settings.from_environ({}) == Settings(False, False)
    env = {"BOREALIS_NO_SETUID": "yes", "BOREALIS_ALLOW_ROOT_TASKS": "0"}
    assert Settings.from_environ(env) == Settings(no_setuid=True, allow_root=False)
    assert not enabled("X", {"X": ""}) and enabled("X", {"X": " TRUE "})


def test_the_task_json_user_is_taken_as_is() -> None:
    assert asked_user({"user": "www-data"}) == "www-data"
    assert asked_user({"user": ""}) is None
    assert asked_user({"name": "t"}) is None
    assert asked_user("not a task") is None


@root_only
def test_a_sandbox_below_a_closed_directory_is_unreachable(tmp_path: Path) -> None:
    nobody = lookup_user("nobody")
    assert nobody is not None
    closed = tmp_path / "closed"
    (closed / "run").mkdir(parents=True)
    closed.chmod(0o700)
    tmp_path.chmod(0o755)
    with pytest.raises(PermissionError, match=r"'nobody' cannot reach the sandbox: .*0700"):
        check_reachable(closed / "run" / "sandbox", nobody)
    check_reachable(closed / "run" / "sandbox", None)  # the executor's own user: no check

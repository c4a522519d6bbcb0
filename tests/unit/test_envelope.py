"""The launch envelope (contract/envelope.py): Aurora defaults, errors naming the
field, and binding the runtime templates."""

from __future__ import annotations

from typing import Any

import pytest

from borealis.contract.envelope import (
    HttpChecker,
    HttpLifecycle,
    ShellChecker,
    bind_task,
    envelope_from_json,
)
from borealis.contract.errors import InputError
from borealis.contract.templates import referenced_ports

JOB = {"role": "www-data", "environment": "prod", "name": "web"}
TASK = {"name": "web", "processes": [{"name": "p", "cmdline": "serve {{thermos.ports[http]}}"}]}


def test_defaults_are_aurora_s() -> None:
    env = envelope_from_json({"job": JOB, "task": TASK, "health_check": {}})
    assert env.instance == 0 and env.ports == {} and env.announce is None
    assert env.lifecycle == HttpLifecycle()
    assert env.lifecycle.graceful_shutdown_endpoint == "/quitquitquit"
    hc = env.health_check
    assert hc is not None and hc.checker == HttpChecker("/health", "ok", 0)
    assert (hc.initial_interval_secs, hc.interval_secs, hc.timeout_secs) == (15.0, 10.0, 1.0)
    assert (hc.max_consecutive_failures, hc.min_consecutive_successes) == (0, 1)
    with_announce = envelope_from_json({"job": JOB, "task": TASK, "announce": {}})
    assert with_announce.announce is not None
    assert with_announce.announce.primary_port == "http"
    assert with_announce.announce.portmap == {"aurora": "http"}
    assert (
        envelope_from_json({"job": JOB, "task": TASK, "lifecycle": {"http": None}}).lifecycle
        is None
    )


def test_round_trip() -> None:
    value = {
        "job": JOB,
        "task": TASK,
        "instance": 2,
        "ports": {"http": 31000, "health": 31001},
        "health_check": {
            "health_checker": {"shell": {"shell_command": "true"}},
            "interval_secs": 2,
        },
        "announce": {"primary_port": "http"},
    }
    env = envelope_from_json(value)
    assert isinstance(env.health_check.checker, ShellChecker)  # type: ignore[union-attr]
    assert envelope_from_json(env.to_json()) == env


@pytest.mark.parametrize(
    "change, words",
    [
        ({"job": {**JOB, "role": "bad role"}}, "job.role: 'bad role' is not a valid identifier"),
        ({"job": {"role": "r"}}, "job.environment: required field is missing"),
        ({"task": {"processes": [{"name": "p"}]}}, "task: processes[0].cmdline: required field"),
        ({"ports": {"http": 70000}}, "ports.http: port 70000 is above 65535"),
        ({"ports": {"http": "x"}}, "ports.http: expected an integer"),
        ({"instance": -1}, "instance: expected an integer >= 0"),
        ({"health_check": {"interval_secs": 0}}, "health_check.interval_secs: must be greater"),
        (
            {"health_check": {"health_checker": {"http": {}, "shell": {"shell_command": "x"}}}},
            "exactly one",
        ),
        (
            {"health_check": {"health_checker": {"http": {"endpoint": "health"}}}},
            "must start with '/'",
        ),
        ({"health_check": {"min_consecutive_successes": 0}}, "expected an integer >= 1"),
        ({"format": 2}, "format: unsupported format 2"),
        ({"extra": 1}, "extra: unknown field"),
    ],
)
def test_bad_envelopes_name_the_field(change: dict[str, Any], words: str) -> None:
    with pytest.raises(InputError) as caught:
        envelope_from_json({"job": JOB, "task": TASK, **change})
    assert words in str(caught.value)


def test_binding_fills_the_runtime_templates_only() -> None:
    task = {
        "name": "web",
        "processes": [
            {
                "name": "p",
                "cmdline": "serve --port {{thermos.ports[http]}} --shard {{mesos.instance}} "
                "--host {{ mesos.hostname }} --id {{thermos.task_id}} --user {{thermos.user}}",
            }
        ],
    }
    env = envelope_from_json({"job": JOB, "task": task, "instance": 4, "ports": {"http": 31000}})
    assert referenced_ports(task) == {"http"}
    spec = bind_task(env, task_id="t-9", hostname="h1", user="www-data")
    assert spec.processes[0].cmdline == (
        "serve --port 31000 --shard 4 --host h1 --id t-9 --user www-data"
    )
    other = {"name": "w", "processes": [{"name": "p", "cmdline": "echo {{secret}}"}]}
    with pytest.raises(
        InputError, match=r"processes\[0\]\.cmdline: unbound template \{\{secret\}\}"
    ):
        bind_task(
            envelope_from_json({"job": JOB, "task": other}), task_id="t", hostname="h", user="u"
        )

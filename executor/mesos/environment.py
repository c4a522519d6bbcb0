"""The environment a Mesos agent gives an executor (``MESOS_*``), read and checked."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from borealis.contract.errors import InputError

DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|secs|mins|hrs|days|weeks)\s*$")
UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "ms": 1e-3,
    "secs": 1.0,
    "mins": 60.0,
    "hrs": 3600.0,
    "days": 86400.0,
    "weeks": 604800.0,
}


def parse_duration(text: str, name: str) -> float:
    """Seconds in a stout duration such as ``2secs``, ``15mins`` or ``1.5hrs``."""
    match = DURATION_RE.match(text)
    if not match:
        raise InputError(name, text, "expected a duration such as 5secs or 15mins")
    return float(match.group(1)) * UNITS[match.group(2)]


@dataclass(frozen=True)
class MesosEnvironment:
    agent_endpoint: str  # host:port
    framework_id: str
    executor_id: str
    directory: Path
    sandbox: Path
    checkpoint: bool
    recovery_timeout: float
    subscription_backoff_max: float
    shutdown_grace_period: float
    auth_token: str | None = None

    @property
    def url(self) -> str:
        return f"http://{self.agent_endpoint}/api/v1/executor"


def from_environ(env: Mapping[str, str] | None = None) -> MesosEnvironment:
    env = os.environ if env is None else env

    def need(name: str) -> str:
        value = env.get(name)
        if not value:
            raise InputError(name, "", "not set: borealis executor is started by a Mesos agent")
        return value

    checkpoint = env.get("MESOS_CHECKPOINT", "0")
    if checkpoint not in ("0", "1"):
        raise InputError("MESOS_CHECKPOINT", checkpoint, "expected 1 or 0")
    endpoint = need("MESOS_AGENT_ENDPOINT")
    if ":" not in endpoint or endpoint.startswith("http"):
        raise InputError("MESOS_AGENT_ENDPOINT", endpoint, "expected ip:port")
    directory = Path(need("MESOS_DIRECTORY"))
    return MesosEnvironment(
        agent_endpoint=endpoint,
        framework_id=need("MESOS_FRAMEWORK_ID"),
        executor_id=need("MESOS_EXECUTOR_ID"),
        directory=directory,
        sandbox=Path(env.get("MESOS_SANDBOX") or directory),
        checkpoint=checkpoint == "1",
        recovery_timeout=parse_duration(
            env.get("MESOS_RECOVERY_TIMEOUT", "15mins"), "MESOS_RECOVERY_TIMEOUT"
        ),
        subscription_backoff_max=parse_duration(
            env.get("MESOS_SUBSCRIPTION_BACKOFF_MAX", "2secs"), "MESOS_SUBSCRIPTION_BACKOFF_MAX"
        ),
        shutdown_grace_period=parse_duration(
            env.get("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5secs"),
            "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
        ),
        auth_token=env.get("MESOS_EXECUTOR_AUTHENTICATION_TOKEN") or None,
    )

"""What the job commands share: a job evaluated from an ``.aurora`` file, and a scheduler's
refusal as one line and an exit status."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from borealis.contract.errors import InputError
from borealis.contract.jobkey import JobKey
from borealis.contract.jobspec import JobSpec

from .options import parse_bindings


def fail(status: int, reply: Any) -> int:
    error = reply.get("error") if isinstance(reply, dict) else None
    print(f"borealis: {error or f'the scheduler answered {status}'}", file=sys.stderr)
    if status == 401:
        print(
            "borealis: set $BOREALIS_TOKEN, or auth_token_file in clusters.json, to the "
            "scheduler's token",
            file=sys.stderr,
        )
    return 2 if status in (400, 404, 409) else 1


def load_job(config_file: str, key: JobKey, bind: list[str] | None) -> JobSpec:
    """The job ``key`` of an ``.aurora`` file, evaluated here."""
    from borealis.executor.config import convert, loader
    from borealis.executor.config.jobdoc import job_document

    config = loader.load(config_file)
    warnings: list[str] = []
    spec = job_document(config, str(key), convert.Bindings(user=parse_bindings(bind)), warnings)
    for warning in warnings:
        print(f"borealis: warning: {config_file}: {warning}", file=sys.stderr)
    if spec.key != key:
        raise InputError(config_file, "jobs", f"the job in the config is {spec.key}, not {key}")
    return spec


def n_instances(count: int) -> str:
    """``1 instance``, ``3 instances``."""
    return f"{count} instance" if count == 1 else f"{count} instances"


def key_and_config(parser: argparse.ArgumentParser) -> None:
    """The arguments of every verb that reads a job from a config: KEY CONFIG [--bind ...]."""
    parser.add_argument("key", metavar="CLUSTER/ROLE/ENV/NAME")
    parser.add_argument("config", help="the .aurora file defining the job")
    parser.add_argument("--bind", action="append", metavar="KEY=VALUE")

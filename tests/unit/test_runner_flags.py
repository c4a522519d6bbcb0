"""borealis run hands its runner flags over to the borealis runner it becomes (cli/run.py)."""

from __future__ import annotations

import argparse

from borealis.cli import run, runner_cmd
from borealis.cli.runner_flags import runner_argv, runner_options

EVERY_FLAG = [
    *("--kill-grace", "3s", "--max-runs", "7", "--max-pids", "99", "--no-memory-limit"),
    *("--preserve-env", "--log-destination", "both", "--log-mode", "standard"),
    *("--log-size", "5MB", "--log-backups", "2", "--sample-interval", "0"),
    *("--no-disk-usage", "--disk-reconcile", "1m", "--disk-scan", "5s", "--no-enforce-disk"),
    *("--enforce-ram", "--sample-pss"),
]


def parse(module: object, argv: list[str]) -> argparse.Namespace:
    top = argparse.ArgumentParser()
    sub = top.add_subparsers()
    module.add_parser(sub, "cmd", "")  # type: ignore[attr-defined]
    return top.parse_args(["cmd", *argv])


def test_every_runner_flag_reaches_the_runner_unchanged() -> None:
    given = parse(run, ["task.aurora", *EVERY_FLAG])
    passed = runner_argv(given)
    taken = parse(runner_cmd, ["t", *passed])
    assert runner_options(taken) == runner_options(given)
    assert runner_options(taken) != runner_options(parse(runner_cmd, ["t"]))


def test_defaults_are_not_repeated() -> None:
    assert runner_argv(parse(run, ["task.aurora"])) == []

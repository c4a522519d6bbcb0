"""What the command line shows people: plain help, and quiet ends on a closed pipe."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from support import REPO, borealis

from borealis.cli.main import CLOSED_PIPE, COMMANDS

VERBS = {"job": ["create", "status", "kill", "restart", "list"], "task": ["list"]}


def helps() -> list[list[str]]:
    out = [[]]
    for command in COMMANDS:
        out.append([command])
        out += [[command, verb] for verb in VERBS.get(command, [])]
    return out


@pytest.mark.parametrize("words", helps(), ids=lambda w: " ".join(w) or "borealis")
def test_help_is_plain_text_that_points_at_no_source_file(words: list[str]) -> None:
    result = borealis(*words, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: borealis" in result.stdout
    assert "``" not in result.stdout  # no reST markup
    assert ".py" not in result.stdout  # no source file to read


@pytest.mark.parametrize(
    "words", [["status"], ["status", "--json"], ["inspect", "sandbox_examples/hello_world.aurora"]]
)
def test_a_closed_pipe_ends_a_command_quietly(words: list[str]) -> None:
    """As `borealis status | head -0`: the reader is gone before the command writes."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader went away
    try:
        result = subprocess.run(
            [sys.executable, "-m", "borealis.cli.main", *words],
            cwd=REPO, stdout=write_end, stderr=subprocess.PIPE, timeout=30,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert result.returncode == CLOSED_PIPE
    for words_of_a_crash in (b"Traceback", b"BrokenPipe", b"Exception ignored", b"error"):
        assert words_of_a_crash not in result.stderr

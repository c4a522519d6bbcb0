"""One syntax for durations, sizes and addresses across every command (``cli/options.py``)."""

from __future__ import annotations

import pytest
from support import borealis

from borealis.cli.options import Listen, parse_duration, parse_size, port_type
from borealis.contract.errors import InputError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("500ms", 0.5), ("1.5m", 90), ("2h", 7200), ("1d", 86400),
     ("1w", 604800), (" 10m ", 600)],
)  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text, "--x") == seconds


@pytest.mark.parametrize("text", ["", "m", "10 minutes", "-1s", "1y", "1e3"])
def test_bad_durations_name_the_flag(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_duration(text, "--x")
    assert info.value.source == "--x" and info.value.problem.startswith("expected a duration")


@pytest.mark.parametrize(
    ("text", "size"),
    [("4096", 4096), ("4K", 4096), ("64MB", 64 << 20), ("100MiB", 100 << 20), ("1g", 1 << 30),
     ("2T", 2 << 40), ("512B", 512)],
)  # fmt: skip
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text, "--x") == size


def test_ports_and_urls() -> None:
    assert port_type("0") == 0 and port_type("65535") == 65535
    for bad in ("65536", "-1", "http", ""):
        with pytest.raises(InputError):
            port_type(bad)
    assert Listen("127.0.0.1", 0).url(8080) == "http://127.0.0.1:8080/"
    assert Listen("::1", 1338).url() == "http://[::1]:1338/"


@pytest.mark.parametrize(
    "command",
    [
        ["observer", "--refresh-interval", "5x"],
        ["agent", "--reregistration-timeout", "5x"],
        ["scheduler", "--penalty", "5x"],
        ["run", "x.aurora", "--kill-grace", "5x"],
    ],
)
def test_every_daemon_reads_durations_alike(command: list[str]) -> None:
    result = borealis(*command)
    assert result.returncode == 2
    flag = command[-2]
    assert result.stderr == (
        f"borealis: {flag}: 5x: expected a duration such as 500ms, 90s, 10m, 12h or 7d\n"
    )


@pytest.mark.parametrize("command", ["observer", "agent", "scheduler"])
def test_every_daemon_checks_its_address_alike(command: str) -> None:
    result = borealis(command, "--ip", "localhost")
    assert (result.returncode, result.stderr) == (
        2,
        "borealis: --ip: localhost: not an IP address\n",
    )

"""Task links (``scheduler/tasklinks.py``): Aurora's substitutions and default links."""

from __future__ import annotations

import pytest

from borealis.scheduler.tasklinks import links

RUN = {"instance": 3, "task_id": "r-e-j-3-ab", "host": "h1", "ports": {"http": 31000}}


@pytest.mark.parametrize(
    ("task_links", "job_ports", "expected"),
    [
        # the job's own links, every substitution
        (
            {"x": "http://%host%:%port:http%/t/%task_id%?i=%shard_id%"},
            ("http",),
            [("x", "http://h1:31000/t/r-e-j-3-ab?i=3")],
        ),
        # none given: Aurora's defaults for the http and health ports the task has
        ({}, ("http",), [("http", "http://h1:31000")]),
        ({}, ("admin",), []),
        # a port the run does not have: the link would lead nowhere, so it is left out
        (
            {"a": "http://%host%:%port:admin%/", "b": "https://docs/%shard_id%"},
            (),
            [("b", "https://docs/3")],
        ),
    ],
)
def test_links(
    task_links: dict[str, str], job_ports: tuple[str, ...], expected: list[tuple[str, str]]
) -> None:
    assert links(task_links, job_ports, **RUN) == expected  # type: ignore[arg-type]


def test_a_run_without_a_host_keeps_no_host_link() -> None:
    assert links({}, ("http",), instance=0, task_id="t", host=None, ports={}) == []

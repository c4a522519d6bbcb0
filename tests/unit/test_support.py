"""The test helpers' own rules: what a test's clean-up may kill."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import names_path_under, wait_for

UNDER = Path("/tmp/pytest-of-root/pytest-3/test_kill1")


@pytest.mark.parametrize(
    ("data", "ours"),
    [
        (b"python\0borealis\0runner\0--root\0/tmp/pytest-of-root/pytest-3/test_kill1/r\0", True),
        (b"BOREALIS_SANDBOX=/tmp/pytest-of-root/pytest-3/test_kill1/root/sandboxes/t", True),
        (b"bash\0-c\0cd /tmp/pytest-of-root/pytest-3/test_kill1 && sleep 9\0", True),
        (b"runner\0--root\0/tmp/pytest-of-root/pytest-3/test_kill10/root\0", False),
        (b"BOREALIS_SANDBOX=/tmp/pytest-of-root/pytest-3/test_kill10/root/sandboxes/t", False),
        (b"cat\0/tmp/pytest-of-root/pytest-3/test_kill1x\0", False),
        (b"cat\0/elsewhere/tmp/pytest-of-root/pytest-3/test_kill1\0", False),
    ],
)  # fmt: skip
def test_a_path_is_matched_component_by_component(data: bytes, ours: bool) -> None:
    assert names_path_under(data, UNDER) is ours


def test_a_timed_out_wait_says_what_there_was_instead() -> None:
    with pytest.raises(AssertionError) as info:
        wait_for(lambda: False, 0.05, "all KILLED", seen=lambda: ["KILLED", "RUNNING"])
    assert str(info.value) == (
        "timed out after 0.05s waiting for all KILLED (instead: ['KILLED', 'RUNNING'])"
    )

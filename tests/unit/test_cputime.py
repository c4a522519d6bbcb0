"""CPU time of a process tree between two samples (executor/runner/cputime.py)."""

from __future__ import annotations

from borealis.contract.records import Identity
from borealis.executor.runner.cputime import Times, used

ROOT = Identity(100, 1)
CHILD = Identity(101, 2)
GRANDCHILD = Identity(102, 3)
STRANGER_REUSED = Identity(101, 99)  # pid 101 again, another process


def t(user: float, system: float = 0.0, cu: float = 0.0, cs: float = 0.0, *, ppid: int = 1,
      started: float = 0.0) -> Times:  # fmt: skip
    return Times(user, system, cu, cs, ppid, started)


def test_growth_of_members_present_in_both_samples() -> None:
    before = {ROOT: t(1.0, 0.5), CHILD: t(2.0, 0.0, ppid=100)}
    after = {ROOT: t(1.5, 0.7), CHILD: t(3.0, 0.1, ppid=100)}
    user, system = used(before, after, since=10.0)
    assert abs(user - 1.5) < 1e-9 and abs(system - 0.3) < 1e-9


def test_new_member_counts_whole_if_started_after_previous_sample() -> None:
    before = {ROOT: t(1.0)}
    after = {ROOT: t(1.0), CHILD: t(0.4, 0.1, ppid=100, started=11.0)}
    assert used(before, after, since=10.0) == (0.4, 0.1)


def test_new_member_older_than_previous_sample_counts_nothing_yet() -> None:
    before = {ROOT: t(1.0)}
    after = {ROOT: t(1.0), CHILD: t(5.0, ppid=100, started=3.0)}
    assert used(before, after, since=10.0) == (0.0, 0.0)


def test_child_reaped_by_member_is_not_counted_twice() -> None:
    # child had used 2 s when last seen, used 1 s more, exited; root waited for it:
    # root's children time grows by the child's whole 3 s.
    before = {ROOT: t(1.0), CHILD: t(2.0, ppid=100)}
    after = {ROOT: t(1.0, cu=3.0)}
    user, system = used(before, after, since=10.0)
    assert abs(user - 1.0) < 1e-9 and system == 0.0


def test_grandchild_reaped_through_a_vanished_parent() -> None:
    before = {ROOT: t(0.0), CHILD: t(1.0, ppid=100), GRANDCHILD: t(2.0, ppid=101)}
    after = {ROOT: t(0.0, cu=1.5 + 2.5)}  # child (1.5 incl.) and grandchild (2.5) reaped
    user, _ = used(before, after, since=10.0)
    assert abs(user - 1.0) < 1e-9  # 0.5 more by the child, 0.5 more by the grandchild


def test_orphan_reaped_outside_the_tree_is_not_subtracted() -> None:
    before = {ROOT: t(1.0), CHILD: t(2.0, ppid=4242)}  # re-parented to the runner
    after = {ROOT: t(1.2)}
    user, _ = used(before, after, since=10.0)
    assert abs(user - 0.2) < 1e-9


def test_recycled_pid_is_a_new_process_not_a_continuation() -> None:
    before = {ROOT: t(1.0), CHILD: t(50.0, ppid=100)}
    after = {ROOT: t(1.0, cu=50.0), STRANGER_REUSED: t(0.3, ppid=100, started=12.0)}
    user, _ = used(before, after, since=10.0)
    assert abs(user - 0.3) < 1e-9


def test_never_negative() -> None:
    before = {ROOT: t(5.0)}
    after = {ROOT: t(4.0)}  # cannot happen on Linux; the result is clamped anyway
    assert used(before, after, since=0.0) == (0.0, 0.0)

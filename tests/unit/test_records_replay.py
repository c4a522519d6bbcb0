"""Checkpoint records (encode/decode) and state replay (apply, advances, load, Follower)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from borealis.contract.records import (
    FORMAT_VERSION,
    Header,
    Identity,
    ProcessStatus,
    Record,
    RecordError,
    RunnerStarted,
    TaskStatus,
    decode,
    encode,
)
from borealis.contract.replay import (
    Follower,
    RunnerState,
    TransitionError,
    advances,
    apply,
    decode_all,
    load,
    replay,
)
from borealis.contract.states import (
    PROCESS_TRANSITIONS,
    TASK_TRANSITIONS,
    TERMINAL_TASK_STATES,
    ProcessState,
    TaskState,
)
from borealis.contract.stream import StreamWriter, frame

P = ProcessState
T = TaskState

HEADER = Header(
    task_id="t1",
    sandbox="/sandbox/t1",
    log_dir="/sandbox/t1/.logs",
    hostname="host-1",
    user="ünïcode",
    uid=1000,
    ports={"http": 8080, "admin": 9090},
    launch_time=1700000000.25,
    boot_id="boot-a",
)


# -- records: encode / decode ---------------------------------------------------

ROUND_TRIP: list[Record] = [
    HEADER,
    Header("t2", "/s", "/s/.logs", "h", "u", 0, {}, 0.0, "b", format=FORMAT_VERSION),
    RunnerStarted(Identity(4242, 123456789), 1.5, "boot-a"),
    TaskStatus(T.ACTIVE, 10.0),
    TaskStatus(T.CLEANING, 11.0, T.KILLED, "killed by SIGTERM"),
    TaskStatus(T.FINALIZING, 12.0, T.SUCCESS),
    TaskStatus(T.FAILED, 13.0, None, "1 process(es) failed"),
    ProcessStatus("p", 0, P.WAITING, 1.0),
    ProcessStatus("p", 0, P.FORKED, 2.0, coordinator=Identity(10, 20)),
    ProcessStatus("p", 0, P.RUNNING, 3.0, pid=Identity(11, 21)),
    ProcessStatus("p", 0, P.SUCCESS, 4.0, return_code=0),
    ProcessStatus("p", 3, P.FAILED, 4.0, return_code=127, reason="command not found"),
    ProcessStatus("p", 1, P.KILLED, 4.0, return_code=-9),
    ProcessStatus("p", 2, P.LOST, 5.0, reason="coordinator vanished"),
]


@pytest.mark.parametrize("record", ROUND_TRIP, ids=lambda r: type(r).__name__)
def test_encode_decode_round_trip(record: Record) -> None:
    payload = encode(record)
    assert decode(payload) == record
    assert json.loads(payload)["t"] in {"header", "runner", "task", "process"}


def test_encoding_is_compact_json_with_wire_names() -> None:
    obj = json.loads(encode(ProcessStatus("p", 2, P.FAILED, 4.0, return_code=1, reason="r")))
    assert obj == {
        "t": "process",
        "name": "p",
        "run": 2,
        "state": "FAILED",
        "time": 4.0,
        "rc": 1,
        "reason": "r",
    }
    assert b" " not in encode(TaskStatus(T.ACTIVE, 1.0))
    assert json.loads(encode(HEADER))["format"] == FORMAT_VERSION


def test_integer_times_decode_as_floats() -> None:
    record = decode(b'{"t":"task","state":"ACTIVE","time":7}')
    assert isinstance(record, TaskStatus)
    assert record.time == 7.0
    assert isinstance(record.time, float)


def test_unknown_keys_are_ignored() -> None:
    record = decode(b'{"t":"task","state":"ACTIVE","time":1.0,"added_later":[1,2]}')
    assert record == TaskStatus(T.ACTIVE, 1.0)


def test_an_older_format_header_decodes() -> None:
    obj = json.loads(encode(HEADER))
    obj["format"] = 0
    record = decode(json.dumps(obj).encode())
    assert isinstance(record, Header)
    assert record.format == 0


def header_with(**changes: Any) -> bytes:
    obj = json.loads(encode(HEADER))
    obj.update(changes)
    return json.dumps(obj).encode()


def process_with(**changes: Any) -> bytes:
    obj = json.loads(encode(ProcessStatus("p", 0, P.RUNNING, 1.0, pid=Identity(1, 2))))
    obj.update(changes)
    return json.dumps({k: v for k, v in obj.items() if v is not ...}).encode()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        pytest.param(b"{not json", "not JSON", id="not-json"),
        pytest.param(b"\xff\xfe", "not JSON", id="not-utf8"),
        pytest.param(b"", "not JSON", id="empty"),
        pytest.param(b"[1, 2]", "not a JSON object", id="list"),
        pytest.param(b'"task"', "not a JSON object", id="string"),
        pytest.param(b'{"t":"checkpoint"}', "unknown record type 'checkpoint'", id="unknown-type"),
        pytest.param(b'{"state":"ACTIVE"}', "unknown record type None", id="no-type"),
        pytest.param(b'{"t":"task","state":"BOGUS","time":1}', "'task'", id="bad-task-state"),
        pytest.param(b'{"t":"task","state":"ACTIVE"}', "'task'", id="task-missing-time"),
        pytest.param(b'{"t":"task","state":"ACTIVE","time":"1"}', "number", id="time-string"),
        pytest.param(b'{"t":"task","state":"ACTIVE","time":true}', "number", id="time-bool"),
        pytest.param(
            b'{"t":"task","state":"CLEANING","time":1,"cause":"MAYBE"}', "'task'", id="bad-cause"
        ),
        pytest.param(
            b'{"t":"task","state":"ACTIVE","time":1,"reason":5}', "string", id="reason-int"
        ),
        pytest.param(process_with(run="0"), "integer", id="run-string"),
        pytest.param(process_with(run=True), "integer", id="run-bool"),
        pytest.param(process_with(run=1.0), "integer", id="run-float"),
        pytest.param(process_with(name=7), "string", id="name-int"),
        pytest.param(process_with(name=...), "'process'", id="name-missing"),
        pytest.param(process_with(state="SLEEPING"), "'process'", id="bad-process-state"),
        pytest.param(process_with(pid=[1]), "identity", id="identity-short"),
        pytest.param(process_with(pid=[1, "2"]), "identity", id="identity-string"),
        pytest.param(process_with(pid=[1, True]), "identity", id="identity-bool"),
        pytest.param(process_with(coordinator={"pid": 1}), "identity", id="identity-object"),
        pytest.param(process_with(rc="0"), "integer", id="rc-string"),
        pytest.param(b'{"t":"runner","id":[1,2],"time":1}', "'runner'", id="runner-no-boot"),
        pytest.param(b'{"t":"runner","id":[1,2],"time":1,"boot_id":3}', "string", id="boot-int"),
        pytest.param(header_with(ports=[8080]), "ports", id="ports-list"),
        pytest.param(header_with(ports={"http": "80"}), "integer", id="port-string"),
        pytest.param(header_with(uid="0"), "integer", id="uid-string"),
        pytest.param(header_with(format="1"), "integer", id="format-string"),
        pytest.param(header_with(task_id=None), "string", id="task-id-null"),
    ],
)
def test_decode_errors(payload: bytes, message: str) -> None:
    with pytest.raises(RecordError) as info:
        decode(payload)
    assert message in str(info.value)


def test_a_newer_format_is_refused_with_advice() -> None:
    with pytest.raises(RecordError, match=f"format {FORMAT_VERSION + 1} is newer.*upgrade"):
        decode(header_with(format=FORMAT_VERSION + 1))


def test_decode_all_names_the_stream_and_record_index() -> None:
    payloads = [encode(TaskStatus(T.ACTIVE, 1.0)), b"{oops"]
    with pytest.raises(RecordError, match=r"^runner-x: record 1: record is not JSON"):
        decode_all(payloads, "runner-x")


# -- replay: process transitions -----------------------------------------------

# A path from WAITING to each process state, through allowed transitions.
REACH = {
    P.WAITING: [P.WAITING],
    P.FORKED: [P.WAITING, P.FORKED],
    P.RUNNING: [P.WAITING, P.FORKED, P.RUNNING],
    P.SUCCESS: [P.WAITING, P.FORKED, P.RUNNING, P.SUCCESS],
    P.FAILED: [P.WAITING, P.FORKED, P.RUNNING, P.FAILED],
    P.KILLED: [P.WAITING, P.FORKED, P.RUNNING, P.KILLED],
    P.LOST: [P.WAITING, P.LOST],
}


def status(state: ProcessState, run: int = 0, name: str = "p", time: float = 1.0) -> ProcessStatus:
    coordinator = Identity(100 + run, 1) if state is P.FORKED else None
    pid = Identity(200 + run, 2) if state is P.RUNNING else None
    rc = {P.SUCCESS: 0, P.FAILED: 1, P.KILLED: -15}.get(state)
    return ProcessStatus(name, run, state, time, coordinator=coordinator, pid=pid, return_code=rc)


def process_in(state: ProcessState, runs_before: int = 0) -> RunnerState:
    """State whose process 'p' has ``runs_before`` finished runs, then one in ``state``."""
    records: list[Record] = []
    for run in range(runs_before):
        records += [status(s, run) for s in REACH[P.SUCCESS]]
    records += [status(s, runs_before) for s in REACH[state]]
    return replay(records)


def test_every_state_is_reachable_by_the_helper() -> None:
    for state, path in REACH.items():
        assert process_in(state).runs("p")[-1].state is state
        for before, after in itertools.pairwise(path):
            assert after in PROCESS_TRANSITIONS[before]


ALLOWED_PROCESS = [  # in a stable order: pytest-xdist workers must collect the same list
    (a, b) for a, targets in PROCESS_TRANSITIONS.items() for b in sorted(targets, key=str)
]
FORBIDDEN_PROCESS = [
    (a, b)
    for a in ProcessState
    for b in ProcessState
    if b not in PROCESS_TRANSITIONS[a] and b is not P.WAITING
]


def test_the_transition_tables_are_non_trivial() -> None:
    assert len(ALLOWED_PROCESS) == 10
    assert (P.RUNNING, P.FORKED) in FORBIDDEN_PROCESS
    assert (P.SUCCESS, P.FAILED) in FORBIDDEN_PROCESS


@pytest.mark.parametrize(("before", "after"), ALLOWED_PROCESS, ids=str)
def test_allowed_process_transition(before: ProcessState, after: ProcessState) -> None:
    state = process_in(before)
    apply(state, status(after, time=9.0))
    run = state.runs("p")[-1]
    assert run.state is after
    assert len(state.runs("p")) == 1
    if after is P.FORKED:
        assert (run.fork_time, run.coordinator) == (9.0, Identity(100, 1))
    elif after is P.RUNNING:
        assert (run.start_time, run.pid) == (9.0, Identity(200, 2))
    else:
        assert run.stop_time == 9.0
        assert run.return_code == status(after).return_code


@pytest.mark.parametrize(("before", "after"), FORBIDDEN_PROCESS, ids=str)
def test_forbidden_process_transition(before: ProcessState, after: ProcessState) -> None:
    state = process_in(before)
    with pytest.raises(TransitionError, match=f"cannot go from {before.value} to {after.value}"):
        apply(state, status(after))
    assert state.runs("p")[-1].state is before


def test_process_run_times_and_details_are_kept() -> None:
    state = replay(
        [
            status(P.WAITING, time=1.0),
            status(P.FORKED, time=2.0),
            status(P.RUNNING, time=3.0),
            ProcessStatus("p", 0, P.FAILED, 4.0, return_code=3, reason="exit 3"),
        ]
    )
    run = state.last_run("p")
    assert run is not None
    assert (run.waiting_time, run.fork_time, run.start_time, run.stop_time) == (1, 2, 3, 4)
    assert (run.return_code, run.reason) == (3, "exit 3")
    assert state.active_runs() == []


def test_active_runs_lists_the_current_run_of_each_live_process() -> None:
    state = replay(
        [status(P.WAITING, name="a"), status(P.WAITING, name="b"), status(P.LOST, name="b")]
    )
    assert [r.process for r in state.active_runs()] == ["a"]
    assert state.runs("missing") == []
    assert state.last_run("missing") is None


# -- replay: WAITING and run numbers -------------------------------------------


def test_first_run_must_be_number_zero() -> None:
    with pytest.raises(TransitionError, match="run 1 cannot start after 0 runs"):
        apply(RunnerState(), status(P.WAITING, run=1))


@pytest.mark.parametrize("state", [P.WAITING, P.FORKED, P.RUNNING])
def test_waiting_only_after_a_terminal_run(state: ProcessState) -> None:
    live = process_in(state)
    with pytest.raises(TransitionError, match="run 1 cannot start after 1 runs"):
        apply(live, status(P.WAITING, run=1))
    assert len(live.runs("p")) == 1


@pytest.mark.parametrize("state", [P.SUCCESS, P.FAILED, P.KILLED, P.LOST])
def test_waiting_starts_the_next_run_after_a_terminal_one(state: ProcessState) -> None:
    ended = process_in(state)
    apply(ended, status(P.WAITING, run=1, time=50.0))
    runs = ended.runs("p")
    assert [(r.run, r.state) for r in runs] == [(0, state), (1, P.WAITING)]
    assert runs[1].waiting_time == 50.0


@pytest.mark.parametrize("run", [0, 2, 5])
def test_waiting_must_be_the_next_run_number(run: int) -> None:
    ended = process_in(P.SUCCESS)
    with pytest.raises(TransitionError, match=f"run {run} cannot start after 1 runs"):
        apply(ended, status(P.WAITING, run=run))


def test_a_record_for_an_earlier_run_is_refused() -> None:
    state = process_in(P.RUNNING, runs_before=1)
    with pytest.raises(TransitionError, match="for run 0, which is not the current run"):
        apply(state, status(P.SUCCESS, run=0))


def test_a_record_for_a_later_run_is_refused() -> None:
    state = process_in(P.RUNNING)
    with pytest.raises(TransitionError, match="for run 1, which is not the current run"):
        apply(state, status(P.SUCCESS, run=1))


def test_a_record_for_a_process_that_never_waited_is_refused() -> None:
    with pytest.raises(TransitionError, match="'q': FORKED for run 0"):
        apply(RunnerState(), status(P.FORKED, name="q"))


# -- replay: task transitions ----------------------------------------------------

TASK_REACH = {
    T.ACTIVE: [T.ACTIVE],
    T.CLEANING: [T.ACTIVE, T.CLEANING],
    T.FINALIZING: [T.ACTIVE, T.CLEANING, T.FINALIZING],
    **{s: [T.ACTIVE, T.CLEANING, s] for s in TERMINAL_TASK_STATES},
}


def task_in(state: TaskState) -> RunnerState:
    return replay([TaskStatus(s, float(i)) for i, s in enumerate(TASK_REACH[state])])


ALLOWED_TASK = [(a, b) for a, targets in TASK_TRANSITIONS.items() for b in sorted(targets, key=str)]
FORBIDDEN_TASK = [
    (a, b) for a in TaskState for b in TaskState if b not in TASK_TRANSITIONS[a] and a is not b
]


@pytest.mark.parametrize(("before", "after"), ALLOWED_TASK, ids=str)
def test_allowed_task_transition(before: TaskState, after: TaskState) -> None:
    state = task_in(before)
    apply(state, TaskStatus(after, 99.0, None))
    assert state.task_state is after
    assert state.entered(after) == 99.0


@pytest.mark.parametrize(("before", "after"), FORBIDDEN_TASK, ids=str)
def test_forbidden_task_transition(before: TaskState, after: TaskState) -> None:
    state = task_in(before)
    with pytest.raises(TransitionError, match=f"from {before.value} to {after.value}"):
        apply(state, TaskStatus(after, 99.0))
    assert state.task_state is before


@pytest.mark.parametrize("first", [s for s in TaskState if s is not T.ACTIVE])
def test_a_task_starts_active(first: TaskState) -> None:
    with pytest.raises(TransitionError, match=f"task starts in {first.value}, not ACTIVE"):
        apply(RunnerState(), TaskStatus(first, 1.0))


@pytest.mark.parametrize("state", [T.CLEANING, T.FINALIZING])
@pytest.mark.parametrize("cause", [T.KILLED, T.LOST])
def test_a_kill_or_loss_may_replace_the_cause_while_stopping(
    state: TaskState, cause: TaskState
) -> None:
    runner = task_in(state)
    apply(runner, TaskStatus(state, 50.0, cause, "killed by SIGTERM"))
    assert runner.task_state is state
    assert runner.cause is cause
    assert runner.entered(state) != 50.0, "entered() is the first time"


@pytest.mark.parametrize("state", [T.CLEANING, T.FINALIZING])
@pytest.mark.parametrize("cause", [None, T.SUCCESS, T.FAILED])
def test_re_entering_without_a_kill_or_loss_is_refused(
    state: TaskState, cause: TaskState | None
) -> None:
    with pytest.raises(TransitionError, match="without a new cause"):
        apply(task_in(state), TaskStatus(state, 50.0, cause))


@pytest.mark.parametrize("state", [T.ACTIVE, *sorted(TERMINAL_TASK_STATES, key=str)])
def test_active_and_terminal_states_cannot_be_re_entered(state: TaskState) -> None:
    runner = task_in(state)
    with pytest.raises(TransitionError, match=f"re-enter {state.value}"):
        apply(runner, TaskStatus(state, 50.0, T.KILLED))
    assert runner.cause is None


def test_task_state_and_cause_follow_the_last_status() -> None:
    state = RunnerState()
    assert (state.task_state, state.cause, state.entered(T.ACTIVE)) == (None, None, None)
    apply(state, TaskStatus(T.ACTIVE, 1.0))
    apply(state, TaskStatus(T.CLEANING, 2.0, T.SUCCESS))
    assert (state.task_state, state.cause) == (T.CLEANING, T.SUCCESS)
    assert state.entered(T.ACTIVE) == 1.0
    assert state.entered(T.FINALIZING) is None


def test_header_once_and_runners_accumulate() -> None:
    state = RunnerState()
    apply(state, HEADER)
    apply(state, RunnerStarted(Identity(1, 2), 1.0, "b"))
    apply(state, RunnerStarted(Identity(3, 4), 2.0, "b"))
    assert state.header == HEADER
    assert [r.identity.pid for r in state.runners] == [1, 3]
    with pytest.raises(TransitionError, match="a second header"):
        apply(state, HEADER)


# -- advances: what a coordinator record adds to the runner's state -------------


@pytest.fixture
def second_run_forked() -> RunnerState:
    state = process_in(P.FORKED, runs_before=1)
    assert [r.state for r in state.runs("p")] == [P.SUCCESS, P.FORKED]
    return state


def test_a_stale_record_of_an_earlier_run_does_not_advance(second_run_forked: RunnerState) -> None:
    for s in (P.RUNNING, P.SUCCESS, P.FAILED):
        assert advances(second_run_forked, status(s, run=0)) is False


def test_a_duplicate_does_not_advance(second_run_forked: RunnerState) -> None:
    assert advances(second_run_forked, status(P.FORKED, run=1)) is False


@pytest.mark.parametrize("after", sorted(PROCESS_TRANSITIONS[P.FORKED], key=str))
def test_a_valid_next_state_advances(second_run_forked: RunnerState, after: ProcessState) -> None:
    record = status(after, run=1)
    assert advances(second_run_forked, record) is True
    apply(second_run_forked, record)  # and it applies


def test_nothing_advances_a_finished_run() -> None:
    state = process_in(P.KILLED)
    for s in (P.SUCCESS, P.LOST, P.RUNNING):
        assert advances(state, status(s)) is False


def test_an_impossible_state_does_not_advance() -> None:
    assert advances(process_in(P.RUNNING), status(P.FORKED)) is False


@pytest.mark.parametrize("run", [2, 7])
def test_a_record_for_an_unknown_future_run_is_an_error(
    second_run_forked: RunnerState, run: int
) -> None:
    with pytest.raises(TransitionError, match=f"record for run {run} but only 2 runs"):
        advances(second_run_forked, status(P.RUNNING, run=run))


def test_a_record_for_an_unknown_process_is_an_error() -> None:
    with pytest.raises(TransitionError, match="'ghost': record for run 0 but only 0 runs"):
        advances(RunnerState(), status(P.FORKED, name="ghost"))


# -- load and Follower ------------------------------------------------------------

SCENARIO: list[Record] = [
    HEADER,
    RunnerStarted(Identity(1, 100), 1.0, "boot-a"),
    TaskStatus(T.ACTIVE, 1.0),
    status(P.WAITING, name="a", time=1.1),
    status(P.WAITING, name="b", time=1.1),
    status(P.FORKED, name="a", time=1.2),
    status(P.RUNNING, name="a", time=1.3),
    status(P.FORKED, name="b", time=1.3),
    status(P.FAILED, name="b", time=1.4),
    status(P.WAITING, run=1, name="b", time=2.0),
    RunnerStarted(Identity(2, 200), 2.5, "boot-a"),
    status(P.LOST, run=1, name="b", time=2.6),
    status(P.SUCCESS, name="a", time=3.0),
    TaskStatus(T.CLEANING, 3.0, T.FAILED, "b failed"),
    TaskStatus(T.CLEANING, 3.5, T.KILLED, "killed by SIGTERM"),
    TaskStatus(T.FINALIZING, 4.0, T.KILLED),
    TaskStatus(T.KILLED, 5.0, None, "killed by SIGTERM"),
]


def write_stream(path: Path, records: list[Record]) -> None:
    writer = StreamWriter.open(path)
    try:
        writer.append([encode(r) for r in records])
    finally:
        writer.close()


def test_load_replays_a_stream(tmp_path: Path) -> None:
    path = tmp_path / "runner"
    write_stream(path, SCENARIO)
    state = load(path)
    assert state == replay(SCENARIO)
    assert state.header == HEADER
    assert state.task_state is T.KILLED
    assert [r.state for r in state.runs("b")] == [P.FAILED, P.LOST]
    assert len(state.runners) == 2


def test_load_of_a_missing_stream_is_empty(tmp_path: Path) -> None:
    assert load(tmp_path / "runner") == RunnerState()


def test_load_tolerates_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "runner"
    write_stream(path, SCENARIO[:5])
    with open(path, "ab") as fp:
        fp.write(frame(encode(SCENARIO[5]))[:-3])
    assert load(path) == replay(SCENARIO[:5])


def test_load_names_the_path_and_record_of_a_bad_transition(tmp_path: Path) -> None:
    path = tmp_path / "runner"
    write_stream(path, [TaskStatus(T.ACTIVE, 1.0), TaskStatus(T.SUCCESS, 2.0)])
    with pytest.raises(TransitionError, match=rf"^{path}: record 1: task cannot go from ACTIVE"):
        load(path)


def test_load_names_the_path_and_record_of_a_bad_record(tmp_path: Path) -> None:
    path = tmp_path / "runner"
    writer = StreamWriter.open(path)
    try:
        writer.append([encode(HEADER), b'{"t":"nope"}'])
    finally:
        writer.close()
    with pytest.raises(RecordError, match=rf"^{path}: record 1: unknown record type 'nope'"):
        load(path)


def test_follower_replay_equals_load_at_every_step(tmp_path: Path) -> None:
    path = tmp_path / "runner"
    follower = Follower(path)
    try:
        assert follower.update() is False
        assert follower.state == RunnerState()
        for start in range(0, len(SCENARIO), 3):
            write_stream(path, SCENARIO[start : start + 3])
            assert follower.update() is True
            assert follower.state == load(path)
            assert follower.offset == path.stat().st_size
            assert follower.update() is False
        assert follower.state == replay(SCENARIO)
    finally:
        follower.close()


def test_follower_waits_for_an_incomplete_record(tmp_path: Path) -> None:
    path = tmp_path / "runner"
    write_stream(path, SCENARIO[:3])
    follower = Follower(path)
    try:
        assert follower.update() is True
        before = follower.offset
        data = frame(encode(SCENARIO[3]))
        with open(path, "ab") as fp:
            fp.write(data[:10])
        assert follower.update() is False
        assert follower.offset == before
        assert follower.state == replay(SCENARIO[:3])
        with open(path, "ab") as fp:
            fp.write(data[10:])
        assert follower.update() is True
        assert follower.state == replay(SCENARIO[:4]) == load(path)
    finally:
        follower.close()

"""The executor API's wire rules: RecordIO framing by bytes, and the agent refusing calls
exactly where a Mesos agent does (415, 400, 403, 405, 501)."""

from __future__ import annotations

import base64
import http.client
import json
import uuid

import pytest
from cluster import AgentProcess, envelope, raw_post, update_call

from borealis.contract import recordio
from borealis.executor.mesos import protocol


def test_recordio_split_at_every_byte_boundary_with_multibyte_utf8() -> None:
    events = [
        {"type": "SUBSCRIBED", "subscribed": {"note": "déjà vu ✓ 𝄞"}},
        {"type": "HEARTBEAT"},
        {"type": "MESSAGE", "message": {"data": "ü" * 300}},
    ]
    stream = b"".join(recordio.encode(protocol.encode(e)) for e in events)
    for cut in range(len(stream) + 1):
        parser = recordio.Parser()
        records = parser.feed(stream[:cut]) + parser.feed(stream[cut:])
        assert [json.loads(r) for r in records] == events, cut
        assert parser.pending == 0
    parser = recordio.Parser()
    out = []
    for byte in stream:  # one byte at a time
        out += parser.feed(bytes([byte]))
    assert [json.loads(r) for r in out] == events


@pytest.mark.parametrize("bad", [b"abc\n{}", b"0\n", b"-5\n", b"1" * 30, b"12x\n"])
def test_recordio_refuses_bad_lengths(bad: bytes) -> None:
    with pytest.raises(recordio.RecordIOError):
        recordio.Parser().feed(bad)


def test_status_uuids_are_16_raw_bytes_of_a_uuid() -> None:
    value = protocol.new_uuid()
    raw = base64.b64decode(value)
    assert len(raw) == 16 and uuid.UUID(bytes=raw).version == 4
    assert protocol.valid_uuid(value)
    text_uuid = base64.b64encode(str(uuid.uuid4()).encode()).decode()  # the Mesos doc example
    assert not protocol.valid_uuid(text_uuid)
    assert not protocol.valid_uuid(base64.b64encode(b"\x00" * 16).decode())  # version 0
    assert not protocol.valid_uuid("not base64!")


def test_agent_refuses_calls_as_a_mesos_agent_does(agent: AgentProcess) -> None:
    agent.launch("p1", envelope({"name": "sleeper", "cmdline": "sleep 1000"}))
    agent.wait_state("p1", "TASK_RUNNING")
    ex = agent.executor("p1")
    fid, eid = ex["framework_id"], ex["executor_id"]
    secret = agent.executor_secret(fid, eid)

    def post(body: bytes, content_type: str | None) -> tuple[int, str]:
        return raw_post(agent, body, content_type, secret)

    good = update_call(fid, eid, "p1")
    assert post(good, "application/json")[0] == 202
    code, text = post(good, "application/json; charset=utf-8")
    assert code == 415 and "Content-Type" in text
    assert post(good, None)[0] == 415
    assert post(good, "text/plain")[0] == 415
    text_uuid = base64.b64encode(str(uuid.uuid4()).encode()).decode()
    code, text = post(update_call(fid, eid, "p1", uuid=text_uuid), "application/json")
    assert code == 400 and "uuid" in text
    code, text = post(update_call(fid, eid, "p1", source="SOURCE_AGENT"), "application/json")
    assert code == 400 and "SOURCE_EXECUTOR" in text
    code, text = post(update_call(fid, eid, "p1", state="TASK_STAGING"), "application/json")
    assert code == 400 and "TASK_STAGING" in text
    mismatch = update_call(fid, eid, "p1", executor_id={"value": "other"})
    assert post(mismatch, "application/json")[0] == 400
    assert post(b"{not json", "application/json")[0] == 400
    # another executor's id with this executor's secret: refused as a credential, whether or
    # not that executor exists (a caller learns nothing about other executors)
    assert post(update_call(fid, "nobody", "p1"), "application/json")[0] == 403
    # a body too deep or a number too long is a 400 naming the problem, never a 500
    code, text = post(b"[" * 100_000 + b"]" * 100_000, "application/json")
    assert code == 400 and "nested too deeply" in text
    code, text = post(b'{"type": ' + b"9" * 5000 + b"}", "application/json")
    assert code == 400 and "number too long" in text
    unknown = protocol.encode(
        {"type": "UNKNOWN", "framework_id": {"value": fid}, "executor_id": {"value": eid}}
    )
    assert post(unknown, "application/json")[0] == 501
    heartbeat = protocol.encode(
        {"type": "HEARTBEAT", "framework_id": {"value": fid}, "executor_id": {"value": eid}}
    )
    assert post(heartbeat, "application/json")[0] == 202
    conn = http.client.HTTPConnection("127.0.0.1", agent.port, timeout=10)
    conn.request("GET", "/api/v1/executor")
    assert conn.getresponse().status == 405
    conn.close()
    # the refused calls changed nothing: one RUNNING from the executor plus our good one
    assert agent.states("p1") == ["TASK_STARTING", "TASK_RUNNING", "TASK_RUNNING"]


def test_calls_before_subscribing_are_403(agent: AgentProcess) -> None:
    """An executor process that never subscribes (here: ``sleep``) may not send updates."""
    agent.launch("p2", envelope({"name": "x", "cmdline": "true"}), executor_command="sleep 60")
    ex = agent.executor("p2")
    assert not ex["subscribed"]
    fid, eid = ex["framework_id"], ex["executor_id"]
    code, text = raw_post(
        agent, update_call(fid, eid, "p2"), "application/json", agent.executor_secret(fid, eid)
    )
    assert code == 403 and "not subscribed" in text
    assert agent.states("p2") == []

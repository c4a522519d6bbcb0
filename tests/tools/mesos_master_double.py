"""A Mesos master double, written strictly from the Mesos v1 scheduler API reference
(``../shared/reference/mesos-http-api.md`` section 2), for the scheduler's protocol tests.

    python3 mesos_master_double.py --port N [--zk HOSTS/PATH] [--agents 3] [--heartbeat 1]
                                   [--containers AGENT_ID=docker,mesos]...

It is not Mesos: agents are simulated (each offers its free cpus/mem/disk/ports and a ``rack``
attribute, and a ``containers`` TEXT attribute on the agents ``--containers`` names: the kinds
of container, ``docker``/``mesos``, it runs), a launched task "runs" without any process
(TASK_STARTING then TASK_RUNNING, sent one at a time per task, the next only after the
framework ACKNOWLEDGEd the previous one), KILL ends it with TASK_KILLED. What it enforces, as
a master does: exact ``Content-Type`` (415);
SUBSCRIBE with ``framework_info.user`` and ``name`` and *without* ``Mesos-Stream-Id`` (400);
every other call with the current ``Mesos-Stream-Id`` (400) from a subscribed framework (403);
an offer id used at most once and resources within the offer (the call is still 202, the
launch fails with TASK_ERROR, as the master reports it); a ``ContainerInfo`` (on the task or its
executor) of a known type with what that type needs (``docker.image``; volumes with a
``container_path`` and a ``mode``), on an agent that runs that kind (else TASK_ERROR, as an agent
without that containerizer fails the launch); RECONCILE answered with
``REASON_RECONCILIATION`` updates that carry no uuid; a non-leading master answers 307 with
``Location: //leader:port/api/v1/scheduler`` (503 when no leader is known). With ``--zk`` it
joins the masters' group as an ephemeral sequential ``json.info_`` node holding MasterInfo
JSON, and leads when its sequence number is the lowest. SUPPRESS stops offers until REVIVE.
Test hooks: ``POST /double/rescind_next`` (the next offers go out together with a RESCIND of
the first of them), ``POST /double/mute`` (no more events, heartbeats included, on an open
stream), ``POST /double/fail`` ``{"task_id"}``, ``POST /double/fail_launches``
``{"containing": TEXT}`` (a task launched from then on whose ``TaskInfo.data`` envelope holds
TEXT fails once RUNNING, as a task that dies at start; ``""`` ends the rule), ``POST
/double/unreachable`` ``{"agent_id"}`` (the agent failed its health checks: it is offered no
more, its outstanding offers are rescinded, and each of its live tasks is reported
TASK_UNREACHABLE, reason REASON_AGENT_REMOVED, to a PARTITION_AWARE framework, TASK_LOST to
another, with no uuid: the master does not deliver these reliably; a KILL of such a task does
nothing, RECONCILE answers TASK_UNREACHABLE), ``POST /double/reregister`` ``{"agent_id"}``
(the agent is back: each of its tasks is reported again in its state, as a real master does
for a partition-aware framework when a partitioned agent reregisters, and the agent is offered
again), ``GET
/double/state``, ``GET /double/launches`` (every LAUNCH in order, with its resources and its
decoded envelope) and ``GET /double/timeline`` (every status update made, in order).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import socket
import time
import uuid
from collections import defaultdict, deque
from typing import Any

import tornado.httpserver
import tornado.iostream
import tornado.web
from tornado.ioloop import IOLoop

MB = 1
LIVE = ("TASK_STARTING", "TASK_RUNNING", "TASK_KILLING")


def encode(event: dict[str, Any]) -> bytes:
    data = json.dumps(event).encode()
    return b"%d\n" % len(data) + data


def new_uuid() -> str:
    return base64.b64encode(uuid.uuid4().bytes).decode()


class Master:
    def __init__(
        self, port: int, agents: int, heartbeat: float, containers: dict[str, str] | None = None
    ) -> None:
        self.port = port
        self.heartbeat = heartbeat
        self.id = f"master-{uuid.uuid4().hex[:8]}"
        self.leader: str | None = f"127.0.0.1:{port}"
        self.agents: dict[str, dict[str, Any]] = {
            f"agent-{i}": {
                "hostname": f"host{i}",
                "cpu": 4.0,
                "mem": 8192.0,
                "disk": 100_000.0,
                "ports": (31000, 31100),
                "rack": f"r{i % 2}",
                "containers": (containers or {}).get(f"agent-{i}", ""),
                "used_cpu": 0.0,
                "used_mem": 0.0,
                "used_disk": 0.0,
                "used_ports": set(),
            }
            for i in range(agents)
        }
        self.frameworks: dict[str, dict[str, Any]] = {}
        self.stream: asyncio.Queue[dict[str, Any] | None] | None = None
        self.stream_id: str | None = None
        self.framework_id: str | None = None
        self.offers: dict[str, str] = {}  # offer id -> agent id (outstanding)
        self.tasks: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, deque[dict[str, Any]]] = defaultdict(deque)  # unacked, in order
        self.counts: dict[str, int] = defaultdict(int)
        self.subscriptions = 0
        self.zk: Any = None
        self.suppressed = False
        self.rescind_next = False
        self.muted = False  # test hook: no events at all (a partition the TCP stream survives)
        self.fail_containing = ""  # test hook: tasks whose envelope holds this fail at start
        self.launches: list[dict[str, Any]] = []  # test hook: every LAUNCH, in order
        self.timeline: list[dict[str, str]] = []  # test hook: every status update, in order
        self.unreachable: set[str] = set()  # test hook: agents that failed health checks

    # offers
    def free(self, agent: dict[str, Any]) -> dict[str, Any]:
        lo, hi = agent["ports"]
        ports = [p for p in range(lo, hi + 1) if p not in agent["used_ports"]]
        return {
            "cpu": agent["cpu"] - agent["used_cpu"],
            "mem": agent["mem"] - agent["used_mem"],
            "disk": agent["disk"] - agent["used_disk"],
            "ports": ports,
        }

    def offer_all(self) -> None:
        if self.stream is None or self.framework_id is None or self.suppressed:
            return
        offered = []
        for agent_id, agent in self.agents.items():
            if agent_id in self.offers.values() or agent_id in self.unreachable:
                continue
            free = self.free(agent)
            if free["cpu"] <= 0:
                continue
            offer_id = f"offer-{uuid.uuid4().hex[:10]}"
            self.offers[offer_id] = agent_id
            ranges = [{"begin": p, "end": p} for p in free["ports"]]
            offered.append(
                {
                    "id": {"value": offer_id},
                    "framework_id": {"value": self.framework_id},
                    "agent_id": {"value": agent_id},
                    "hostname": agent["hostname"],
                    "resources": [
                        {"name": "cpus", "type": "SCALAR", "scalar": {"value": free["cpu"]}},
                        {"name": "mem", "type": "SCALAR", "scalar": {"value": free["mem"]}},
                        {"name": "disk", "type": "SCALAR", "scalar": {"value": free["disk"]}},
                        {"name": "ports", "type": "RANGES", "ranges": {"range": ranges}},
                    ],
                    "attributes": [
                        {"name": "rack", "type": "TEXT", "text": {"value": agent["rack"]}}
                    ]
                    + (
                        [
                            {
                                "name": "containers",
                                "type": "TEXT",
                                "text": {"value": agent["containers"]},
                            }
                        ]
                        if agent["containers"]
                        else []
                    ),
                }
            )
        if offered:
            self.stream.put_nowait({"type": "OFFERS", "offers": {"offers": offered}})
            if self.rescind_next:  # test hook: take the first one back at once
                self.rescind_next = False
                first = offered[0]["id"]["value"]
                self.offers.pop(first, None)
                self.stream.put_nowait(
                    {"type": "RESCIND", "rescind": {"offer_id": {"value": first}}}
                )
                self.counts["rescinded"] += 1

    def partition_aware(self) -> bool:
        info = self.frameworks.get(self.framework_id or "", {})
        return {"type": "PARTITION_AWARE"} in info.get("capabilities", [])

    def agent_unreachable(self, agent_id: str) -> None:
        """The agent failed its health checks: its tasks are unreachable (or lost)."""
        self.unreachable.add(agent_id)
        for offer_id, offered_on in list(self.offers.items()):
            if offered_on == agent_id:
                del self.offers[offer_id]
                if self.stream is not None:
                    self.stream.put_nowait(
                        {"type": "RESCIND", "rescind": {"offer_id": {"value": offer_id}}}
                    )
        state = "TASK_UNREACHABLE" if self.partition_aware() else "TASK_LOST"
        for task_id, task in self.tasks.items():
            if task["agent_id"] != agent_id or task["state"] not in LIVE:
                continue
            task["before"] = task["state"]
            self.master_update(task_id, state, "agent unreachable", "REASON_AGENT_REMOVED")
            self.counts["unreachable"] += 1

    def agent_reregistered(self, agent_id: str) -> None:
        """The agent is back: its tasks are reported in the state they are in there."""
        self.unreachable.discard(agent_id)
        for task_id, task in self.tasks.items():
            if task["agent_id"] == agent_id and task["state"] == "TASK_UNREACHABLE":
                self.master_update(task_id, task.pop("before"), "agent reregistered")
        self.offer_all()

    def master_update(
        self, task_id: str, state: str, message: str, reason: str | None = None
    ) -> None:
        """An update the master makes itself: no uuid, nothing to acknowledge."""
        task = self.tasks[task_id]
        task["state"] = state
        self.timeline.append({"task_id": task_id, "state": state})
        status = {
            "task_id": {"value": task_id},
            "state": state,
            "source": "SOURCE_MASTER",
            "agent_id": {"value": task["agent_id"]},
            "message": message,
        }
        if reason:
            status["reason"] = reason
        if state == "TASK_UNREACHABLE":
            status["unreachable_time"] = {"nanoseconds": time.time_ns()}
        self.send_update(status)

    def reoffer_later(self, seconds: float) -> None:
        IOLoop.current().call_later(max(0.05, min(seconds, 2.0)), self.offer_all)

    # updates, in order per task, the next only after an ACK
    def update(
        self, task_id: str, state: str, message: str = "", reason: str | None = None
    ) -> None:
        task = self.tasks[task_id]
        task["state"] = state
        self.timeline.append({"task_id": task_id, "state": state})
        status = {
            "task_id": {"value": task_id},
            "state": state,
            "source": "SOURCE_EXECUTOR",
            "agent_id": {"value": task["agent_id"]},
            "executor_id": {"value": f"thermos-{task_id}"},
            "uuid": new_uuid(),
            "message": message,
        }
        if reason:
            status["reason"] = reason
        self.pending[task_id].append(status)
        if len(self.pending[task_id]) == 1:
            self.send_update(status)

    def send_update(self, status: dict[str, Any]) -> None:
        if self.stream is not None:
            self.stream.put_nowait({"type": "UPDATE", "update": {"status": status}})

    def acknowledge(self, task_id: str, uid: str) -> None:
        queue = self.pending.get(task_id)
        if queue and queue[0]["uuid"] == uid:
            queue.popleft()
            self.counts["acknowledged"] += 1
            if queue:
                self.send_update(queue[0])

    def end(self, task_id: str, state: str, message: str, reason: str | None = None) -> None:
        task = self.tasks[task_id]
        agent = self.agents[task["agent_id"]]
        agent["used_cpu"] -= task["cpu"]
        agent["used_mem"] -= task["mem"]
        agent["used_disk"] -= task["disk"]
        agent["used_ports"] -= set(task["ports"])
        self.update(task_id, state, message, reason)
        self.reoffer_later(0.1)


class Call(tornado.web.RequestHandler):
    master: Master

    def initialize(self, master: Master) -> None:
        self.master = master

    def refuse(self, code: int, text: str) -> None:
        self.set_status(code)
        self.finish(text)

    async def post(self) -> None:
        m = self.master
        if m.leader != f"127.0.0.1:{m.port}":
            if m.leader is None:
                self.refuse(503, "No leader elected")
                return
            self.set_status(307)
            self.set_header("Location", f"//{m.leader}/api/v1/scheduler")
            self.finish()
            return
        if self.request.headers.get("Content-Type") != "application/json":
            self.refuse(
                415, "Expecting 'Content-Type' of application/json or application/x-protobuf"
            )
            return
        try:
            call = json.loads(self.request.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            self.refuse(400, "Failed to parse body into JSON")
            return
        kind = call.get("type")
        m.counts[str(kind)] += 1
        if kind == "SUBSCRIBE":
            await self.subscribe(call)
            return
        if self.request.headers.get("Mesos-Stream-Id") is None:
            self.refuse(400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
            return
        if m.stream is None or m.framework_id != call.get("framework_id", {}).get("value"):
            self.refuse(403, "Framework is not subscribed")
            return
        if self.request.headers["Mesos-Stream-Id"] != m.stream_id:
            self.refuse(400, "The stream ID included in this request didn't match the stream ID")
            return
        handler = getattr(self, f"do_{str(kind).lower()}", None)
        if handler is None:
            self.refuse(400, f"unsupported call {kind}")
            return
        handler(call)
        self.set_status(202)
        self.finish()

    async def subscribe(self, call: dict[str, Any]) -> None:
        m = self.master
        if "Mesos-Stream-Id" in self.request.headers:
            self.refuse(400, "Subscribe calls should not include the 'Mesos-Stream-Id' header")
            return
        info = call.get("subscribe", {}).get("framework_info", {})
        if not info.get("user") or not info.get("name"):
            self.refuse(
                400, "Failed to validate scheduler::Call: framework_info needs user and name"
            )
            return
        framework_id = info.get("id", {}).get("value") or f"fw-{uuid.uuid4().hex[:8]}"
        if m.stream is not None:
            m.stream.put_nowait(None)  # one subscription per framework: close the old one
        m.framework_id = framework_id
        m.frameworks[framework_id] = info
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        m.stream = queue
        m.stream_id = str(uuid.uuid4())
        m.offers.clear()
        m.subscriptions += 1
        self.set_status(200)
        self.set_header("Content-Type", "application/json")
        self.set_header("Mesos-Stream-Id", m.stream_id)
        queue.put_nowait(
            {
                "type": "SUBSCRIBED",
                "subscribed": {
                    "framework_id": {"value": framework_id},
                    "heartbeat_interval_seconds": m.heartbeat,
                },
            }
        )
        for pending in m.pending.values():
            if pending:
                m.send_update(pending[0])  # unacknowledged updates are retried
        m.offer_all()
        beat = IOLoop.current().call_later(m.heartbeat, lambda: None)
        try:
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), m.heartbeat)
                except TimeoutError:
                    event = {"type": "HEARTBEAT"}
                if event is None:
                    break
                if m.muted:
                    continue
                self.write(encode(event))
                while not queue.empty():  # what was queued together is written together
                    more = queue.get_nowait()
                    if more is None:
                        break
                    self.write(encode(more))
                await self.flush()
        except tornado.iostream.StreamClosedError:
            pass
        finally:
            IOLoop.current().remove_timeout(beat)
            if m.stream is queue:
                m.stream = None
        if not self._finished:
            self.finish()

    def do_accept(self, call: dict[str, Any]) -> None:
        m = self.master
        accept = call.get("accept", {})
        offer_ids = [o.get("value") for o in accept.get("offer_ids", [])]
        agents = {m.offers.get(o) for o in offer_ids}
        valid = all(o in m.offers for o in offer_ids) and len(agents) == 1
        for o in offer_ids:
            m.offers.pop(o, None)
        # one agent for every task of the call (a set popped per task left the second without)
        agent = next(iter(agents)) if valid and agents else None
        for operation in accept.get("operations", []):
            if operation.get("type") != "LAUNCH":
                continue
            for info in operation.get("launch", {}).get("task_infos", []):
                self.launch(info, valid, agent)
        m.reoffer_later(accept.get("filters", {}).get("refuse_seconds", 5.0))

    def launch(self, info: dict[str, Any], valid: bool, agent_id: str | None) -> None:
        m = self.master
        task_id = info["task_id"]["value"]
        need = {"cpus": 0.0, "mem": 0.0, "disk": 0.0}
        ports: list[int] = []
        for r in info.get("resources", []) + info.get("executor", {}).get("resources", []):
            if r.get("type") == "SCALAR" and r["name"] in need:
                need[r["name"]] += r["scalar"]["value"]
            elif r.get("type") == "RANGES" and r["name"] == "ports":
                for rng in r["ranges"]["range"]:
                    ports += list(range(rng["begin"], rng["end"] + 1))
        m.tasks[task_id] = {
            "agent_id": agent_id or "",
            "cpu": 0.0,
            "mem": 0.0,
            "disk": 0.0,
            "ports": [],
        }
        if not valid or agent_id is None:
            m.update(task_id, "TASK_ERROR", "Task uses invalid offers", "REASON_INVALID_OFFERS")
            return
        agent = m.agents[agent_id]
        container = info.get("container") or info.get("executor", {}).get("container")
        problem = container_problem(container, agent["containers"]) if container else None
        if problem is not None:
            m.update(task_id, "TASK_ERROR", problem, "REASON_TASK_INVALID")
            return
        free = m.free(agent)
        if (
            need["cpus"] > free["cpu"] + 1e-9
            or need["mem"] > free["mem"]
            or need["disk"] > free["disk"]
            or not set(ports) <= set(free["ports"])
        ):
            m.update(
                task_id,
                "TASK_ERROR",
                "Task uses more resources than offered",
                "REASON_TASK_INVALID",
            )
            return
        agent["used_cpu"] += need["cpus"]
        agent["used_mem"] += need["mem"]
        agent["used_disk"] += need["disk"]
        agent["used_ports"] |= set(ports)
        m.tasks[task_id].update(
            cpu=need["cpus"], mem=need["mem"], disk=need["disk"], ports=ports, data=info.get("data")
        )
        m.counts["launched"] += 1
        envelope = json.loads(base64.b64decode(info.get("data") or b"e30="))  # {} when absent
        m.launches.append(
            {
                "task_id": task_id,
                "agent_id": agent_id,
                "need": need,
                "envelope": envelope,
                "container": info.get("container"),
                "executor_container": info.get("executor", {}).get("container"),
            }
        )
        m.update(task_id, "TASK_STARTING", "launching")
        m.update(task_id, "TASK_RUNNING", "running")
        if m.fail_containing and m.fail_containing in json.dumps(envelope):
            m.end(task_id, "TASK_FAILED", "exited at start", "REASON_COMMAND_EXECUTOR_FAILED")

    def do_decline(self, call: dict[str, Any]) -> None:
        m = self.master
        decline = call.get("decline", {})
        for o in decline.get("offer_ids", []):
            m.offers.pop(o.get("value"), None)
        m.reoffer_later(decline.get("filters", {}).get("refuse_seconds", 5.0))

    def do_acknowledge(self, call: dict[str, Any]) -> None:
        ack = call.get("acknowledge", {})
        self.master.acknowledge(ack.get("task_id", {}).get("value", ""), ack.get("uuid", ""))

    def do_kill(self, call: dict[str, Any]) -> None:
        m = self.master
        task_id = call.get("kill", {}).get("task_id", {}).get("value", "")
        task = m.tasks.get(task_id)
        if task is None:
            return
        if task["state"] in ("TASK_STARTING", "TASK_RUNNING", "TASK_KILLING"):
            m.end(task_id, "TASK_KILLED", "killed by the framework")

    def do_reconcile(self, call: dict[str, Any]) -> None:
        m = self.master
        listed = [t["task_id"]["value"] for t in call.get("reconcile", {}).get("tasks", [])]
        unknown = "TASK_UNKNOWN" if m.partition_aware() else "TASK_LOST"
        for task_id in listed or list(m.tasks):
            task = m.tasks.get(task_id)
            status = {
                "task_id": {"value": task_id},
                "state": task["state"] if task else unknown,
                "source": "SOURCE_MASTER",
                "reason": "REASON_RECONCILIATION",
                "message": "Reconciliation",
            }
            if task:
                status["agent_id"] = {"value": task["agent_id"]}
            m.send_update(status)  # no uuid: nothing to acknowledge
        m.counts["reconciled_tasks"] += len(listed or m.tasks)
        if not listed:
            m.counts["implicit_reconciliations"] += 1

    def do_revive(self, call: dict[str, Any]) -> None:
        self.master.suppressed = False
        self.master.offer_all()

    def do_suppress(self, call: dict[str, Any]) -> None:
        self.master.suppressed = True

    def do_teardown(self, call: dict[str, Any]) -> None:
        for task_id, task in list(self.master.tasks.items()):
            if task["state"] in ("TASK_STARTING", "TASK_RUNNING"):
                self.master.end(task_id, "TASK_KILLED", "framework removed")


class Hook(tornado.web.RequestHandler):
    master: Master

    def initialize(self, master: Master) -> None:
        self.master = master

    def post(self, what: str) -> None:
        m = self.master
        body = json.loads(self.request.body or b"{}")
        if what == "rescind_next":
            m.rescind_next = True
            self.finish({})
        elif what == "mute":
            m.muted = bool(body.get("muted", True))
            self.finish({})
        elif what == "fail":
            m.end(
                body["task_id"], "TASK_FAILED", "the task failed", "REASON_COMMAND_EXECUTOR_FAILED"
            )
            self.finish({})
        elif what == "fail_launches":
            m.fail_containing = str(body.get("containing", ""))
            self.finish({})
        elif what == "unreachable":
            m.agent_unreachable(body["agent_id"])
            self.finish({})
        elif what == "reregister":
            m.agent_reregistered(body["agent_id"])
            self.finish({})

    def get(self, what: str) -> None:
        m = self.master
        if what == "launches":
            self.finish({"launches": m.launches})
            return
        if what == "timeline":
            self.finish({"timeline": m.timeline})
            return
        self.finish(
            {
                "leader": m.leader,
                "framework_id": m.framework_id,
                "frameworks": m.frameworks,
                "subscribed": m.stream is not None,
                "subscriptions": m.subscriptions,
                "offers": dict(m.offers),
                "suppressed": m.suppressed,
                "unreachable": sorted(m.unreachable),
                "tasks": {
                    t: {k: v for k, v in d.items() if k != "data"} for t, d in m.tasks.items()
                },
                "counts": dict(m.counts),
            }
        )


def join_zk(master: Master, hosts_path: str) -> None:
    from kazoo.client import KazooClient

    hosts, _, path = hosts_path.partition("/")
    path = "/" + path
    zk = KazooClient(hosts=hosts)
    zk.start(timeout=15)
    zk.ensure_path(path)
    info = {
        "id": master.id,
        "hostname": "127.0.0.1",
        "port": master.port,
        "pid": f"master@127.0.0.1:{master.port}",
        "address": {"hostname": "127.0.0.1", "ip": "127.0.0.1", "port": master.port},
    }
    zk.create(f"{path}/json.info_", json.dumps(info).encode(), ephemeral=True, sequence=True)
    loop = IOLoop.current()

    def watch(children: list[str]) -> None:
        members = sorted(
            (int(c.rsplit("_", 1)[1]), c) for c in children if c.startswith("json.info_")
        )
        leader = None
        if members:
            data, _ = zk.get(f"{path}/{members[0][1]}")
            address = json.loads(data)["address"]
            leader = f"{address['ip']}:{address['port']}"
        loop.add_callback(setattr, master, "leader", leader)

    zk.ChildrenWatch(path, watch)
    master.zk = zk  # connected for the life of the process


def container_problem(container: dict[str, Any], runs: str) -> str | None:
    """Why an agent would fail a launch with this ``ContainerInfo`` (``None``: it would not)."""
    kind = container.get("type")
    if kind not in ("DOCKER", "MESOS"):
        return f"unknown ContainerInfo.type {kind!r}"
    if kind == "DOCKER" and not container.get("docker", {}).get("image"):
        return "ContainerInfo.docker.image is required for type DOCKER"
    for volume in container.get("volumes", []):
        if not volume.get("container_path") or volume.get("mode") not in ("RO", "RW"):
            return f"bad volume {volume!r}"
        if "image" in volume and volume["image"].get("type") not in ("DOCKER", "APPC"):
            return f"bad volume image {volume['image']!r}"
    if kind.lower() not in {k.strip() for k in runs.split(",")}:
        return f"this agent has no {kind} containerizer"
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--zk", help="HOSTS/PATH of the masters' group")
    parser.add_argument("--agents", type=int, default=3)
    parser.add_argument("--heartbeat", type=float, default=1.0)
    parser.add_argument("--leader", help="HOST:PORT of the leader: this one only redirects")
    parser.add_argument("--containers", action="append", default=[], metavar="AGENT_ID=KINDS")
    args = parser.parse_args()
    containers = dict(spec.split("=", 1) for spec in args.containers)
    master = Master(args.port, args.agents, args.heartbeat, containers)
    app = tornado.web.Application(
        [
            (r"/api/v1/scheduler", Call, {"master": master}),
            (r"/double/(\w+)", Hook, {"master": master}),
        ]
    )
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(128)
    sock.setblocking(False)

    async def run() -> None:
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets([sock])
        if args.leader:
            master.leader = args.leader
        if args.zk:
            master.leader = None
            join_zk(master, args.zk)
        print(f"master double on 127.0.0.1:{args.port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


if __name__ == "__main__":
    main()

"""The scheduler's pages (scheduler/pages.py) over the fake host of the update tests: what the
job page shows of a paused update, every value escaped, the security headers, HTML errors,
and the Host check on the pages and their static files. The browser test
(tests/scheduler/test_scheduler_browser.py) drives the same pages in Chromium."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import tornado.httpclient
import tornado.httpserver
import tornado.testing
from test_scheduler_updates import KEY, Host, settle, version

from borealis.contract.requestcheck import allowed_hosts
from borealis.scheduler.app import make_app
from borealis.scheduler.pages import job_view, overview

EVIL = "<script>alert(1)</script>"


@pytest.fixture
def paused(tmp_path: Path) -> Iterator[Host]:
    """Four instances, an update whose canary (instance 0) is done and which is now paused."""
    host = Host(tmp_path)
    settle(host, version("v1", 4))
    command = f"{EVIL} secret-value-42"
    host.scheduler.updates.start(version(command, 4, batch_sizes=[1], canary=1), None, EVIL)
    for _ in range(40):
        host.tick()
        if host.scheduler.updates.records.of_job(KEY)[0].progress.status.value.endswith("PAUSED"):
            break
    yield host
    host.scheduler.store.close()


def test_the_job_view_counts_the_update_and_links_each_run(paused: Host) -> None:
    view = job_view(paused.scheduler, KEY, "http://{host}:1338/")
    progress = view["progress"]
    assert progress.status == "ROLL_FORWARD_PAUSED"
    assert (progress.done, progress.changed) == (1, 4)
    assert progress.phases == {0: "UPDATED", 1: "WAITING", 2: "WAITING", 3: "WAITING"}
    assert [row["phase"] for row in view["instances"]] == ["UPDATED"] + ["WAITING"] * 3
    first = view["instances"][0]
    assert first["link"] == f"http://{first['host']}:1338/task/{first['task_id']}"
    [entry] = view["history"]
    assert entry["diff"] == ["task.processes[0].cmdline", "update.canary"]
    assert [e["status"] for e in entry["events"]] == ["ROLLING_FORWARD", "ROLL_FORWARD_PAUSED"]
    [(role, [job])] = overview(paused.scheduler)["roles"]
    assert (role, job["key"], job["update"].done) == ("r", KEY, 1)


def get(host: Host, path: str, **headers: str) -> tornado.httpclient.HTTPResponse:
    async def run() -> tornado.httpclient.HTTPResponse:
        sock, port = tornado.testing.bind_unused_port()
        app = make_app(host.scheduler, token="t", allowed_hosts=allowed_hosts("127.0.0.1"))
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets([sock])
        client = tornado.httpclient.AsyncHTTPClient()
        try:
            return await client.fetch(
                f"http://127.0.0.1:{port}{path}", headers=headers, raise_error=False
            )
        finally:
            server.stop()
            await server.close_all_connections()

    return asyncio.run(run())


@pytest.mark.parametrize("path", ["/", "/fragments/jobs", f"/job/{KEY}", f"/fragments/job/{KEY}"])
def test_pages_escape_every_value_and_run_only_their_own_script(paused: Host, path: str) -> None:
    reply = get(paused, path)
    assert reply.code == 200
    assert reply.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self';" in reply.headers["Content-Security-Policy"]
    assert reply.headers["X-Frame-Options"] == "DENY"
    body = reply.body.decode()
    assert "<script>alert" not in body
    if "job/" in path:
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body  # the user who started it
        # a config's values are not public: the changed field is named, its value is not
        assert "task.processes[0].cmdline" in body
        assert "secret-value-42" not in body


def test_a_missing_job_is_an_html_404(paused: Host) -> None:
    reply = get(paused, "/job/c/r/e/nope")
    assert reply.code == 404
    assert reply.headers["Content-Type"].startswith("text/html")
    assert "no job c/r/e/nope" in reply.body.decode()
    assert get(paused, "/no/such/page").code == 404


@pytest.mark.parametrize("path", ["/", f"/job/{KEY}", "/static/scheduler.css"])
def test_a_foreign_host_gets_nothing(paused: Host, path: str) -> None:
    assert get(paused, path).code == 200
    assert get(paused, path, Host="rebound.example").code == 421


@pytest.mark.parametrize("path", [f"/job/{KEY}/0", f"/fragments/job/{KEY}/0"])
def test_an_instance_page_lists_every_run_with_every_state(paused: Host, path: str) -> None:
    reply = get(paused, path)
    assert reply.code == 200, reply.body
    body = reply.body.decode()
    runs = [t for t in paused.scheduler.store.tasks(KEY) if t.instance == 0]
    assert len(runs) == 2  # the canary replaced the first run
    newest, oldest = sorted(runs, key=lambda t: t.created, reverse=True)
    assert body.index(newest.task_id) < body.index(oldest.task_id)  # newest first
    for run in runs:
        for event in paused.scheduler.store.history(run.task_id):
            assert f'<span class="state">{event["state"]}</span>' in body
    assert "KILLED" in body and "RUNNING" in body and "PENDING" in body
    assert "<script>alert" not in body and "secret-value-42" not in body
    assert f'href="/job/{KEY}/0"' in get(paused, f"/job/{KEY}").body.decode()


def test_a_missing_instance_is_an_html_404(paused: Host) -> None:
    reply = get(paused, f"/job/{KEY}/7")
    assert reply.code == 404
    assert f"no instance 7 in {KEY}" in reply.body.decode()
    assert get(paused, "/job/c/r/e/nope/0").code == 404

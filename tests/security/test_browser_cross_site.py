"""The cross-site attack, driven through a real headless Chromium: a page served from another
loopback origin (what any site the operator visits can do) POSTs ``text/plain`` (no CORS
preflight) to the agent's launch and the scheduler's jobs endpoint, and a DNS-rebinding style
request reaches the observer under a foreign Host. Nothing may be launched or created."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import playwright.sync_api as playwright  # a test dependency: missing is a failure
import pytest
from daemons import Daemon, executors, job, task_info

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: ./scripts/test installs the Debian package")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            # the attacker's DNS: rebind.example now resolves to this host's loopback
            args=["--no-sandbox", "--host-resolver-rules=MAP rebind.example 127.0.0.1"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def evil_site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A web server on another loopback port: the attacker's origin, serving ``site/``."""
    site = tmp_path / "site"
    site.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(site), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}", site
    finally:
        server.shutdown()
        server.server_close()


ATTACK = """<!DOCTYPE html><html><body><script>
async function attack() {
  const shots = %s;
  const done = [];
  for (const [url, body] of shots) {
    try {
      await fetch(url, {method: "POST", mode: "no-cors", body: body,
                        headers: {"Content-Type": "text/plain"}});
      done.push("sent");
    } catch (e) { done.push("error " + e); }
  }
  document.title = "done " + done.join(",");
}
attack();
</script></body></html>"""


def test_a_cross_site_page_cannot_launch_or_create_anything(
    browser: object,
    evil_site: tuple[str, Path],
    agent: Daemon,
    scheduler: Daemon,
    tmp_path: Path,
) -> None:
    origin, site = evil_site
    marker = tmp_path / "pwned"
    launch = {"task_info": task_info("x1"), "executor_command": f"id > {marker}"}
    shots = [
        [f"{agent.url}/api/v1/agent/launch", json.dumps(launch)],
        [f"{scheduler.url}/api/v1/jobs", json.dumps(job("pwn", f"id > {marker}"))],
    ]
    (site / "index.html").write_text(ATTACK % json.dumps(shots))
    context = browser.new_context()  # type: ignore[attr-defined]
    try:
        page = context.new_page()
        page.goto(f"{origin}/index.html")
        page.wait_for_function("document.title.startsWith('done')", timeout=20000)
        assert page.title() == "done sent,sent", page.title()  # the requests did go out
    finally:
        context.close()
    assert executors(agent) == [], "the agent launched an executor for a foreign page"
    assert scheduler.request("GET", "/api/v1/jobs").json()["jobs"] == []
    assert not marker.exists()
    for daemon in (agent, scheduler):
        assert "Traceback" not in daemon.logged()


def test_a_rebinding_page_reads_nothing_from_the_observer(
    browser: object, observer: Daemon, agent: Daemon
) -> None:
    """The attacker's name resolves to 127.0.0.1 (Chromium's host resolver rule stands in for
    the attacker's DNS): the page and the daemon are the same origin for the browser, so only
    the daemon's Host check stands between the page and the tasks' logs and files."""
    context = browser.new_context()  # type: ignore[attr-defined]
    try:
        page = context.new_page()
        for daemon, path in ((observer, "/api/v1/tasks"), (agent, "/api/v1/agent/state")):
            reply = page.goto(f"http://rebind.example:{daemon.port}{path}")
            assert reply is not None and reply.status == 421, (daemon.name, reply and reply.status)
            assert '"tasks"' not in page.content() and '"executors"' not in page.content()
    finally:
        context.close()

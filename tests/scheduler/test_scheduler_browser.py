"""The scheduler's page in a real Chromium: roles, jobs and instances with state and host, and
each instance linking to its task page on the observer (which finds it under the agent's work
directory)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import playwright.sync_api as playwright  # a test dependency: missing is a failure
import pytest
from cluster import Embedded, SchedulerProcess
from support import REPO, borealis, wait_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
KEY = "local/www-data/devel/two"
CONFIG = """
jobs = [Service(cluster='local', role='www-data', environment='devel', name='two', instances=2,
                task=Task(name='two', processes=[Process(name='p', cmdline='sleep 100000')],
                          resources=Resources(cpu=0.1, ram=32*MB, disk=32*MB)))]
"""


@pytest.fixture
def observer_url(cluster: Embedded) -> Iterator[str]:
    log = cluster.base / "observer.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "borealis.cli.main",
                "observer",
                "--port",
                "0",
                "--mesos-root",
                str(cluster.agent.work_dir),
                "--reconcile-interval",
                "1",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
    try:
        url = wait_for(
            lambda: (m := re.search(r"http://127\.0\.0\.1:\d+/", log.read_text())) and m.group(0),
            30,
            "the observer",
        )
        yield url.rstrip("/")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def observer_login(cluster: Embedded) -> str:
    """The URL with ``?token=`` the observer printed: opening it logs the browser in."""
    log = (cluster.base / "observer.log").read_text()
    found = re.search(r"http://127\.0\.0\.1:\d+/\?token=[A-Za-z0-9_-]+", log)
    assert found, log
    return found.group(0)


def restart_with_observer(scheduler: SchedulerProcess, observer: str) -> None:
    scheduler.stop()
    scheduler.extra = (*scheduler.extra, "--observer-url", observer)
    scheduler.start()


def test_scheduler_page_lists_instances_and_links_to_the_observer(
    cluster: Embedded, observer_url: str
) -> None:
    restart_with_observer(cluster.scheduler, observer_url)
    config = cluster.base / "two.aurora"
    config.write_text(CONFIG)
    created = borealis(
        "job", "--clusters", str(cluster.scheduler.clusters), "create", KEY, str(config)
    )
    assert created.returncode == 0, created.stderr
    wait_for(lambda: cluster.scheduler.states(KEY) == ["RUNNING", "RUNNING"], 60, "2 RUNNING")
    task_ids = [t["task_id"] for t in cluster.scheduler.tasks(KEY)]
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: ./scripts/test installs the Debian package")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page()
        page.set_default_timeout(15000)
        page.goto(observer_login(cluster))  # the observer's cookie, then its links work
        page.goto(cluster.scheduler.url + "/")
        rows = page.locator("tbody tr")
        assert rows.count() == 2
        first = rows.nth(0).inner_text()
        assert "www-data" in first and KEY in first and "RUNNING" in first
        page.click(f"a:text-is('{task_ids[0]}')")
        page.wait_for_url(f"{observer_url}/task/{task_ids[0]}")
        page.locator("h1").first.wait_for()
        assert "ACTIVE" in page.locator("h1").first.inner_text()
        assert page.locator("a:text-is('p')").count() == 1
        browser.close()

"""The scheduler's pages in a real Chromium: the jobs by role, each job's page with its
instances (each linking to its task page on the observer, which finds it under the agent's
work directory), its running update and its update history, refreshed in place."""

from __future__ import annotations

import os
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
        role = page.locator("section.role")
        assert role.locator("h2").inner_text().startswith("www-data")
        assert "RUNNING 2" in role.locator("tr.job").inner_text()
        page.click(f"a:text-is('{KEY}')")
        page.wait_for_url(f"{cluster.scheduler.url}/job/{KEY}")
        rows = page.locator("table.instances tbody tr")
        assert rows.count() == 2
        first = rows.nth(0).inner_text()
        assert "RUNNING" in first and task_ids[0] in first
        # the instance page: its run with every state it took, a way back to the job
        rows.nth(0).locator("a:text-is('0')").click()
        page.wait_for_url(f"{cluster.scheduler.url}/job/{KEY}/0")
        states = page.locator("section.run table.events tbody tr span.state").all_inner_texts()
        assert states[0] == "PENDING" and states[-1] == "RUNNING", states
        assert task_ids[0] in page.locator("section.run h2").inner_text()
        page.click(f"a.crumb:text-is('{KEY}')")
        page.wait_for_url(f"{cluster.scheduler.url}/job/{KEY}")
        page.click(f"a:text-is('{task_ids[0]}')")
        page.wait_for_url(f"{observer_url}/task/{task_ids[0]}")
        page.locator("h1").first.wait_for()
        assert "ACTIVE" in page.locator("h1").first.inner_text()
        assert page.locator("a:text-is('p')").count() == 1
        browser.close()


UPDATED_KEY = "local/www-data/devel/three"
EVIL = "<script>window.pwned=1</script><b>bold</b>"
EVIL_USER = "mallory<script>window.pwned=2</script>"


def three(cmdline: str) -> str:
    """A 3-instance service whose updates go one instance at a time, the first (a canary)
    followed by a pause: a paused update is a state the page can be looked at in."""
    return f"""
jobs = [Service(cluster='local', role='www-data', environment='devel', name='three',
                instances=3,
                update_config=UpdateConfig(batch_size=1, watch_secs=5, canary=1),
                task=Task(name='three', processes=[Process(name='p', cmdline={cmdline!r})],
                          resources=Resources(cpu=0.1, ram=32*MB, disk=32*MB)))]
"""


def update_status(cluster: Embedded) -> str | None:
    update = cluster.scheduler.get(f"/api/v1/jobs/{UPDATED_KEY}")["update"]
    return None if update is None else str(update["status"])


def test_job_page_shows_a_paused_update_and_refreshes_in_place(cluster: Embedded) -> None:
    clusters = str(cluster.scheduler.clusters)
    old, new = cluster.base / "old.aurora", cluster.base / "new.aurora"
    old.write_text(three("sleep 100000"))
    new.write_text(three(f"echo '{EVIL}'; sleep 100000"))
    created = borealis("job", "--clusters", clusters, "create", UPDATED_KEY, str(old))
    assert created.returncode == 0, created.stderr
    wait_for(lambda: cluster.scheduler.states(UPDATED_KEY) == ["RUNNING"] * 3, 60, "3 RUNNING")
    env = {**os.environ, "LOGNAME": EVIL_USER, "USER": EVIL_USER}
    started = borealis(
        "job", "--clusters", clusters, "update", "start", UPDATED_KEY, str(new), env=env
    )
    assert started.returncode == 0, started.stderr
    wait_for(
        lambda: update_status(cluster) == "ROLL_FORWARD_PAUSED",
        60,
        "the canary done and the update paused",
        seen=lambda: update_status(cluster),
    )
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: ./scripts/test installs the Debian package")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 560})
        page.set_default_timeout(15000)

        page.goto(cluster.scheduler.url + "/")
        job = page.locator("tr.job")
        assert "RUNNING 3" in job.inner_text()
        assert job.locator(".badge").inner_text() == "ROLL_FORWARD_PAUSED"
        assert job.locator("progress").get_attribute("value") == "1"
        assert job.locator("progress").get_attribute("max") == "3"
        page.screenshot(path="/tmp/ui-jobs.png", full_page=True)

        page.click(f"a:text-is('{UPDATED_KEY}')")
        page.wait_for_url(f"{cluster.scheduler.url}/job/{UPDATED_KEY}")
        rows = page.locator("table.instances tbody tr")
        assert rows.count() == 3
        assert [rows.nth(i).locator("td").nth(1).inner_text() for i in range(3)] == ["RUNNING"] * 3
        phases = [rows.nth(i).locator("td").nth(4).inner_text() for i in range(3)]
        assert phases == ["UPDATED", "WAITING", "WAITING"]
        running = page.locator("#running")
        assert running.locator(".badge").inner_text() == "ROLL_FORWARD_PAUSED"
        assert "1/3 updated" in running.inner_text()
        assert "UPDATED 1" in running.locator(".phases").inner_text()
        assert running.locator("ol.chips li").count() == 3

        # the history: the update's user, its diff and its events, every value as text
        entry = page.locator("details.update").first
        assert entry.get_attribute("open") is not None
        assert entry.locator(".who").inner_text() == EVIL_USER
        diff = entry.locator("table.diff tbody tr", has_text="task.processes[0].cmdline")
        assert diff.count() == 1
        assert "sleep 100000" not in entry.inner_text()  # values need the token
        events = entry.locator("table.events").inner_text()
        assert "ROLLING_FORWARD" in events and "ROLL_FORWARD_PAUSED" in events
        assert page.locator("main script").count() == 0
        assert page.locator("main b", has_text="bold").count() == 0  # EVIL_USER stays text
        assert page.evaluate("typeof window.pwned") == "undefined"
        page.screenshot(path="/tmp/ui-job.png", full_page=True)

        # live: resumed elsewhere, the page shows it without a reload, where it was scrolled
        page.evaluate("window.notReloaded = true")
        page.evaluate("window.scrollTo(0, 250)")
        assert page.evaluate("window.scrollY") == 250
        resumed = borealis("job", "--clusters", clusters, "update", "resume", UPDATED_KEY)
        assert resumed.returncode == 0, resumed.stderr
        page.locator("#running .badge", has_text="ROLLING_FORWARD").wait_for(timeout=30000)
        assert page.evaluate("window.notReloaded") is True
        assert page.evaluate("window.scrollY") == 250
        page.locator("details.update .badge", has_text="ROLLED_FORWARD").first.wait_for(
            timeout=60000
        )
        assert page.locator("#running").count() == 0
        assert page.evaluate("window.notReloaded") is True
        page.screenshot(path="/tmp/ui-job-done.png", full_page=True)
        browser.close()

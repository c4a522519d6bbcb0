"""The observer in a real Chromium (Debian ``chromium`` driven by Playwright, headless).

An engineer's path through the UI: the host page, a task, a process's log with live
follow, paging back across rotations to the start, the sandbox browser, a download; and
hostile names and log lines staying inert text.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import playwright.sync_api as playwright  # a test dependency: missing is a failure
import pytest
from observing import Host
from support import borealis

from borealis.contract.logs import rotated

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
Page = playwright.Page


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: ./scripts/test installs the Debian package")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: object, host: Host) -> Iterator[Page]:
    context = browser.new_context(base_url=host.observer.url, accept_downloads=True)  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(host.observer.login_url)  # sets the cookie, then redirects to the host page
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: problems.append(f"dialog: {d.message}"))
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    yield page
    context.close()
    assert problems == [], problems


def ticks(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"tick (\d+)", text)]


def test_host_page_task_page_and_a_followed_log(page: Page) -> None:
    page.goto("/")
    active = page.locator("#active")
    assert "Active tasks" in active.inner_text()
    assert page.locator("#finished tr", has_text="killed").count() == 1
    page.click("#active a:text-is('live')")
    page.wait_for_url("**/task/live")
    ticker = page.locator("tr", has=page.locator("a:text-is('ticker')"))
    assert "RUNNING" in ticker.inner_text()
    # the Resources table is as wide as its three short columns, not the page (issue #16: its
    # empty label column took ~40 % of the width)
    label = page.locator("table.resources tbody th").first.bounding_box()
    body = page.locator("body").bounding_box()
    assert label is not None and body is not None
    assert label["width"] < 0.15 * body["width"], (label, body)
    ticker.locator("a:text-is('stdout')").click()
    page.wait_for_url("**/logs/live/ticker/0/stdout")
    content = page.locator("#content")
    page.wait_for_function("() => document.getElementById('content').textContent.includes('tick ')")
    assert page.locator("#follow").is_checked()
    seen = max(ticks(content.inner_text()))
    page.wait_for_function(
        f"() => document.getElementById('content').textContent.includes('tick {seen + 3}\\n')"
    )
    shown = ticks(content.inner_text())
    assert shown == list(range(shown[0], shown[-1] + 1))  # followed with no gap or repeat


def test_paging_back_across_rotations_to_the_start(page: Page, host: Host) -> None:
    live = host.sandbox("live") / ".logs" / "chatter" / "0" / "stdout"
    assert rotated(live, 2).exists()
    page.goto("/logs/live/chatter/0/stdout")
    page.wait_for_function(
        "() => document.getElementById('content').textContent.includes('chatter 010000')"
    )
    content = page.locator("#content")
    first_line = content.inner_text().lstrip().splitlines()[0]
    page.click("#older")
    shown = "document.getElementById('content').textContent.trimStart()"
    page.wait_for_function(f"() => !{shown}.startsWith({first_line!r})")
    assert len(content.inner_text()) > 64 * 1024
    page.click("#to-start")
    page.wait_for_function(
        "() => document.getElementById('content').textContent.startsWith('chatter 000001')"
    )
    page.click("#newer")  # read on, across the first rotation
    marker = page.locator("#content .rotation").first
    marker.wait_for()
    assert re.search(r"stdout\.\d+ ends here; stdout(\.\d+)? continues", marker.inner_text())
    text = content.inner_text()
    numbers = [int(n) for n in re.findall(r"chatter (\d+)", text)]
    assert numbers == list(range(1, len(numbers) + 1))  # nothing lost at the rotation


def test_sandbox_browser_view_and_download(page: Page, tmp_path: Path) -> None:
    page.goto("/task/p1")
    page.click("a:text-is('" + page.locator("table.facts a").first.inner_text() + "')")
    page.wait_for_url("**/browse/p1/")
    page.click("a:text-is('sub/')")
    page.click("a:text-is('dir/')")
    page.wait_for_url("**/browse/p1/sub/dir")
    page.click("a:text-is('file.txt')")
    page.wait_for_function(
        "() => document.getElementById('content').textContent === 'nested file\\n'"
    )
    page.goto("/browse/p1/")
    row = page.locator("tr", has=page.locator("a:text-is('secret.txt')"))
    with page.expect_download() as info:
        row.locator("a:text-is('download')").click()
    target = tmp_path / "secret.txt"
    info.value.save_as(target)
    assert info.value.suggested_filename == "secret.txt"
    assert target.read_bytes() == b"secret-of-p1\n"


def test_hostile_names_and_log_lines_stay_text(page: Page) -> None:
    page.goto("/task/xss")
    assert page.locator("h1").first.inner_text().startswith("<b onmouseover=alert(4)>xss")
    assert page.locator("a:text-is('<script>alert(1)')").count() == 1
    assert page.locator("main img, main b, main script").count() == 0
    page.locator("tr", has=page.locator("a:text-is('<img src=x onerror=alert(2)>')")).locator(
        "a:text-is('stdout')"
    ).click()
    page.wait_for_function(
        "() => document.getElementById('content').textContent.includes('<img src=x onerror')"
    )
    assert page.locator("#content img").count() == 0
    assert page.evaluate("window.__xss") is None


def test_host_page_refreshes_without_reloading(page: Page, host: Host) -> None:
    page.goto("/")
    page.evaluate("window.__same_page = true")
    config = host.configs / "ok.aurora"
    done = borealis("run", str(config), "--root", str(host.root.path), "--task-id", "fresh", "-q")
    assert done.returncode == 0, done.stderr
    page.locator("#finished a:text-is('fresh')").wait_for(timeout=20000)
    assert page.evaluate("window.__same_page") is True

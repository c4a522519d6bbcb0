"""The observer's JSON API over real tasks run by the runner (see conftest.py for the host)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from observing import Host, start_observer, stop_observer
from support import REPO, borealis, wait_for

from borealis.contract.logs import rotated
from borealis.contract.replay import load


def chain_bytes(live: Path) -> bytes:
    """The logical stream on disk: rotated files oldest first, then the live one."""
    index = 1
    while rotated(live, index).exists():
        index += 1
    parts = [rotated(live, i).read_bytes() for i in range(index - 1, 0, -1)]
    return b"".join(parts) + (live.read_bytes() if live.exists() else b"")


def test_task_list_counts_states_and_pages(host: Host) -> None:
    obs = host.observer
    everything = obs.json("/api/v1/tasks?limit=100")
    states = {row["task_id"]: row["state"] for row in everything["tasks"]}
    assert states == {
        "ok": "SUCCESS",
        "failed": "FAILED",
        "killed": "KILLED",
        "rotated": "SUCCESS",
        "live": "ACTIVE",
        "xss": "SUCCESS",
        "p1": "SUCCESS",
        "p10": "SUCCESS",
    }
    assert everything["counts"] == {"active": 1, "finished": 7, "all": 8}
    active = obs.json("/api/v1/tasks?state=active")
    assert [row["task_id"] for row in active["tasks"]] == ["live"]
    assert active["tasks"][0]["processes"] == {"running": 5}
    by_id = obs.json("/api/v1/tasks?sort=task_id&order=asc&offset=2&limit=3")
    assert [row["task_id"] for row in by_id["tasks"]] == ["live", "ok", "p1"]
    assert by_id["total"] == 8
    newest_first = obs.json("/api/v1/tasks?limit=100")["tasks"]
    launches = [row["launch_time"] for row in newest_first]
    assert launches == sorted(launches, reverse=True)
    assert sorted(r["task_id"] for r in obs.json("/api/v1/tasks?q=P1")["tasks"]) == ["p1", "p10"]


def test_bad_list_arguments_are_refused_with_a_reason(host: Host) -> None:
    for query, words in [
        ("state=running", "state must be"),
        ("sort=password", "sort must be"),
        ("order=sideways", "order must be"),
        ("offset=-4", "offset must be at least 0"),
        ("limit=zero", "limit must be an integer"),
        ("limit=0", "limit must be at least 1"),
    ]:
        resp = host.observer.get(f"/api/v1/tasks?{query}")
        assert resp.status == 400, query
        assert words in resp.json()["error"], (query, resp.json())


def test_finished_failed_and_killed_tasks_say_why(host: Host) -> None:
    obs = host.observer
    failed = obs.json("/api/v1/tasks/failed")
    assert failed["state"] == "FAILED" and not failed["active"]
    boom = failed["processes"]["boom"]
    assert [run["state"] for run in boom] == ["FAILED"]
    assert boom[0]["return_code"] == 3
    assert failed["history"][0]["state"] == "ACTIVE"
    killed = obs.json("/api/v1/tasks/killed")
    assert killed["state"] == "KILLED"
    assert killed["processes"]["sleeper"][-1]["state"] == "KILLED"
    ok = obs.json("/api/v1/tasks/ok")
    state = load(host.root.task("ok").runner_stream)
    assert ok["launch_time"] == state.header.launch_time  # type: ignore[union-attr]
    assert ok["processes"]["hello"][0]["return_code"] == 0
    process = obs.json("/api/v1/tasks/failed/processes/boom")
    assert process["cmdline"].startswith("echo about to fail")
    assert process["runs"][0]["return_code"] == 3
    both = obs.json("/api/v1/tasks/failed/processes")
    assert list(both) == ["boom"]
    config = obs.json("/api/v1/tasks/failed/config")
    assert config["name"] == "failed" and config["processes"][0]["name"] == "boom"
    assert obs.get("/api/v1/tasks/failed/processes/nope").status == 404
    assert obs.get("/api/v1/tasks/nope").status == 404


def test_active_task_shows_resources_against_its_reservation(host: Host) -> None:
    obs = host.observer
    doc = wait_for(
        lambda: (
            (d := obs.json("/api/v1/tasks/live"))["resources"]
            and d["resources"]["task"]["procs"] >= 5
            and d
        ),
        timeout=30,
        what="a resource sample of the live task",
    )
    assert doc["active"] and doc["state"] == "ACTIVE"
    assert doc["reserved"] == {"cpu": 1.0, "ram": 256 << 20, "disk": 512 << 20}
    task_usage = doc["resources"]["task"]
    assert task_usage["procs"] >= 5 and task_usage["rss"] > 0
    row = next(r for r in obs.json("/api/v1/tasks?state=active")["tasks"])
    assert row["rss"] == task_usage["rss"] or row["rss"] > 0
    ticker = obs.json("/api/v1/tasks/live/processes/ticker")
    assert ticker["runs"][-1]["used"]["rss"] > 0
    history = obs.json("/api/v1/tasks/live/resources")
    assert history["samples"] and history["samples"][-1]["task"]["procs"] >= 5
    finished = obs.json("/api/v1/tasks/ok")
    assert finished["resources"] is None  # figures of an ended task are not shown as current


def test_log_reads_cross_rotations_as_one_stream(host: Host) -> None:
    obs = host.observer
    live = host.sandbox("rotated") / ".logs" / "writer" / "0" / "stdout"
    expected = chain_bytes(live)
    assert rotated(live, 5).exists(), "the writer should have rotated several times"
    got = b""
    files: list[str] = []
    cursor = "start"
    while True:
        page = obs.json(f"/api/v1/tasks/rotated/logs/writer/0/stdout?cursor={cursor}&length=50000")
        if not page["chunks"]:
            break
        for chunk in page["chunks"]:
            got += chunk["data"].encode()
            if not files or files[-1] != chunk["file"]:
                files.append(chunk["file"])
        cursor = page["end"]
    assert got == expected
    assert files[-1] == "stdout" and files[0].startswith("stdout.")
    assert len(files) >= 6  # every file of the chain, oldest first


def test_log_pages_backwards_to_the_start(host: Host) -> None:
    obs = host.observer
    live = host.sandbox("rotated") / ".logs" / "writer" / "0" / "stdout"
    expected = chain_bytes(live)
    page = obs.json("/api/v1/tasks/rotated/logs/writer/0/stdout?cursor=end&direction=backward")
    got = "".join(c["data"] for c in page["chunks"]).encode()
    assert expected.endswith(got) and len(got) == 64 * 1024
    pages = 1
    while not page["at_start"]:
        page = obs.json(
            f"/api/v1/tasks/rotated/logs/writer/0/stdout?cursor={page['start']}"
            "&direction=backward&length=40000"
        )
        got = "".join(c["data"] for c in page["chunks"]).encode() + got
        pages += 1
        assert pages < 100
    assert got == expected


def test_log_follow_long_polls_for_new_lines(host: Host) -> None:
    obs = host.observer
    end = obs.json("/api/v1/tasks/live/logs/ticker/0/stdout?cursor=end&length=0")["end"]
    page = obs.json(f"/api/v1/tasks/live/logs/ticker/0/stdout?cursor={end}&wait=10")
    text = "".join(c["data"] for c in page["chunks"])
    assert text.startswith("tick ") and page["start"] == end
    again = obs.json(f"/api/v1/tasks/live/logs/ticker/0/stdout?cursor={page['end']}&wait=10")
    following = "".join(c["data"] for c in again["chunks"])
    first = int(text.split()[1])
    assert following.split()[1] == str(first + len(text.splitlines()))  # no line lost or repeated


def test_log_cursor_of_a_rotated_file_stays_valid(host: Host) -> None:
    """A cursor taken in the live file reads on after that file became stdout.N."""
    obs = host.observer
    live = host.sandbox("live") / ".logs" / "chatter" / "0" / "stdout"
    expected = chain_bytes(live)
    first = obs.json("/api/v1/tasks/live/logs/chatter/0/stdout?cursor=start&length=1000")
    assert first["chunks"][0]["file"].startswith("stdout.")
    rest = obs.json(
        f"/api/v1/tasks/live/logs/chatter/0/stdout?cursor={first['end']}&length=1000000"
    )
    got = "".join(c["data"] for c in first["chunks"] + rest["chunks"]).encode()
    assert got == expected
    bad = obs.get("/api/v1/tasks/live/logs/chatter/0/stdout?cursor=zzz")
    assert bad.status == 400 and "bad cursor" in bad.json()["error"]
    gap = obs.json("/api/v1/tasks/live/logs/chatter/0/stdout?cursor=1:5&length=10")
    assert gap["gap"] and gap["chunks"][0]["cursor"].endswith(":0")
    assert obs.get("/api/v1/tasks/live/logs/chatter/7/stdout").status == 404
    assert obs.get("/api/v1/tasks/live/logs/chatter/0/stdin").status == 404


def test_file_listing_range_reads_and_download(host: Host) -> None:
    obs = host.observer
    listing = obs.json("/api/v1/tasks/p1/files/")
    names = {e["name"]: e for e in listing["entries"]}
    assert names["secret.txt"]["type"] == "file" and names["secret.txt"]["size"] == 13
    assert names["passwd_link"]["type"] == "link" and names["sub"]["type"] == "dir"
    assert names["pipe"]["type"] == "other"
    assert obs.json("/api/v1/tasks/p1/files/sub")["entries"][0]["name"] == "dir"
    whole = obs.json("/api/v1/tasks/p1/files/secret.txt")
    assert whole["data"] == "secret-of-p1\n" and whole["eof"] and whole["size"] == 13
    part = obs.json("/api/v1/tasks/p1/files/secret.txt?offset=7&length=2")
    assert (part["offset"], part["data"], part["eof"]) == (7, "of", False)
    tail = obs.json("/api/v1/tasks/p1/files/secret.txt?offset=-1&length=3")
    assert (tail["offset"], tail["data"]) == (10, "p1\n")
    utf8 = obs.json("/api/v1/tasks/p1/files/utf8.txt")
    assert utf8["data"] == "café naïve\n"
    big = host.sandbox("rotated") / ".logs" / "writer" / "0" / "stdout.1"
    capped = obs.json("/api/v1/tasks/rotated/files/.logs/writer/0/stdout.1?length=999999999")
    assert capped["length"] == min(big.stat().st_size, 1 << 20)
    download = obs.get("/download/rotated/.logs/writer/0/stdout.1")
    assert download.status == 200 and download.body == big.read_bytes()
    assert download.headers["content-type"] == "application/octet-stream"
    assert "attachment" in download.headers["content-disposition"]
    assert obs.get("/api/v1/tasks/p1/files/secret.txt?offset=x").status == 400


def test_pages_render_for_every_kind_of_task(host: Host) -> None:
    obs = host.observer
    for path, words in [
        ("/", ["Active tasks", "Finished tasks", "live", "killed"]),
        ("/task/failed", ["FAILED", "boom", "/logs/failed/boom/0/stderr"]),
        ("/task/live", ["ticker", "chatter", "Resources", "reserved"]),
        ("/task/failed/config", ["Interpolated task", "&quot;boom&quot;"]),
        ("/process/failed/boom", ["echo about to fail", "stdout"]),
        (
            "/logs/rotated/writer/0/stdout",
            ['data-api="/api/v1/tasks/rotated/logs/writer/0/stdout"'],
        ),
        ("/browse/p1/", ["secret.txt", "sub/"]),
        ("/browse/p1/sub/dir", ["file.txt"]),
        ("/file/p1/secret.txt", ['data-mode="file"']),
        ("/fragments/tasks/active", ["live"]),
        ("/fragments/task/live", ["ticker"]),
    ]:
        resp = obs.get(path)
        assert resp.status == 200, (path, resp.status, resp.text[:300])
        for word in words:
            assert word in resp.text, (path, word)
    assert obs.get("/task/nope").status == 404
    assert obs.get("/process/ok/nope").status == 404
    assert obs.get("/logs/ok/hello/3/stdout").status == 404


def test_health_and_prometheus_metrics(host: Host) -> None:
    obs = host.observer
    assert obs.get("/health").text == "OK\n"
    wait_for(lambda: obs.json("/api/v1/tasks/live")["resources"], 30, "a sample")
    metrics = obs.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = metrics.text
    assert 'borealis_observer_tasks{state="active"} 1.0' in text
    assert 'borealis_observer_tasks{state="finished"} 7.0' in text
    assert 'borealis_task_rss_bytes{name="live",task_id="live"}' in text
    assert 'borealis_process_cpu_cores{process="ticker",task_id="live"}' in text
    assert "borealis_observer_requests_total{" in text
    assert "process_resident_memory_bytes" in text


def test_observer_reads_the_v1_fixture(tmp_path: Path) -> None:
    fixture = tmp_path / "v1"
    shutil.copytree(REPO / "tests" / "fixtures" / "v1", fixture, symlinks=True)
    obs = start_observer(tmp_path / "obs.log", "--root", str(fixture))
    try:
        tasks = obs.json("/api/v1/tasks")["tasks"]
        assert tasks, "the fixture holds at least one task"
        for row in tasks:
            doc = obs.json(f"/api/v1/tasks/{row['task_id']}")
            state = load(fixture / "checkpoints" / row["task_id"] / "runner")
            assert doc["state"] == state.task_state.value  # type: ignore[union-attr]
            assert set(doc["processes"]) >= set(state.processes)
            for name, runs in state.processes.items():
                assert [r["state"] for r in doc["processes"][name]] == [r.state.value for r in runs]
            assert obs.get(f"/task/{row['task_id']}").status == 200
    finally:
        stop_observer(obs)


def test_new_and_finishing_tasks_appear_without_a_restart(host: Host, tmp_path: Path) -> None:
    obs = host.observer
    config = host.configs / "ok.aurora"
    done = borealis("run", str(config), "--root", str(host.root.path), "--task-id", "late", "-q")
    assert done.returncode == 0, done.stderr

    def late() -> dict[str, Any] | None:
        rows = obs.json("/api/v1/tasks?limit=100")["tasks"]
        return next((r for r in rows if r["task_id"] == "late" and not r["active"]), None)

    row = wait_for(late, timeout=15, what="the new task in the list, finished")
    assert row["state"] == "SUCCESS"
    assert obs.json("/api/v1/tasks/late")["processes"]["hello"][0]["return_code"] == 0
    shutil.rmtree(host.root.checkpoints_dir / "late")
    (host.root.finished_dir / "late").unlink()
    shutil.rmtree(host.root.sandboxes_dir / "late")
    wait_for(lambda: obs.get("/api/v1/tasks/late").status == 404, timeout=15, what="the task to go")

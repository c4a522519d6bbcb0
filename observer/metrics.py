"""``/metrics`` in the Prometheus text format (``prometheus_client``).

Per-task and per-process gauges are produced at scrape time from what the store already
holds (no extra disk reads); the observer's own figures are a request counter and latency
histogram, the store's refresh and reconcile durations, and the standard ``process_*``
metrics of the observer process.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from .base import BaseHandler
from .store import TaskStore

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class StoreCollector(Collector):
    def __init__(self, store: TaskStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        counts = self.store.counts()
        tasks = GaugeMetricFamily("borealis_observer_tasks", "Tasks observed", labels=["state"])
        for which in ("active", "finished"):
            tasks.add_metric([which], counts[which])
        yield tasks
        yield GaugeMetricFamily(
            "borealis_observer_duplicate_task_ids",
            "Task ids found under more than one checkpoint root (only the first is shown)",
            value=self.store.duplicates,
        )
        yield GaugeMetricFamily(
            "borealis_observer_refresh_seconds",
            "Duration of the last pass over the active tasks",
            value=self.store.last_refresh_seconds,
        )
        yield GaugeMetricFamily(
            "borealis_observer_reconcile_seconds",
            "Duration of the last listing of the checkpoint roots",
            value=self.store.last_reconcile_seconds,
        )
        task_labels = ["task_id", "name"]
        cpu = GaugeMetricFamily(
            "borealis_task_cpu_cores", "CPU used by the task", labels=task_labels
        )
        rss = GaugeMetricFamily("borealis_task_rss_bytes", "RSS of the task", labels=task_labels)
        disk = GaugeMetricFamily(
            "borealis_task_disk_bytes", "Disk allocated in the sandbox", labels=task_labels
        )
        up = GaugeMetricFamily(
            "borealis_task_active",
            "1 for an active task (one series per state)",
            labels=[*task_labels, "state"],
        )
        proc_labels = ["task_id", "process"]
        pcpu = GaugeMetricFamily(
            "borealis_process_cpu_cores", "CPU used by a process's current run", labels=proc_labels
        )
        prss = GaugeMetricFamily(
            "borealis_process_rss_bytes", "RSS of a process's current run", labels=proc_labels
        )
        for task in self.store.tasks.values():
            if task.finished:
                continue
            labels = [task.task_id, task.row.get("name") or ""]
            up.add_metric([*labels, task.row.get("state", "")], 1)
            sample = task.sample
            if sample is None:
                continue
            cpu.add_metric(labels, sample.task.cpu)
            rss.add_metric(labels, sample.task.rss)
            if sample.task.disk_allocated is not None:
                disk.add_metric(labels, sample.task.disk_allocated)
            for name, usage in sample.processes.items():
                pcpu.add_metric([task.task_id, name], usage.cpu)
                prss.add_metric([task.task_id, name], usage.rss)
        yield from (up, cpu, rss, disk, pcpu, prss)


class Metrics:
    """The observer's registry and its own instruments."""

    def __init__(self, store: TaskStore) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(StoreCollector(store))
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "borealis_observer_requests",
            "HTTP requests served",
            ["handler", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "borealis_observer_request_seconds",
            "Time to serve a request",
            ["handler"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30),
        )

    def observe(self, handler: str, code: int, seconds: float) -> None:
        self.requests.labels(handler, str(code)).inc()
        self.latency.labels(handler).observe(seconds)


class MetricsHandler(BaseHandler):
    def get(self) -> None:
        metrics: Metrics = self.settings["metrics"]
        self.set_header("Content-Type", CONTENT_TYPE)
        self.finish(generate_latest(metrics.registry))

"""Server metrics for Prometheus, through prometheus_client.

With several worker processes each keeps its own counts; prometheus_client's multiprocess mode
(PROMETHEUS_MULTIPROC_DIR, set by `serve` for --workers > 1) has every worker write them to files
in one folder, and a scrape of any worker sums them all: one /metrics for the whole server.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

disable_created_metrics()  # *_created samples say when a worker started; nothing to scale on


class ServerMetrics:
    """Requests by route and status, request latency, inputs per forward pass, inference time,
    time in the queue, the inputs queued now, requests refused for load, and texts classified:
    how many were longer than the model's window, the windows read, the tokens dropped."""

    def __init__(self):
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "bertft_requests",
            "HTTP requests by route and status code.",
            ["route", "code"],
            registry=r,
        )
        self.errors = Counter(
            "bertft_request_errors",
            "HTTP requests answered with a 4xx or 5xx.",
            ["route", "code"],
            registry=r,
        )
        self.latency = Histogram(
            "bertft_request_duration_seconds",
            "Time from request to response.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "bertft_batch_size",
            "Inputs per forward pass (micro-batching): texts, or windows of long texts.",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.inference = Histogram(
            "bertft_inference_seconds",
            "Time of one batched forward pass.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "bertft_queue_wait_seconds",
            "Time a request waited for its forward pass.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # livesum: across workers, the sum over the processes alive now
        self.queued = Gauge(
            "bertft_queued_texts",
            "Inputs (texts, or windows of long texts) waiting for a forward pass now.",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.texts = Counter("bertft_texts", "Texts classified.", registry=r)
        self.long_texts = Counter(
            "bertft_long_texts",
            "Texts longer than the model's window: cut (truncate, head_tail) or read in "
            "several windows (chunk).",
            registry=r,
        )
        self.windows = Counter(
            "bertft_windows", "Model inputs made from the texts classified.", registry=r
        )
        self.tokens_dropped = Counter(
            "bertft_tokens_dropped", "Tokens of texts that no window read.", registry=r
        )
        self.shed = Counter(
            "bertft_shed_requests",
            "Requests refused with 429 for load: queue_full or deadline.",
            ["reason"],
            registry=r,
        )

    def request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        if status >= 400:
            self.errors.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def batch(self, size: int, seconds: float, waits: list[float]) -> None:
        self.batch_size.observe(size)
        self.inference.observe(seconds)
        for wait in waits:
            self.queue_wait.observe(wait)

    def classified(self, stats) -> None:
        """Count the texts of one answered request (`stats`: their `windows.CutStats`)."""
        self.texts.inc(stats.texts)
        self.long_texts.inc(stats.over)
        self.windows.inc(stats.windows)
        self.tokens_dropped.inc(stats.dropped)

    def render(self) -> bytes:
        """The exposition of every worker's metrics (multiprocess mode) or of this one's."""
        if os.environ.get(MULTIPROCESS_ENV):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)

"""Server metrics in the Prometheus text exposition format (version 0.0.4), written by hand:
a few counters and histograms do not need a client library."""

from __future__ import annotations

import threading
from collections import defaultdict

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Histogram:
    """Cumulative-bucket histogram of one labelled series family."""

    def __init__(self, buckets: tuple[float, ...]):
        self.buckets = buckets
        self.series: dict[tuple, list[float]] = {}  # labels -> [count per bucket..., +Inf, sum]

    def observe(self, value: float, labels: tuple = ()) -> None:
        row = self.series.setdefault(labels, [0.0] * (len(self.buckets) + 2))
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                row[i] += 1
        row[-2] += 1  # +Inf, which is also the count
        row[-1] += value

    def lines(self, name: str, label_names: tuple[str, ...]) -> list[str]:
        out = []
        for labels, row in sorted(self.series.items()):
            base = [f'{k}="{v}"' for k, v in zip(label_names, labels, strict=True)]
            bounds = [*(f"{b:g}" for b in self.buckets), "+Inf"]
            for bound, count in zip(bounds, row[:-1], strict=True):
                le = 'le="' + bound + '"'
                out.append(f"{name}_bucket{{{','.join([*base, le])}}} {count:g}")
            suffix = f"{{{','.join(base)}}}" if base else ""
            out.append(f"{name}_sum{suffix} {row[-1]:.6f}")
            out.append(f"{name}_count{suffix} {row[-2]:g}")
        return out


class ServerMetrics:
    """Requests by route and status, request latency, texts per forward pass, inference time,
    time in the queue and the texts queued now."""

    def __init__(self):
        self._lock = threading.Lock()  # observed from the event loop and the inference thread
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.latency = Histogram(LATENCY_BUCKETS)
        self.batch_size = Histogram(BATCH_BUCKETS)
        self.inference = Histogram(LATENCY_BUCKETS)
        self.queue_wait = Histogram(LATENCY_BUCKETS)
        self.texts = 0

    def request(self, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(route, status)] += 1
            self.latency.observe(seconds, (route,))

    def batch(self, size: int, seconds: float, waits: list[float]) -> None:
        with self._lock:
            self.batch_size.observe(size)
            self.inference.observe(seconds)
            for wait in waits:
                self.queue_wait.observe(wait)
            self.texts += size

    def render(self, queued_texts: int = 0) -> str:
        with self._lock:
            lines = [
                "# HELP bertft_requests_total HTTP requests by route and status code.",
                "# TYPE bertft_requests_total counter",
                *(
                    f'bertft_requests_total{{route="{r}",code="{c}"}} {n}'
                    for (r, c), n in sorted(self.requests.items())
                ),
                "# HELP bertft_request_errors_total HTTP requests answered with a 4xx or 5xx.",
                "# TYPE bertft_request_errors_total counter",
                *(
                    f'bertft_request_errors_total{{route="{r}",code="{c}"}} {n}'
                    for (r, c), n in sorted(self.requests.items())
                    if c >= 400
                ),
                "# HELP bertft_request_duration_seconds Time from request to response.",
                "# TYPE bertft_request_duration_seconds histogram",
                *self.latency.lines("bertft_request_duration_seconds", ("route",)),
                "# HELP bertft_batch_size Texts per forward pass (micro-batching).",
                "# TYPE bertft_batch_size histogram",
                *self.batch_size.lines("bertft_batch_size", ()),
                "# HELP bertft_inference_seconds Time of one batched forward pass.",
                "# TYPE bertft_inference_seconds histogram",
                *self.inference.lines("bertft_inference_seconds", ()),
                "# HELP bertft_queue_wait_seconds Time a request waited for its forward pass.",
                "# TYPE bertft_queue_wait_seconds histogram",
                *self.queue_wait.lines("bertft_queue_wait_seconds", ()),
                "# HELP bertft_queued_texts Texts waiting for a forward pass now.",
                "# TYPE bertft_queued_texts gauge",
                f"bertft_queued_texts {queued_texts}",
                "# HELP bertft_texts_total Texts classified.",
                "# TYPE bertft_texts_total counter",
                f"bertft_texts_total {self.texts}",
            ]
        return "\n".join(lines) + "\n"

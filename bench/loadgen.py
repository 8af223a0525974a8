"""A closed-loop HTTP/1.1 load generator: `concurrency` keep-alive connections, each sending a
request as soon as the previous answer is in. Requests are built as bytes up front and answers
are read by Content-Length, so the generator spends tens of microseconds per request: on a
2-core machine it must not compete with the server it measures (an httpx client did: at
concurrency 64 it used most of a core, and the figures measured the client).

    python bench/loadgen.py http://127.0.0.1:8080/predict --concurrency 64 --seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    concurrency: int
    latencies: list[float]  # seconds, one per answered request
    errors: int  # answers other than 200 and 429, and dropped connections
    wall: float  # seconds from the first request to the last answer
    shed: int = 0  # 429 answers: refused for load, at once

    @property
    def requests_per_s(self) -> float:
        return len(self.latencies) / self.wall

    def percentile_ms(self, q: float) -> float:
        values = sorted(self.latencies)
        return 1000 * values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def post_requests(url: str, bodies: list[dict]) -> tuple[str, int, list[bytes]]:
    """(host, port, raw HTTP requests) posting each JSON body to `url`."""
    parts = urlsplit(url)
    raw = []
    for body in bodies:
        data = json.dumps(body).encode()
        head = (
            f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        raw.append(head.encode() + data)
    return parts.hostname, parts.port or 80, raw


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, float]:
    """Read one response; returns its status code and its Retry-After seconds (0 if none)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, retry_after = 0, 0.0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
        elif line[:12].lower() == b"retry-after:":
            retry_after = float(line[12:])
    await reader.readexactly(length)
    return status, retry_after


async def run_load(
    url: str,
    bodies: list[dict],
    concurrency: int,
    requests: int,
    seconds: float,
    warmup: int = 10,
    honour_retry_after: bool = False,
) -> LoadResult:
    """Until `requests` answers are in or `seconds` pass. `honour_retry_after`: after a 429 a
    client waits the seconds the server asked for, as well-behaved clients do."""
    host, port, raw = post_requests(url, bodies)
    latencies: list[float] = []
    errors = shed = 0
    sent = 0
    connections = [await asyncio.open_connection(host, port) for _ in range(concurrency)]
    reader, writer = connections[0]
    for request in raw[:warmup]:  # first-call allocations, one connection
        writer.write(request)
        await _read_answer(reader)

    deadline = time.perf_counter() + seconds

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent, errors, shed
        while sent < requests and time.perf_counter() < deadline:
            request = raw[sent % len(raw)]
            sent += 1
            started = time.perf_counter()
            writer.write(request)
            try:
                status, retry_after = await _read_answer(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                errors += 1
                return
            if status == 200:
                latencies.append(time.perf_counter() - started)
            elif status == 429:
                shed += 1
                if honour_retry_after:
                    await asyncio.sleep(min(retry_after, max(0.0, deadline - time.perf_counter())))
            else:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(r, w) for r, w in connections))
    wall = time.perf_counter() - started
    for _, writer in connections:
        writer.close()
    return LoadResult(concurrency, latencies, errors, wall, shed)


def load(
    url: str,
    bodies: list[dict],
    concurrency: int,
    requests: int,
    seconds: float,
    honour_retry_after: bool = False,
):
    """run_load on uvloop when installed (cheaper per request), else the default loop."""
    run = run_load(url, bodies, concurrency, requests, seconds, 10, honour_retry_after)
    try:
        import uvloop

        return uvloop.run(run)
    except ImportError:
        return asyncio.run(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    from bertft.data.load import read_examples

    bodies = [{"text": t} for t in read_examples("trec").texts[::7][:600]]
    r = load(args.url, bodies, args.concurrency, args.requests, args.seconds)
    print(
        f"c={r.concurrency} {len(r.latencies)} answers, {r.errors} errors, "
        f"p50 {r.percentile_ms(0.5):.1f} ms, p99 {r.percentile_ms(0.99):.1f} ms, "
        f"{r.requests_per_s:.1f} req/s"
    )


if __name__ == "__main__":
    main()

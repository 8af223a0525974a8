"""Running `bertft serve` as users run it, for the serve tests: a subprocess on a free loopback
port, real HTTP."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx


@contextmanager
def running_server(model: Path, *extra: str, timeout: float = 90):
    """`python -m bertft serve` on port 0; yields its base URL once /health says ready."""
    with server_process(model, *extra, timeout=timeout) as (_, url):
        yield url


@contextmanager
def server_process(
    model: Path, *extra: str, timeout: float = 90, log: list | None = None, env=None
):
    """As `running_server`, yielding (the process, its base URL). `log` collects its output."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bertft", "serve", "--model", str(model), "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    log = [] if log is None else log
    try:
        line = proc.stdout.readline()
        log.append(line)
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, f"server did not start: {line}{proc.stdout.read()}"
        url = match.group(1)
        threading.Thread(target=lambda: log.extend(proc.stdout), daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:
            assert proc.poll() is None, "server exited:\n" + "".join(log)
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server never became ready:\n" + "".join(log)
            time.sleep(0.1)
        yield proc, url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def metric(url: str, name: str) -> float:
    """One sample of /metrics, e.g. 'bertft_requests_total{code="200",route="/predict"}'."""
    text = httpx.get(f"{url}/metrics").text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0

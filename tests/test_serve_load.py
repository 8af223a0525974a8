"""`bertft serve` under a flood, behind API keys, with several workers: 429 + Retry-After
rather than unbounded waiting, 401 without a key, open health routes, the real
huggingface_hub.InferenceClient, and one /metrics summing every worker."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading

import httpx
import numpy as np
import pytest
from browser import Browser, chromium_available
from serve_helpers import metric, running_server, server_process

from bertft.inference.classifier import Classifier
from bertft.serving.batching import MicroBatcher, Overloaded

pytestmark = pytest.mark.unit

TEXTS = ["goal team win", "rain snow storm", "cheese bread soup", "the match and a cold wind"]
KEYS = ("first-key-4f9a", "second-key-77c1")


def test_a_full_queue_refuses_at_once_with_retry_after():
    """The model blocked in one pass: texts behind it fill the queue (4 texts); the next
    request is refused at once, without waiting, and the queued ones are answered later."""
    release = threading.Event()

    def predict(texts):
        release.wait(30)
        return np.array([[len(t)] for t in texts], dtype=np.float32)

    async def scenario():
        batcher = MicroBatcher(predict, 8, 0, max_queue=4)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(["a"]))
        await asyncio.sleep(0.1)  # in the model, blocked: no longer queued
        queued = asyncio.ensure_future(batcher.submit(["bb", "ccc", "dddd"]))
        await asyncio.sleep(0.05)
        with pytest.raises(Overloaded) as refused:
            await batcher.submit(["ee", "f"])  # 3 + 2 > 4
        fits = asyncio.ensure_future(batcher.submit(["g"]))  # 3 + 1 fits
        release.set()
        rows = await asyncio.gather(first, queued, fits)
        await batcher.stop()
        return refused.value, rows

    refused, rows = asyncio.run(scenario())
    assert refused.reason == "queue_full" and refused.retry_after >= 1
    assert "3 texts are waiting (the limit is 4)" in str(refused)
    assert [r.ravel().tolist() for r in rows] == [[1], [2, 3, 4], [1]]


def test_a_request_past_its_deadline_leaves_the_queue():
    release = threading.Event()
    seen = []

    def predict(texts):
        release.wait(30)
        seen.extend(texts)
        return np.array([[len(t)] for t in texts], dtype=np.float32)

    async def scenario():
        batcher = MicroBatcher(predict, 8, 0, max_queue=100)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(["a"]))
        await asyncio.sleep(0.1)
        with pytest.raises(Overloaded) as late:
            await batcher.submit(["bb", "ccc"], timeout=0.2)
        queued_after = batcher.queued_texts
        release.set()
        await first
        after = await batcher.submit(["dddd"], timeout=5)
        await batcher.stop()
        return late.value, queued_after, after

    late, queued_after, after = asyncio.run(scenario())
    assert late.reason == "deadline" and "200 ms deadline" in str(late)
    assert queued_after == 0  # its texts no longer count against the queue...
    assert seen == ["a", "dddd"]  # ...and never reach the model
    assert after.ravel().tolist() == [4]


@pytest.mark.subprocess
@pytest.mark.serves
@pytest.mark.slow  # a server under a flood: about 25 s on 2 busy cores
def test_flood_gets_429_with_retry_after_never_5xx_and_the_server_recovers(tiny_trained):
    """200 requests of 8 texts at once against a queue of 16 texts, one text a pass."""
    flags = ("--max_queue", "16", "--max_batch_texts", "8", "--max_batch_size", "1")
    with running_server(tiny_trained, *flags) as url:

        async def flood():
            limits = httpx.Limits(max_connections=200)
            async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
                body = {"texts": [TEXTS[i % 4] for i in range(8)]}
                return await asyncio.gather(
                    *(client.post("/predict", json=body) for _ in range(200))
                )

        replies = asyncio.run(flood())
        statuses = [r.status_code for r in replies]
        assert set(statuses) <= {200, 429}, sorted(set(statuses))
        shed = [r for r in replies if r.status_code == 429]
        assert shed and statuses.count(200) >= 2
        for reply in shed:
            assert int(reply.headers["retry-after"]) >= 1
            assert reply.json()["error_type"] == "overloaded"
        ok = next(r for r in replies if r.status_code == 200)
        assert len(ok.json()["predictions"]) == 8
        assert metric(url, 'bertft_shed_requests_total{reason="queue_full"}') == len(shed)
        # Afterwards: an ordinary request is answered, and nothing is left queued.
        assert httpx.post(f"{url}/predict", json={"text": "goal"}).json()["label"] == "sports"
        assert metric(url, "bertft_queued_texts") == 0


@pytest.fixture(scope="module")
def keyed_server(tiny_trained):
    log: list[str] = []
    env = {"BERTFT_API_KEY": f"{KEYS[0]}, {KEYS[1]}"}
    with server_process(tiny_trained, "--log_level", "debug", log=log, env=env) as (_, url):
        yield url, log


@pytest.mark.subprocess
@pytest.mark.serves
def test_api_keys_401_without_and_health_routes_open(keyed_server):
    url, log = keyed_server
    body = {"text": "goal"}
    missing = httpx.post(f"{url}/predict", json=body)
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.json()["error_type"] == "unauthorized"
    for wrong in ("Bearer nope", f"Basic {KEYS[0]}", KEYS[0], f"Bearer {KEYS[0]}x"):
        assert (
            httpx.post(f"{url}/predict", json=body, headers={"authorization": wrong}).status_code
            == 401
        )
    for key in KEYS:  # either key works
        reply = httpx.post(
            f"{url}/invocations", json=body, headers={"authorization": f"Bearer {key}"}
        )
        assert reply.json()["label"] == "sports"
    assert httpx.get(f"{url}/info").status_code == 401
    for path in ("/ping", "/health", "/livez", "/readyz", "/metrics"):
        assert httpx.get(url + path).status_code == 200, path
    assert httpx.get(f"{url}/livez").json() == {"status": "alive"}
    # The keys are in no log line, even at debug level, and not in /info.
    info = httpx.get(f"{url}/info", headers={"authorization": f"Bearer {KEYS[1]}"}).text
    assert "2 API key(s)" in "".join(log)
    assert not any(k in "".join(log) + info for k in KEYS)


@pytest.mark.subprocess
@pytest.mark.serves
@pytest.mark.skipif(not chromium_available(), reason="needs chromium (make browser)")
def test_web_page_asks_for_the_key_and_sends_it(keyed_server, tmp_path):
    url, _ = keyed_server
    with Browser(tmp_path) as browser:
        page = browser.open(url + "/")
        page.wait_for("!document.getElementById('keyrow').hidden")
        page.type("#key", "not-a-key")
        page.click("#usekey")
        page.wait_for("document.getElementById('meta').textContent.includes('refused')")
        page.evaluate("document.getElementById('key').value = ''")
        page.type("#key", KEYS[1])
        page.click("#usekey")
        page.wait_for("document.getElementById('meta').textContent.includes('3 labels')")
        page.type("#text", "goal team win")
        page.click("#go")
        page.wait_for("document.querySelectorAll('#result .row').length === 3")
        best = page.evaluate("document.querySelector('#result .row.best').dataset.label")
        error = page.evaluate("document.getElementById('error').textContent")
        page.close()
    assert best == "sports" and error == ""


INFERENCE_CLIENT = """
import json, sys
from huggingface_hub import InferenceClient
client = InferenceClient(api_key=sys.argv[2])
out = client.text_classification(sys.argv[3], model=sys.argv[1], top_k=2)
print(json.dumps([[e.label, e.score] for e in out]))
"""


@pytest.mark.subprocess
@pytest.mark.serves
def test_huggingface_hub_inference_client(keyed_server, tiny_trained):
    """The real client, in its own process: it sends nothing while HF_HUB_OFFLINE=1 (which
    the test session sets), so that process runs without it; it talks only to the server."""
    url, _ = keyed_server
    env = {
        k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    }
    env["HF_HUB_DISABLE_TELEMETRY"] = "1"
    text = "rain snow storm"
    for model_url in (url, f"{url}/predict"):
        run = subprocess.run(
            [sys.executable, "-c", INFERENCE_CLIENT, model_url, KEYS[0], text],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        got = json.loads(run.stdout)
        want = Classifier.from_pretrained(tiny_trained).top_k([text], k=2)[0]
        assert [label for label, _ in got] == [label for label, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-5)
    refused = subprocess.run(
        [sys.executable, "-c", INFERENCE_CLIENT, url, "wrong-key", text],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert refused.returncode != 0 and "401" in refused.stderr


@pytest.mark.subprocess
@pytest.mark.serves
@pytest.mark.slow  # two workers each load the model: about 40 s on 2 busy cores
def test_metrics_sum_every_worker(tiny_trained):
    """Two workers: requests on fresh connections until both have answered; then one scrape
    (answered by either) counts every request, which one worker's own counts could not."""
    with running_server(tiny_trained, "--workers", "2") as url:
        pids = []
        while len(set(pids)) < 2:
            assert len(pids) < 300, "one worker took every connection"
            pids.append(httpx.get(f"{url}/info").json()["pid"])
        for _ in range(6):
            assert httpx.post(f"{url}/predict", json={"texts": TEXTS}).status_code == 200
        by_pid = {pid: pids.count(pid) for pid in set(pids)}
        assert min(by_pid.values()) < len(pids)  # each worker saw only part of them...
        for _ in range(4):  # ...and whichever worker answers the scrape, it sums both
            assert metric(url, 'bertft_requests_total{code="200",route="/info"}') == len(pids)
            assert metric(url, 'bertft_requests_total{code="200",route="/predict"}') == 6
            assert metric(url, "bertft_texts_total") == 6 * len(TEXTS)

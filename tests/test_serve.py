"""`bertft serve` run as users run it: a subprocess on a free loopback port, real HTTP."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time

import httpx
import numpy as np
import pytest
from browser import Browser, chromium_available
from serve_helpers import metric, running_server, server_process

from bertft.cli import main
from bertft.inference.classifier import Classifier

pytestmark = pytest.mark.unit

TEXTS = ["goal team win", "rain snow storm", "cheese bread soup", "the match and a cold wind"]
LIMITS = ["--max_text_chars", "200", "--max_batch_texts", "8"]


@pytest.fixture(scope="module")
def server(tiny_trained):
    with running_server(tiny_trained, *LIMITS, "--max_wait_ms", "20") as url:
        yield url


@pytest.fixture(scope="module")
def reference(tiny_trained):
    return Classifier.from_pretrained(tiny_trained)


@pytest.mark.subprocess
@pytest.mark.serves
def test_predictions_equal_the_classifier(server, reference):
    one = httpx.post(f"{server}/predict", json={"text": TEXTS[0]}).json()
    expected = reference.top_k(TEXTS, k=2)
    assert one["label"] == expected[0][0][0]
    assert one["score"] == pytest.approx(expected[0][0][1], abs=1e-5)

    many = httpx.post(f"{server}/predict", json={"texts": TEXTS, "top_k": 2}).json()
    assert [p["label"] for p in many["predictions"]] == reference.predict(TEXTS)
    for got, want in zip(many["predictions"], expected, strict=True):
        assert [t["label"] for t in got["top_k"]] == [label for label, _ in want]
        assert got["top_k"][0]["score"] == pytest.approx(want[0][1], abs=1e-5)


BAD_REQUESTS = [
    ("invalid JSON", b'{"text": "goal"', 400, "not valid JSON"),
    ("not an object", b"5", 422, "expected a JSON object"),
    ("no text", b'{"top_k": 1}', 422, 'exactly one of "text"'),
    ("both keys", b'{"text": "a", "texts": ["b"]}', 422, 'exactly one of "text"'),
    ("text not a string", b'{"text": 5}', 422, '"text" must be a string, got a number'),
    ("texts not a list", b'{"texts": "goal"}', 422, '"texts" must be a list'),
    ("empty text", b'{"text": "   "}', 422, '"text" is empty'),
    ("empty list", b'{"texts": []}', 422, '"texts" is empty'),
    ("item not a string", b'{"texts": ["goal", null]}', 422, '"texts"[1] must be a string'),
    ("text too long", json.dumps({"text": "goal " * 41}).encode(), 413, "the limit is 200"),
    ("too many texts", json.dumps({"texts": ["goal"] * 9}).encode(), 413, "the limit is 8"),
    ("top_k zero", b'{"text": "goal", "top_k": 0}', 422, '"top_k" must be an integer of at least'),
    ("top_k not int", b'{"text": "goal", "top_k": "2"}', 422, '"top_k" must be an integer'),
    ("unknown field", b'{"text": "goal", "lang": "en"}', 422, "unknown field(s) lang"),
    ("not UTF-8", b'{"text": "\xff\xfe"}', 400, "not valid JSON"),
    ("huge body", b'{"text": "' + b"a" * 2_000_000 + b'"}', 413, "request body"),
]


@pytest.mark.subprocess
@pytest.mark.serves
@pytest.mark.parametrize(
    "body, status, message", [b[1:] for b in BAD_REQUESTS], ids=[b[0] for b in BAD_REQUESTS]
)
def test_bad_requests_get_a_clear_4xx_and_never_reach_the_model(server, body, status, message):
    texts_before = metric(server, "bertft_texts_total")
    response = httpx.post(
        f"{server}/predict", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status
    assert message in response.json()["error"]
    assert metric(server, "bertft_texts_total") == texts_before  # the model never saw it
    # ...and the server keeps serving.
    assert httpx.post(f"{server}/predict", json={"text": "goal"}).json()["label"] == "sports"


@pytest.mark.subprocess
@pytest.mark.serves
def test_sagemaker_routes(server, reference):
    assert httpx.get(f"{server}/ping").status_code == 200
    as_json = httpx.post(f"{server}/invocations", json={"texts": TEXTS})
    assert [p["label"] for p in as_json.json()["predictions"]] == reference.predict(TEXTS)
    as_lines = httpx.post(
        f"{server}/invocations",
        content="\n".join(TEXTS) + "\n",
        headers={"content-type": "text/plain"},
    )
    assert [p["label"] for p in as_lines.json()["predictions"]] == reference.predict(TEXTS)
    wrong = httpx.post(
        f"{server}/invocations", content=b"<a/>", headers={"content-type": "application/xml"}
    )
    assert wrong.status_code == 415 and "application/json" in wrong.json()["error"]


@pytest.mark.subprocess
@pytest.mark.serves
def test_metrics_count_requests_and_errors(server):
    ok = 'bertft_requests_total{code="200",route="/predict"}'
    bad = 'bertft_request_errors_total{code="422",route="/predict"}'
    ok_before, bad_before = metric(server, ok), metric(server, bad)
    for _ in range(3):
        httpx.post(f"{server}/predict", json={"text": "rain"})
    httpx.post(f"{server}/predict", json={"text": ""})
    assert metric(server, ok) == ok_before + 3
    assert metric(server, bad) == bad_before + 1
    text = httpx.get(f"{server}/metrics").text
    assert "# TYPE bertft_request_duration_seconds histogram" in text
    assert 'bertft_request_duration_seconds_bucket{le="+Inf",route="/predict"}' in text
    assert metric(server, "bertft_queue_wait_seconds_count") >= 3
    assert metric(server, "bertft_queued_texts") == 0  # idle now


def test_batcher_counts_queued_texts_and_their_wait():
    """The model blocked in one pass: requests behind it are counted as queued, then go
    together in the next pass, which reports how long each waited."""
    from bertft.serving.batching import MicroBatcher

    release = threading.Event()
    passes = []

    def predict(texts):
        release.wait(30)
        return np.array([[len(t)] for t in texts], dtype=np.float32)

    async def scenario():
        batcher = MicroBatcher(predict, 32, 0, lambda n, s, waits: passes.append((n, waits)))
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(["a"]))
        await asyncio.sleep(0.1)  # the first pass has started and is blocked
        behind = [asyncio.ensure_future(batcher.submit(["bb", "ccc"])) for _ in range(3)]
        await asyncio.sleep(0.1)
        queued = batcher.queued_texts
        release.set()
        rows = await asyncio.gather(first, *behind)
        after = batcher.queued_texts
        await batcher.stop()
        return queued, after, rows

    queued, after, rows = asyncio.run(scenario())
    assert (queued, after) == (6, 0)
    assert [r.ravel().tolist() for r in rows] == [[1], [2, 3], [2, 3], [2, 3]]
    assert [n for n, _ in passes] == [1, 6]  # the three waiting requests shared one pass
    assert len(passes[1][1]) == 3 and min(passes[1][1]) >= 0.1


@pytest.mark.subprocess
@pytest.mark.serves
def test_concurrent_requests_share_forward_passes(server, reference):
    passes_before = metric(server, "bertft_batch_size_count")
    singles_before = metric(server, 'bertft_batch_size_bucket{le="1.0"}')
    texts = [TEXTS[i % len(TEXTS)] + f" {'goal ' * (i % 5)}" for i in range(48)]

    async def fire():
        async with httpx.AsyncClient(base_url=server, timeout=30) as client:
            replies = await asyncio.gather(
                *(client.post("/predict", json={"text": t}) for t in texts)
            )
            return [r.json()["label"] for r in replies]

    labels = asyncio.run(fire())
    assert labels == reference.predict(texts)  # each caller got its own answer back
    passes = metric(server, "bertft_batch_size_count") - passes_before
    singles = metric(server, 'bertft_batch_size_bucket{le="1.0"}') - singles_before
    assert passes < len(texts)  # fewer forward passes than requests...
    assert passes - singles >= 1  # ...because some passes carried more than one text


def test_a_long_request_takes_turns_with_the_others():
    """Batches of 4: a 10-text request goes through in parts, and a single text that arrives
    behind it rides in its second pass instead of waiting for all of it."""
    from bertft.serving.batching import MicroBatcher

    release = threading.Event()
    passes, finished = [], []

    def predict(texts):
        release.wait(30)
        passes.append(list(texts))
        return np.array([[len(t)] for t in texts], dtype=np.float32)

    long = [f"{'w' * n}" for n in range(1, 11)]

    async def scenario():
        batcher = MicroBatcher(predict, 4, 0)
        batcher.start()

        async def call(name, texts):
            rows = await batcher.submit(texts)
            finished.append(name)
            return rows

        first = asyncio.ensure_future(call("first", ["a"]))
        await asyncio.sleep(0.1)  # the first pass has started and is blocked
        big = asyncio.ensure_future(call("long", long))
        await asyncio.sleep(0.05)
        single = asyncio.ensure_future(call("single", ["bb"]))
        await asyncio.sleep(0.05)
        release.set()
        rows = await asyncio.gather(first, big, single)
        await batcher.stop()
        return rows

    _, big_rows, single_rows = asyncio.run(scenario())
    assert big_rows.ravel().tolist() == list(range(1, 11))  # in order, though in three parts
    assert single_rows.ravel().tolist() == [2]
    assert [len(p) for p in passes] == [1, 4, 4, 3]
    assert passes[2][0] == "bb"  # the single text's turn came before the rest of the long one
    assert finished == ["first", "single", "long"]


@pytest.mark.subprocess
@pytest.mark.serves
def test_health_and_info_and_openapi(server):
    assert httpx.get(f"{server}/health").json() == {"status": "ok", "backend": "torch"}
    info = httpx.get(f"{server}/info").json()
    assert info["labels"] == ["food", "sports", "weather"]
    assert info["max_text_chars"] == 200
    # What the process really uses: the test servers run with OMP_NUM_THREADS=1.
    assert (info["device"], info["threads"]) == ("cpu", 1)
    schema = httpx.get(f"{server}/openapi.json").json()
    assert {"/predict", "/invocations", "/health", "/metrics"} <= set(schema["paths"])
    assert httpx.get(f"{server}/docs").status_code == 200


def test_health_is_503_until_the_model_is_loaded(tiny_trained):
    from fastapi.testclient import TestClient

    from bertft.serving.app import create_app
    from bertft.settings import ServeSettings

    loaded = threading.Event()

    def slow_loader():
        loaded.wait(30)
        return Classifier.from_pretrained(tiny_trained)

    with TestClient(create_app(slow_loader, ServeSettings())) as client:
        assert client.get("/health").status_code == 503
        assert client.get("/ping").status_code == 503
        refused = client.post("/predict", json={"text": "goal"})
        assert refused.status_code == 503 and "loading" in refused.json()["error"]
        loaded.set()
        deadline = time.monotonic() + 30
        while client.get("/health").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert client.post("/predict", json={"text": "goal"}).json()["label"] == "sports"


@pytest.mark.subprocess
@pytest.mark.serves
def test_onnx_backend_serves_the_same_labels(tiny_trained, tmp_path, reference):
    out = tmp_path / "onnx"
    assert main(["export", "--model", str(tiny_trained), "--output_dir", str(out)]) == 0
    with running_server(out, "--backend", "onnx") as url:
        assert httpx.get(f"{url}/health").json()["backend"] == "onnx"
        reply = httpx.post(f"{url}/predict", json={"texts": TEXTS}).json()
        assert [p["label"] for p in reply["predictions"]] == reference.predict(TEXTS)


@pytest.mark.subprocess
@pytest.mark.serves
def test_several_worker_processes_serve_the_same_model(tiny_trained, reference):
    from bertft.hardware import available_cpus

    with running_server(tiny_trained, "--workers", "2") as url:
        for _ in range(4):  # whichever worker answers, the answer is the same
            reply = httpx.post(f"{url}/predict", json={"texts": TEXTS}).json()
            assert [p["label"] for p in reply["predictions"]] == reference.predict(TEXTS)
            # The cores are shared out between the two workers.
            assert httpx.get(f"{url}/info").json()["threads"] == max(1, available_cpus() // 2)


@pytest.mark.subprocess
@pytest.mark.serves
def test_sigterm_lets_requests_in_flight_finish_then_exits(tiny_trained):
    """How SageMaker and Kubernetes stop a container: every request already taken is answered,
    then the server exits."""
    requests, per_request = 24, 64
    texts = [TEXTS[i % len(TEXTS)] for i in range(per_request)]
    flags = ("--max_batch_size", "1", "--max_batch_texts", str(per_request), "--max_queue", "0")
    with server_process(tiny_trained, *flags) as (proc, url):

        async def fire():
            async with httpx.AsyncClient(base_url=url, timeout=120) as client:
                sent = [
                    asyncio.ensure_future(client.post("/predict", json={"texts": texts}))
                    for _ in range(requests)
                ]
                # Signal once every request has reached the batcher (its texts are done,
                # queued, or, one request at a time, in the model) while some are not done yet.
                everything = requests * per_request
                while True:
                    answered = metric(url, "bertft_texts_total")
                    assert answered < everything, "finished before the signal"
                    if answered + metric(url, "bertft_queued_texts") >= everything - per_request:
                        break
                    await asyncio.sleep(0.01)
                proc.send_signal(signal.SIGTERM)
                return await asyncio.gather(*sent)

        replies = asyncio.run(fire())
        assert [r.status_code for r in replies] == [200] * requests
        assert all(len(r.json()["predictions"]) == per_request for r in replies)
        # Shut down cleanly: uvicorn (0.29+) then re-raises the signal, so the exit status
        # says "terminated by SIGTERM" as an unhandled one would; older versions exit 0.
        assert proc.wait(timeout=60) in (0, -signal.SIGTERM)


def test_bad_serve_settings_exit_with_a_message(tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path)]) == 2
    assert "not a model folder" in capsys.readouterr().err
    assert main(["serve", "--model", str(tmp_path), "--backend", "onnx"]) == 2
    assert "no ONNX model here" in capsys.readouterr().err
    assert main(["serve", "--model", str(tmp_path), "--max_batch_size", "0"]) == 2
    assert "max_batch_size must be at least 1" in capsys.readouterr().err
    assert main(["serve", "--model", str(tmp_path), "--max_queue", "100"]) == 2
    assert "max_queue 100 is below max_batch_texts 256" in capsys.readouterr().err
    assert main(["serve", "--model", str(tmp_path), "--deadline_ms", "-1"]) == 2
    assert "deadline_ms must be >= 0" in capsys.readouterr().err


def test_api_keys_from_flags_and_environment(monkeypatch):
    from bertft.cli import _parser
    from bertft.flags import env_defaults, given
    from bertft.settings import ServeSettings

    def keys(argv):
        args = _parser().parse_args(["serve", *argv])
        return ServeSettings(**{**env_defaults(ServeSettings), **given(args, ServeSettings)})

    assert keys(["--api_key", "k1", "--api_key", "k2, k3"]).api_key == ["k1", "k2", "k3"]
    monkeypatch.setenv("BERTFT_API_KEY", "e1,,e2 ")
    assert keys([]).api_key == ["e1", "e2"]
    assert keys(["--api_key", "k1"]).api_key == ["k1"]  # the flag wins
    assert "e1" not in repr(keys([]))  # never printed
    monkeypatch.delenv("BERTFT_API_KEY")
    assert keys([]).api_key == []


@pytest.mark.subprocess
@pytest.mark.serves
@pytest.mark.skipif(not chromium_available(), reason="needs chromium (make browser)")
def test_web_page_shows_label_probabilities(server, tmp_path):
    with Browser(tmp_path) as browser:
        page = browser.open(server + "/")
        page.wait_for("document.getElementById('meta').textContent.includes('3 labels')")
        page.type("#text", "rain and snow with a cold wind")
        page.click("#go")
        page.wait_for("document.querySelectorAll('#result .row').length === 3")
        rows = page.evaluate(
            "[...document.querySelectorAll('#result .row')]"
            ".map(r => [r.dataset.label, Number(r.dataset.score), r.textContent])"
        )
        shot = page.screenshot(tmp_path / "serve-page.png")
        page.close()
    assert rows[0][0] == "weather" and rows[0][1] > 0.5
    assert {r[0] for r in rows} == {"food", "sports", "weather"}
    assert sum(r[1] for r in rows) == pytest.approx(1, abs=1e-3)
    assert f"{100 * rows[0][1]:.1f}%" in rows[0][2]
    assert shot.stat().st_size > 5_000  # a rendered page, not a blank image

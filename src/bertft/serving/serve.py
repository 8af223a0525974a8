"""`bertft serve`: a trained model behind HTTP, micro-batched.

Routes: POST /predict, GET /health, GET /metrics (Prometheus), GET /info, GET / (a web page),
and the SageMaker pair POST /invocations + GET /ping, so the same server is an inference
container. Requests are checked here, before the model, against size limits; inference runs in
a worker thread so the event loop (and /health) stays responsive under load.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse

from bertft.errors import BertftError
from bertft.settings import ServeSettings

STATIC = Path(__file__).parent / "static"
SETTINGS_ENV = "BERTFT_SERVE_SETTINGS"  # how --workers > 1 hands settings to each worker


class RequestError(Exception):
    """A bad request: answered with `status` and `message`, never reaching the model."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def parse_request(
    payload: Any, settings: ServeSettings, labels: int
) -> tuple[list[str], int, bool]:
    """Validate a decoded JSON body -> (texts, top_k, single). `single` is True for {"text": ...}.
    Accepts "inputs" as another name for text/texts (Hugging Face inference convention)."""
    if not isinstance(payload, dict):
        raise RequestError(
            422, f'expected a JSON object like {{"text": "..."}}, got {_kind(payload)}'
        )
    keys = [k for k in ("text", "texts", "inputs") if k in payload]
    if len(keys) != 1:
        raise RequestError(
            422, 'give exactly one of "text" (a string) or "texts" (a list of strings)'
        )
    unknown = sorted(set(payload) - {"text", "texts", "inputs", "top_k"})
    if unknown:
        raise RequestError(
            422, f"unknown field(s) {', '.join(unknown)}; expected text/texts, top_k"
        )
    value = payload[keys[0]]
    single = isinstance(value, str)
    if keys[0] == "text" and not single:
        raise RequestError(422, f'"text" must be a string, got {_kind(value)}')
    if keys[0] == "texts" and not isinstance(value, list):
        raise RequestError(422, f'"texts" must be a list of strings, got {_kind(value)}')
    texts = [value] if single else value
    if not isinstance(texts, list):
        raise RequestError(
            422, f'"inputs" must be a string or a list of strings, got {_kind(value)}'
        )
    if not texts:
        raise RequestError(422, f'"{keys[0]}" is an empty list; send at least one text')
    if len(texts) > settings.max_batch_texts:
        raise RequestError(
            413, f"{len(texts)} texts in one request; the limit is {settings.max_batch_texts}"
        )
    for i, text in enumerate(texts):
        where = f'"{keys[0]}"' if single else f'"{keys[0]}"[{i}]'
        if not isinstance(text, str):
            raise RequestError(422, f"{where} must be a string, got {_kind(text)}")
        if not text.strip():
            raise RequestError(422, f"{where} is empty")
        if len(text) > settings.max_text_chars:
            raise RequestError(
                413, f"{where} has {len(text)} characters; the limit is {settings.max_text_chars}"
            )
    top_k = payload.get("top_k", 1)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= labels:
        raise RequestError(422, f'"top_k" must be an integer from 1 to {labels}, got {top_k!r}')
    return texts, top_k, single


def _kind(value: Any) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
        int: "a number",
        float: "a number",
    }.get(type(value), "a value")


class CountRequests:
    """ASGI middleware recording each request's route, status and latency. Plain ASGI rather
    than `@app.middleware("http")`, whose body streaming costs time on every request."""

    def __init__(self, app, metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500  # if the app fails before answering

        async def send_and_note(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")  # set by the router on this same scope
            # Unmatched paths share one label so scanners cannot grow the metric without bound.
            path = route.path if route is not None else "unmatched"
            self.metrics.request(path, status, time.perf_counter() - started)


def create_app(classifier, settings: ServeSettings | None = None):
    """The FastAPI app over `classifier` (a Classifier, or a function returning one: then it is
    loaded in the background after start-up and /health answers 503 until it is ready; with
    several workers each loads before it takes connections)."""
    from bertft.predict import Classifier, top_k_of
    from bertft.serving.batching import MicroBatcher
    from bertft.serving.serve_metrics import ServerMetrics

    settings = settings or ServeSettings()
    metrics = ServerMetrics()
    state: dict[str, Any] = {"classifier": None, "batcher": None, "error": None}

    def ready(clf: Classifier) -> None:
        clf.batch_size = settings.max_batch_size
        batcher = MicroBatcher(
            clf.predict_proba, settings.max_batch_size, settings.max_wait_ms, metrics.batch
        )
        batcher.start()
        state["classifier"], state["batcher"] = clf, batcher

    async def load(loader: Callable[[], Classifier]) -> None:
        try:
            ready(await asyncio.to_thread(loader))
        except Exception as e:  # keep serving /health with the reason rather than dying silently
            state["error"] = f"{type(e).__name__}: {e}"
            print(f"bertft serve: could not load the model: {state['error']}", file=sys.stderr)

    async def lifespan(app):
        loading = None
        if isinstance(classifier, Classifier):
            ready(classifier)
        elif settings.workers > 1:
            # Workers share one socket and a worker takes connections only once started up:
            # loading here keeps requests away from a worker still loading while another one
            # is ready (each would answer 503 otherwise).
            await load(classifier)
        else:
            loading = asyncio.get_running_loop().create_task(load(classifier))
        yield
        if loading:
            loading.cancel()
        if state["batcher"]:
            await state["batcher"].stop()

    app = FastAPI(
        title="bertft",
        description="Text classification with a fine-tuned BERT-family model.",
        lifespan=lifespan,
    )

    app.add_middleware(CountRequests, metrics=metrics)

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    def not_ready() -> JSONResponse:
        reason = state["error"] or "the model is still loading"
        return error(503, f"not ready: {reason}")

    async def read_body(request: Request) -> bytes:
        limit = settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise RequestError(413, f"request body of {declared} bytes; the limit is {limit}")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise RequestError(413, f"request body over the limit of {limit} bytes")
        return bytes(body)

    def decode_json(body: bytes) -> Any:
        try:
            return json.loads(body)
        except (UnicodeDecodeError, ValueError) as e:
            raise RequestError(400, f"body is not valid JSON: {e}") from None

    async def answer(texts: list[str], top_k: int, single: bool) -> dict[str, Any]:
        clf: Classifier = state["classifier"]
        probs = await state["batcher"].submit(texts)
        rows = []
        for best in top_k_of(probs, clf.labels, top_k):
            row: dict[str, Any] = {"label": best[0][0], "score": round(best[0][1], 6)}
            if top_k > 1:
                row["top_k"] = [{"label": k, "score": round(p, 6)} for k, p in best]
            rows.append(row)
        return rows[0] if single else {"predictions": rows}

    request_schema = {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "text": {"type": "string", "maxLength": settings.max_text_chars},
                            "texts": {
                                "type": "array",
                                "items": {"type": "string"},
                                "maxItems": settings.max_batch_texts,
                            },
                            "top_k": {"type": "integer", "minimum": 1, "default": 1},
                        },
                        "example": {"text": "What is the capital of France?", "top_k": 2},
                    }
                }
            },
        }
    }

    @app.post("/predict", openapi_extra=request_schema)
    async def predict(request: Request):
        """Label {"text": "..."} -> {"label", "score"} or {"texts": [...]} -> {"predictions"}."""
        if state["classifier"] is None:
            return not_ready()
        try:
            payload = decode_json(await read_body(request))
            texts, top_k, single = parse_request(payload, settings, len(state["classifier"].labels))
        except RequestError as e:
            return error(e.status, e.message)
        return await answer(texts, top_k, single)

    @app.post("/invocations", openapi_extra=request_schema)
    async def invocations(request: Request):
        """SageMaker inference: JSON as for /predict, or text/plain with one text per line."""
        if state["classifier"] is None:
            return not_ready()
        try:
            body = await read_body(request)
            content_type = request.headers.get("content-type", "application/json")
            if content_type.startswith("text/plain"):
                lines = body.decode("utf-8", errors="replace").splitlines()
                payload: Any = {"texts": [line for line in lines if line.strip()]}
            elif content_type.startswith("application/json"):
                payload = decode_json(body)
            else:
                raise RequestError(
                    415, f"content type {content_type}: send application/json or text/plain"
                )
            labels = len(state["classifier"].labels)
            texts, top_k, single = parse_request(payload, settings, labels)
        except RequestError as e:
            return error(e.status, e.message)
        return await answer(texts, top_k, single)

    @app.get("/health")
    async def health():
        """200 once the model is loaded and serving, 503 before."""
        if state["classifier"] is None:
            return not_ready()
        return {"status": "ok", "backend": state["classifier"].backend}

    @app.get("/ping")
    async def ping():
        """SageMaker health check: 200 when ready."""
        return await health()

    @app.get("/info")
    async def info():
        """The model's labels, backend, compute threads per forward pass and request limits."""
        if state["classifier"] is None:
            return not_ready()
        clf: Classifier = state["classifier"]
        limits = {k: getattr(settings, k) for k in ("max_text_chars", "max_batch_texts")}
        return {
            "labels": clf.labels,
            "backend": clf.backend,
            "device": clf.device,
            "model": clf.source,
            "threads": clf.threads,
            **limits,
        }

    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus():
        """Prometheus metrics: requests, latency, batch sizes, queue, errors."""
        queued = state["batcher"].queued_texts if state["batcher"] else 0
        return PlainTextResponse(
            metrics.render(queued), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    return app


def check_model(settings: ServeSettings) -> None:
    """Refuse a missing model before the server starts, with the same message as `predict`."""
    from bertft.predict import find_onnx_file

    path = Path(settings.model)
    folder = find_onnx_file(path).parent if settings.backend == "onnx" else path
    if not (folder / "config.json").is_file():
        raise BertftError(
            f"{folder}: not a model folder (no config.json); "
            f"point --model at the output folder of `bertft train` or `bertft export`"
        )


def _loader(settings: ServeSettings) -> Callable:
    def load():
        from bertft.predict import Classifier

        clf = Classifier.from_pretrained(
            settings.model,
            backend=settings.backend,
            batch_size=settings.max_batch_size,
            threads=settings.threads,
            device=settings.device,
        )
        # One forward pass before /health says ready, so the first request does not pay for
        # lazy imports, the thread pools' start and the backend's first-call allocations.
        clf.predict_proba(["warm up"])
        return clf

    return load


def app_from_env():
    """The app for uvicorn's factory mode (--workers > 1): settings come from the environment."""
    settings = ServeSettings(**json.loads(os.environ[SETTINGS_ENV]))
    return create_app(_loader(settings), settings)


def serve(settings: ServeSettings) -> None:
    """Run the server until interrupted. Prints the address it listens on (the real port when
    --port 0 asks for a free one)."""
    settings.validate()
    check_model(settings)
    # torch's OpenMP threads spin for a while after each parallel region by default, taking
    # the cores from the event loop that parses requests between forward passes. Sleeping
    # idle threads gave the torch backend 40% more requests/s at concurrency 64 on 2 cores
    # (bench/serve_load.py). OpenMP reads this once, when torch loads: that is after here.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # A device that cannot be used is refused before listening. auto and cpu always work, and
    # checking them would load torch in this process (the workers' parent, with --workers).
    if settings.device not in ("auto", "cpu"):
        from bertft.predict import check_device

        check_device(settings.backend, settings.device)
    if settings.workers > 1 and settings.threads is None:
        from bertft.hardware import available_cpus

        # Each worker runs its own forward passes: N workers each using every core would
        # fight over them, so the cores are shared out.
        settings.threads = max(1, available_cpus() // settings.workers)
    import uvicorn

    sock = _listen(settings.host, settings.port)
    port = sock.getsockname()[1]
    workers = f"{settings.workers} workers" if settings.workers > 1 else "1 worker"
    print(
        f"bertft serve: listening on http://{settings.host}:{port} "
        f"(model {settings.model}, backend {settings.backend}, {workers}; loading)",
        flush=True,
    )
    if settings.workers == 1:
        app = create_app(_loader(settings), settings)
        config = uvicorn.Config(app, log_level=settings.log_level, access_log=False)
        uvicorn.Server(config).run(sockets=[sock])
        return
    # Several processes on one socket, each with its own model copy, batcher and metrics: what
    # uvicorn.run(workers=N) does, but on our socket (port 0 and TCP_NODELAY work the same).
    from uvicorn.supervisors import Multiprocess

    os.environ[SETTINGS_ENV] = json.dumps(asdict(settings))
    config = uvicorn.Config(
        "bertft.serving.serve:app_from_env",
        factory=True,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=False,
    )
    # uvicorn < 0.36 takes the worker function; later versions build it from the config.
    extra = {}
    if "target" in inspect.signature(Multiprocess).parameters:
        extra["target"] = uvicorn.Server(config).run
    Multiprocess(config, sockets=[sock], **extra).run()


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this. asyncio sets it itself only on sockets whose proto is
    # IPPROTO_TCP, and this one's is 0 (uvicorn's own is too); without it a response's header
    # and body writes meet Nagle's algorithm and the client's delayed ACK: 40+ ms added to
    # every keep-alive request (measured here with httpx).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        raise BertftError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    sock.set_inheritable(True)  # worker processes accept on it
    return sock

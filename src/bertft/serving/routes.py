"""The routes: predictions (POST /predict, /invocations and /, one handler: decode -> batch ->
predict -> encode), health for orchestrators, /info, /metrics and the web page.

The model's state lives on `request.app.state.model` (a `ModelState`).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from bertft.serving import answers, codecs
from bertft.serving.batching import Overloaded
from bertft.serving.codecs import RequestError
from bertft.serving.lifecycle import ModelState
from bertft.serving.openapi import prediction_operation
from bertft.serving.serve_metrics import CONTENT_TYPE

STATIC = Path(__file__).parent / "static"
PREDICTION_PATHS = ("/predict", "/invocations", "/")


def error(status: int, message: str, error_type: str = "validation", **headers) -> JSONResponse:
    """Every error body: {"error": what went wrong, "error_type": its kind} (TEI's shape)."""
    return JSONResponse(
        {"error": message, "error_type": error_type}, status_code=status, headers=headers
    )


def not_ready(state: ModelState) -> JSONResponse:
    reason = state.error or "the model is still loading"
    return error(503, f"not ready: {reason}", "unhealthy")


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"request body of {declared} bytes; the limit is {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestError(413, f"request body over the limit of {limit} bytes")
    return bytes(body)


async def predict(request: Request) -> Response:
    """Label the inputs of any supported format; the answer in the type Accept asks for."""
    state: ModelState = request.app.state.model
    if state.classifier is None:
        return not_ready(state)
    settings = state.settings
    try:
        content_type = codecs.media_type(request.headers.get("content-type"))
        codecs.check_content_type(content_type)
        accept = codecs.accepted_type(request.headers.get("accept"), content_type)
        # A full queue refuses before reading and decoding the body: under a flood the 429s
        # must cost as little as possible, or they take the cores from the model.
        state.batcher.check_room(1)
        body = await read_body(request, settings.max_body_bytes)
        decoded = codecs.decode(body, content_type, state.context)
        timeout = settings.deadline_ms / 1000 if settings.deadline_ms else None
        logits = await state.logits(decoded.items, decoded.options.truncate, timeout)
    except RequestError as e:
        return error(e.status, e.message, e.error_type)
    except Overloaded as e:
        state.metrics.shed.labels(e.reason).inc()
        return error(429, str(e), "overloaded", **{"Retry-After": str(e.retry_after)})
    task = state.classifier.task
    scores = answers.scores(logits, decoded.options.function, task)
    body = codecs.encode(decoded, scores, state.context.labels, accept, task)
    return Response(body, media_type=accept)


async def health(request: Request) -> Response:
    """200 once the model is loaded and serving, 503 before (readiness)."""
    state: ModelState = request.app.state.model
    if state.classifier is None:
        return not_ready(state)
    return JSONResponse({"status": "ok", "backend": state.classifier.backend})


async def livez() -> dict:
    """200 while the process runs, loading or not (liveness: restart only when this fails)."""
    return {"status": "alive"}


async def info(request: Request) -> Response:
    """The model's labels and task, backend, compute threads per forward pass, limits, worker."""
    state: ModelState = request.app.state.model
    if state.classifier is None:
        return not_ready(state)
    clf, s = state.classifier, state.settings
    limits = ("max_text_chars", "max_batch_texts", "max_queue", "deadline_ms")
    return JSONResponse(
        {
            "labels": clf.labels,
            "task": clf.task.name,
            "backend": clf.backend,
            "device": clf.device,
            "model": clf.source,
            "threads": clf.threads,
            "pairs": state.context.takes_pairs,
            **{k: getattr(s, k) for k in limits},
            "pid": os.getpid(),
        }
    )


async def metrics(request: Request) -> Response:
    """Prometheus metrics (every worker's, summed): requests, latency, batches, queue, shed."""
    state: ModelState = request.app.state.model
    state.metrics.queued.set(state.batcher.queued_texts if state.batcher else 0)
    return Response(state.metrics.render(), media_type=CONTENT_TYPE)


@functools.cache
def _page_html() -> str:
    return (STATIC / "index.html").read_text(encoding="utf-8")


async def page() -> HTMLResponse:
    return HTMLResponse(_page_html())  # read once, not from disk on every visit


def router(settings) -> APIRouter:
    """Every route, with the request shapes and limits of `settings` in the OpenAPI document."""
    r = APIRouter()
    operation = prediction_operation(settings.max_text_chars, settings.max_batch_texts)
    for path in PREDICTION_PATHS:
        r.add_api_route(
            path,
            predict,
            methods=["POST"],
            openapi_extra=operation,
            summary="Label texts" if path == "/predict" else f"Label texts ({path})",
            description="The same as POST /predict: the route SageMaker (/invocations) and "
            "the Hugging Face endpoints (/) call."
            if path != "/predict"
            else None,
        )
    for path in ("/health", "/ping", "/readyz"):
        r.add_api_route(
            path,
            health,
            methods=["GET"],
            summary=f"Ready? ({path})",
            responses={503: {"description": "loading, or failed to load"}},
        )
    r.add_api_route("/livez", livez, methods=["GET"], summary="Alive?")
    r.add_api_route("/info", info, methods=["GET"], summary="Model and limits")
    r.add_api_route(
        "/metrics",
        metrics,
        methods=["GET"],
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses={
            200: {
                "description": "Prometheus text exposition format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    )
    # The page is a route like the others: documented, so that GET / is a declared method.
    r.add_api_route(
        "/",
        page,
        methods=["GET"],
        summary="A page to try texts in a browser",
        response_class=HTMLResponse,
        responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}},
    )
    return r

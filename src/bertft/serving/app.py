"""The FastAPI app: the model's state, the routes, request metrics and API keys around them."""

from __future__ import annotations

import time

from fastapi import FastAPI

from bertft.serving.auth import RequireApiKey
from bertft.serving.lifecycle import ModelState
from bertft.serving.openapi import prediction_operation
from bertft.serving.routes import PREDICTION_PATHS, router
from bertft.serving.serve_metrics import ServerMetrics


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


def create_app(classifier, settings=None) -> FastAPI:
    """The app over `classifier` (a Classifier, or a function returning one: then it is loaded
    in the background after start-up and /health answers 503 until it is ready; with several
    workers each loads before it takes connections)."""
    from bertft.settings import ServeSettings

    settings = settings or ServeSettings()
    state = ModelState(settings, ServerMetrics())
    app = FastAPI(
        title="bertft",
        description="Text classification with a fine-tuned BERT-family model. Requests in "
        "bertft's own JSON, the Hugging Face inference format, TEI's, JSON Lines, CSV or plain "
        "text; see docs/deploy.md.",
        lifespan=state.lifespan(classifier),
    )
    app.state.model = state
    app.include_router(router(settings))
    _openapi_for_the_model(app, state)
    # Outermost last: a request refused for its key is still counted.
    if settings.api_key:
        app.add_middleware(RequireApiKey, keys=settings.api_key)
    app.add_middleware(CountRequests, metrics=state.metrics)
    return app


def _openapi_for_the_model(app: FastAPI, state: ModelState) -> None:
    """Once the model is loaded, the document says which inputs it takes (texts or pairs)."""
    plain = app.openapi

    def openapi():
        if state.context is None:  # not loaded yet: do not keep this one
            schema = plain()
            app.openapi_schema = None
            return schema
        if not getattr(app.state, "openapi_for_model", False):
            app.openapi_schema = None
            ctx = state.context
            operation = prediction_operation(
                ctx.max_text_chars, ctx.max_batch_texts, ctx.takes_pairs
            )
            for path in PREDICTION_PATHS:
                plain()["paths"][path]["post"].update(operation)
            app.state.openapi_for_model = True
        return app.openapi_schema

    app.openapi = openapi

"""The model's life in the server: loaded in the background (or before taking connections, with
several workers), wrapped in a micro-batcher once ready, stopped on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bertft.serving.batching import MicroBatcher
from bertft.serving.codecs import Context, Item
from bertft.serving.serve_metrics import ServerMetrics

log = logging.getLogger(__name__)


def predict_logits(clf, items: Sequence[Item]) -> np.ndarray:
    """The model's logits for inputs that are texts, or pairs of texts for a pair model."""
    texts = [item.text for item in items]
    if any(item.text_pair is not None for item in items):
        return clf.predict_logits(texts, [item.text_pair for item in items])
    return clf.predict_logits(texts)


def token_counts(clf, items: Sequence[Item]) -> list[int]:
    """Tokens of each input, uncut: for requests that ask not to truncate."""
    texts = [item.text for item in items]
    pairs = [item.text_pair for item in items]
    encoded = clf.tokenizer(texts, pairs if any(pairs) else None, truncation=False)
    return [len(ids) for ids in encoded["input_ids"]]


@dataclass
class ModelState:
    """What the routes need once the model is ready; `error` says why it never became so."""

    settings: Any
    metrics: ServerMetrics
    classifier: Any = None
    batcher: MicroBatcher | None = None
    context: Context | None = None
    error: str | None = None

    def ready(self, clf) -> None:
        s = self.settings
        clf.batch_size = s.max_batch_size
        batcher = MicroBatcher(
            lambda items: predict_logits(clf, items),
            s.max_batch_size,
            s.max_wait_ms,
            self._on_batch,
            max_queue=s.max_queue,
        )
        batcher.start()
        self.context = Context(
            labels=list(clf.labels),
            takes_pairs=getattr(clf, "pair_column", None) is not None,
            max_text_chars=s.max_text_chars,
            max_batch_texts=s.max_batch_texts,
        )
        self.classifier, self.batcher = clf, batcher

    def _on_batch(self, size: int, seconds: float, waits: list[float]) -> None:
        self.metrics.batch(size, seconds, waits)
        self.metrics.queued.set(self.batcher.queued_texts if self.batcher else 0)

    async def load(self, loader: Callable[[], Any]) -> None:
        try:
            self.ready(await asyncio.to_thread(loader))
        except Exception as e:  # keep serving /health with the reason rather than dying silently
            self.error = f"{type(e).__name__}: {e}"
            log.error("could not load the model: %s", self.error)

    def lifespan(self, classifier):
        """The app's lifespan over `classifier`: a Classifier, or a function that loads one."""

        async def lifespan(app):
            loading = None
            if callable(classifier):  # a loader; a Classifier is not callable
                if self.settings.workers > 1:
                    # Workers share one socket and a worker takes connections only once
                    # started up: loading here keeps requests away from a worker still loading
                    # while another one is ready (each would answer 503 otherwise).
                    await self.load(classifier)
                else:
                    loading = asyncio.get_running_loop().create_task(self.load(classifier))
            else:
                self.ready(classifier)
            yield
            if loading:
                loading.cancel()
            if self.batcher:
                await self.batcher.stop()

        return lifespan

"""The model's life in the server: loaded in the background (or before taking connections, with
several workers), wrapped in a micro-batcher once ready, stopped on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bertft.data.encoding import Encoded
from bertft.serving.batching import MicroBatcher
from bertft.serving.codecs import Context, Item, RequestError
from bertft.serving.serve_metrics import ServerMetrics

log = logging.getLogger(__name__)


def refuse_cut(encoded: Encoded, max_length: int) -> None:
    """413 for the first input the window cuts, for requests that ask not to truncate. A
    chunked model cuts nothing: it reads long inputs in several windows."""
    for i, dropped in enumerate(encoded.dropped):
        if dropped:
            # The length excludes the special tokens ([CLS], [SEP]) and max_length includes
            # them: the limit is given in the length's units too, or 127 "over" 128 reads wrong.
            length = encoded.lengths[i]
            raise RequestError(
                413,
                f"input {i} is {length} tokens long (special tokens not counted); the model "
                f"reads at most {length - dropped} ({max_length} with its special tokens); "
                f"allow truncation to have it cut",
            )


def encode(clf, items: Sequence[Item]) -> Encoded:
    """The windows of a request's inputs (texts, or pairs of texts for a pair model), as
    training read them: a long text may become several."""
    texts = [item.text for item in items]
    if any(item.text_pair is not None for item in items):
        return clf.encode(texts, [item.text_pair for item in items])
    return clf.encode(texts)


@dataclass
class ModelState:
    """What the routes need once the model is ready; `error` says why it never became so."""

    settings: Any
    metrics: ServerMetrics
    classifier: Any = None
    batcher: MicroBatcher | None = None
    context: Context | None = None
    error: str | None = None
    # Requests are tokenized here, one at a time, beside the forward passes: the tokenizer is
    # not safe to share between threads, and this is the only thread that uses it.
    _encoding: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="bertft-encode")
    )

    async def logits(self, items: Sequence[Item], truncate: bool, timeout: float | None):
        """One row of logits per input. Each input's windows (one, or several for a long
        text read in chunks) go through the micro-batches like any text, then are pooled
        into its row. `truncate` False refuses an input the window would cut (413)."""
        loop = asyncio.get_running_loop()
        encoded = await loop.run_in_executor(self._encoding, encode, self.classifier, items)
        if not truncate:
            refuse_cut(encoded, self.classifier.max_length)
        windows = [encoded.window(i) for i in range(len(encoded))]
        self.metrics.queued.set(self.batcher.queued_texts + len(windows))
        rows = await self.batcher.submit(windows, timeout)
        self.metrics.classified(encoded.stats)
        return self.classifier.pool(rows, encoded)

    def ready(self, clf) -> None:
        s = self.settings
        clf.batch_size = s.max_batch_size
        batcher = MicroBatcher(
            clf.rows_logits,
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
            if not hasattr(classifier, "rows_logits"):  # a loader (a Classifier is callable too)
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
            self._encoding.shutdown(wait=False, cancel_futures=True)

        return lifespan

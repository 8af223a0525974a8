"""Micro-batching: requests that arrive together share one forward pass.

Requests queue on the event loop; one worker thread runs the model. While it runs, new requests
pile up and are taken together next time. A request that arrives alone is never held back; when
several are waiting, the batch waits up to `max_wait_ms` more for stragglers to fill it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

PredictFn = Callable[[Sequence[str]], np.ndarray]


@dataclass
class _Pending:
    texts: list[str]
    future: asyncio.Future = field(repr=False)
    queued_at: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    """Gathers texts from concurrent callers into batches of up to `max_batch_size` texts and runs
    `predict` (texts -> one row per text) on them in a worker thread, off the event loop."""

    def __init__(
        self,
        predict: PredictFn,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        on_batch: Callable[[int, float, list[float]], None] | None = None,
    ):
        self.predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        # For metrics: (texts in the batch, seconds of its forward pass, seconds each of its
        # requests waited in the queue).
        self.on_batch = on_batch
        self.queued_texts = 0  # texts waiting for a forward pass: the load signal to scale on
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        # One thread: forward passes run one at a time, each using all cores itself.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bertft-infer")
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, texts: list[str]) -> np.ndarray:
        """The model's rows for `texts`, computed in a batch with whatever else is waiting."""
        future = asyncio.get_running_loop().create_future()
        self.queued_texts += len(texts)
        await self._queue.put(_Pending(texts, future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather()
            texts = [t for p in batch for t in p.texts]
            self.queued_texts -= len(texts)
            started = time.perf_counter()
            waits = [started - p.queued_at for p in batch]
            try:
                rows = await loop.run_in_executor(self._executor, self.predict, texts)
            except Exception as e:  # one bad batch must not stop the server
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(e)
                continue
            if self.on_batch:
                self.on_batch(len(texts), time.perf_counter() - started, waits)
            start = 0
            for p in batch:
                if not p.future.done():  # the client may have gone away
                    p.future.set_result(rows[start : start + len(p.texts)])
                start += len(p.texts)

    async def _gather(self) -> list[_Pending]:
        batch = [await self._queue.get()]
        size = len(batch[0].texts)
        while size < self.max_batch_size and not self._queue.empty():
            batch.append(self._queue.get_nowait())
            size += len(batch[-1].texts)
        if len(batch) == 1 or self.max_wait <= 0:
            return batch  # alone: go now; latency for a lone request matters most
        deadline = time.perf_counter() + self.max_wait
        while size < self.max_batch_size:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            try:
                item = await asyncio.wait_for(self._queue.get(), remaining)
            except asyncio.TimeoutError:
                break
            batch.append(item)
            size += len(item.texts)
        return batch

"""Micro-batching: requests that arrive together share one forward pass.

Requests wait on the event loop; one worker thread runs the model. While it runs, new requests
pile up and are taken together next time. A request that arrives alone is never held back; when
several are waiting, the batch waits up to `max_wait_ms` more for stragglers to fill it.

A batch is filled round robin, up to `max_batch_size` texts from each waiting request in turn,
so a request of many texts takes several passes and single texts that arrive meanwhile ride
along in the next one rather than waiting for all of it.

The queue is bounded: past `max_queue` waiting texts a request is refused at once (`Overloaded`,
with an estimate of when to retry) rather than queued behind minutes of work; a request may
also carry a deadline, after which it leaves the queue and fails the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

PredictFn = Callable[[Sequence], np.ndarray]  # inputs (texts, or whatever predict takes) -> rows


class Overloaded(Exception):
    """Refused for load: the queue is full, or the request's deadline passed while it waited.
    `retry_after`: whole seconds until the queue now waiting should have gone through."""

    def __init__(self, message: str, retry_after: int, reason: str):
        super().__init__(message)
        self.retry_after, self.reason = retry_after, reason


@dataclass
class _Request:
    texts: list[str]
    future: asyncio.Future = field(repr=False)
    queued_at: float = field(default_factory=time.perf_counter)
    taken: int = 0  # texts handed to a forward pass so far
    rows: list[np.ndarray] = field(default_factory=list, repr=False)  # results, in order

    @property
    def remaining(self) -> int:
        return len(self.texts) - self.taken


@dataclass
class _Part:
    request: _Request
    start: int
    end: int


class MicroBatcher:
    """Gathers texts from concurrent callers into batches of up to `max_batch_size` texts and runs
    `predict` (texts -> one row per text) on them in a worker thread, off the event loop."""

    def __init__(
        self,
        predict: PredictFn,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        on_batch: Callable[[int, float, list[float]], None] | None = None,
        max_queue: int = 0,
    ):
        self.predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue  # texts waiting at most; 0: unbounded
        self.seconds_per_text = 0.0  # recent forward-pass time per text, for Retry-After
        # For metrics: (texts in the batch, seconds of its forward pass, seconds each request
        # starting in it waited for its first pass).
        self.on_batch = on_batch
        self.queued_texts = 0  # texts waiting for a forward pass: the load signal to scale on
        self._waiting: deque[_Request] = deque()  # in turn order
        self._arrived = asyncio.Event()
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

    async def call(self, fn: Callable, *args):
        """`fn(*args)` on the model's thread, between forward passes."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def check_room(self, count: int) -> None:
        """Raise `Overloaded` when `count` more texts would take the queue past `max_queue`."""
        if self.max_queue and self.queued_texts + count > self.max_queue:
            raise Overloaded(
                f"overloaded: {self.queued_texts} texts are waiting (the limit is "
                f"{self.max_queue}); retry after the Retry-After seconds",
                self.retry_after(),
                "queue_full",
            )

    def retry_after(self) -> int:
        """Whole seconds (at least 1) for the texts waiting now to go through."""
        return max(1, math.ceil(self.queued_texts * self.seconds_per_text))

    async def submit(self, texts: list, timeout: float | None = None) -> np.ndarray:
        """The model's rows for `texts`, computed in batches with whatever else is waiting.
        Raises `Overloaded` at once when the queue has no room for them, or after `timeout`
        seconds without an answer."""
        self.check_room(len(texts))
        request = _Request(list(texts), asyncio.get_running_loop().create_future())
        self.queued_texts += len(request.texts)
        self._waiting.append(request)
        self._arrived.set()
        if timeout is None:
            return await request.future
        try:
            # shield: on timeout the future is cancelled below, which the batcher sees and
            # skips; its texts still waiting leave the queue count now.
            return await asyncio.wait_for(asyncio.shield(request.future), timeout)
        except asyncio.TimeoutError:
            request.future.cancel()
            self.queued_texts -= request.remaining
            request.taken = len(request.texts)
            raise Overloaded(
                f"overloaded: no answer within the {timeout * 1000:g} ms deadline; retry "
                f"after the Retry-After seconds",
                self.retry_after(),
                "deadline",
            ) from None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather()
            if not batch:  # every waiting request had gone away
                continue
            texts = [t for part in batch for t in part.request.texts[part.start : part.end]]
            started = time.perf_counter()
            waits = [started - part.request.queued_at for part in batch if part.start == 0]
            try:
                rows = await loop.run_in_executor(self._executor, self.predict, texts)
            except Exception as e:  # one bad batch must not stop the server
                for part in batch:
                    if not part.request.future.done():
                        part.request.future.set_exception(e)  # its other parts are skipped
                continue
            seconds = time.perf_counter() - started
            # A moving average: the estimate follows the load without jumping on one pass.
            per_text = seconds / len(texts)
            self.seconds_per_text = (
                per_text
                if not self.seconds_per_text
                else (0.8 * self.seconds_per_text + 0.2 * per_text)
            )
            if self.on_batch:
                self.on_batch(len(texts), seconds, waits)
            offset = 0
            for part in batch:
                request, size = part.request, part.end - part.start
                request.rows.append(rows[offset : offset + size])
                offset += size
                done = part.end == len(request.texts)
                if done and not request.future.done():  # the client may have gone away
                    only = len(request.rows) == 1
                    request.future.set_result(
                        request.rows[0] if only else np.concatenate(request.rows)
                    )

    async def _gather(self) -> list[_Part]:
        while not self._waiting:
            self._arrived.clear()
            await self._arrived.wait()
        batch: list[_Part] = []
        size = self._take(batch, 0)
        if len(batch) <= 1 or self.max_wait <= 0:
            return batch  # alone: go now; latency for a lone request matters most
        deadline = time.perf_counter() + self.max_wait
        while size < self.max_batch_size:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            if not self._waiting:
                self._arrived.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), remaining)
            size = self._take(batch, size)
        return batch

    def _take(self, batch: list[_Part], size: int) -> int:
        """Add texts to `batch` round robin over the waiting requests (up to `max_batch_size`
        from each in turn) until it is full; returns its new size."""
        while self._waiting and size < self.max_batch_size:
            request = self._waiting.popleft()
            if request.future.done():  # the client went away, or an earlier part failed
                self.queued_texts -= request.remaining
                continue
            count = min(request.remaining, self.max_batch_size - size)
            batch.append(_Part(request, request.taken, request.taken + count))
            request.taken += count
            self.queued_texts -= count
            size += count
            if request.remaining:
                self._waiting.append(request)  # its next texts after the others' turn
        return size

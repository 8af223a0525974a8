"""Stopping on a signal: SIGTERM (a spot instance, `kill`, a scheduler) and SIGINT (Ctrl-C) ask
the work to stop at its next safe point (training: after the step, with a checkpoint; predict:
after the chunk is committed) rather than kill it mid-write."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bertft.errors import EXIT_CODES

log = logging.getLogger(__name__)


@dataclass
class StopRequest:
    """The first stopping signal received (None: none yet); the work checks it when it can
    stop, and exits with that signal's code."""

    signum: int | None = None


@contextmanager
def stop_on_signals(then: str, meanwhile: str) -> Iterator[StopRequest]:
    """While inside, SIGTERM and SIGINT record themselves in the request instead of stopping the
    process: the first says `then` (what happens next), any later one `meanwhile` (a second
    Ctrl-C must not cut the save short) and leaves the first as the reason. The previous
    handlers come back on leaving."""
    request = StopRequest()

    def on_signal(signum, frame) -> None:
        name = signal.Signals(signum).name
        if request.signum is None:
            request.signum = signum
            log.warning("\nbertft: %s received; %s", name, then)
        else:
            log.warning("bertft: %s received; %s", name, meanwhile)

    previous = {s: signal.signal(s, on_signal) for s in EXIT_CODES}
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)

"""Stopping on a signal: the first SIGTERM/SIGINT is the reason, the handlers come back after."""

from __future__ import annotations

import logging
import os
import signal

import pytest

from bertft.signals import stop_on_signals

pytestmark = pytest.mark.unit


def test_the_first_signal_is_kept_and_the_handlers_restored(caplog):
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    listening = stop_on_signals("stopping after this chunk", "please wait")
    with caplog.at_level(logging.WARNING, logger="bertft"), listening as stop:
        assert stop.signum is None
        os.kill(os.getpid(), signal.SIGTERM)  # handled at once, in the main thread
        os.kill(os.getpid(), signal.SIGINT)
        # Both predict and training exit with the first signal's code (143, not 130).
        assert stop.signum == signal.SIGTERM
    assert [r.getMessage().strip() for r in caplog.records] == [
        "bertft: SIGTERM received; stopping after this chunk",
        "bertft: SIGINT received; please wait",
    ]
    assert {s: signal.getsignal(s) for s in before} == before

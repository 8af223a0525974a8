"""The libraries' own progress bars, off while bertft reports progress itself.

`datasets` draws a bar for every save and index flattening ("Saving the dataset", "Flattening
the indices"), transformers for every weight load and save ("Loading weights", "Writing model
shards"): on every run, about internals. bertft says what each stage does in one line instead
(training's own bar is `bertft.training.progress`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def library_bars_off() -> Iterator[None]:
    """The bars of `datasets`, transformers and huggingface_hub off inside, and each put back
    as it was after (nested uses keep them off; a variable such as HF_HUB_DISABLE_PROGRESS_BARS
    that keeps them off stays in charge, with no warning about it)."""
    import datasets
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars
    from transformers.utils import logging as hf_logging

    datasets_on = datasets.is_progress_bar_enabled()
    transformers_on = hf_logging.is_progress_bar_enabled()
    hub_off = are_progress_bars_disabled()
    if datasets_on:
        datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()  # huggingface_hub's too
    try:
        yield
    finally:
        if datasets_on:
            datasets.enable_progress_bars()
        if transformers_on:
            with warnings.catch_warnings():
                # transformers turns huggingface_hub's bars on with its own; where a variable
                # keeps those off, the hub warns that it cannot: that is what was asked.
                warnings.filterwarnings("ignore", message="Cannot enable progress bars")
                hf_logging.enable_progress_bar()
        if hub_off:
            disable_progress_bars()

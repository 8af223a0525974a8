"""The scores a request asks for: the model's own (its task's), or the function it names
(`function_to_apply` of the Hugging Face format). Ranking them into answers is the task's
(`tasks.ranked`); formats only lay the answers out."""

from __future__ import annotations

import numpy as np

from bertft.metrics import softmax


def scores(logits: np.ndarray, function: str | None, task=None) -> np.ndarray:
    """Scores from logits (rows: inputs): the model's own (its task's: softmax, sigmoid per
    label, or the value; softmax without a task), sigmoid, softmax or none (the raw logits)."""
    if function is None and task is not None:
        return task.scores(logits)
    if function == "none":
        return logits
    if function == "sigmoid":
        return 1.0 / (1.0 + np.exp(-logits))
    return softmax(logits)

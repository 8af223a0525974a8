"""The answer of one input, from the model's output row: the one place that decides what a
prediction says (formats only lay these answers out).

`scores` applies the requested function to the logits (the model's own by default); `answer` is
bertft's answer object of one input; `ranked` is the label list the Hugging Face and TEI formats
give.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

DECIMALS = 6


def scores(logits: np.ndarray, function: str | None, task=None) -> np.ndarray:
    """Scores from logits (rows: inputs): the model's own (its task's: softmax, sigmoid per
    label, or the value; softmax without a task), sigmoid, softmax or none (the raw logits)."""
    if function is None and task is not None:
        return task.scores(logits)
    if function == "none":
        return logits
    if function == "sigmoid":
        return 1.0 / (1.0 + np.exp(-logits))
    from bertft.metrics import softmax

    return softmax(logits)


def ranked(row: np.ndarray, labels: Sequence[str], top_k: int | None) -> list[dict[str, Any]]:
    """[{"label", "score"}, ...] best first, the `top_k` best (every label when None)."""
    order = np.argsort(-row, kind="stable")[: top_k or len(labels)]
    return [{"label": labels[j], "score": round(float(row[j]), DECIMALS)} for j in order]


def answer(row: np.ndarray, labels: Sequence[str], top_k: int | None) -> dict[str, Any]:
    """bertft's answer of one input: {"label", "score"}, plus "top_k" (the ranked list) when
    more than one label is asked for."""
    best = ranked(row, labels, top_k)
    out: dict[str, Any] = dict(best[0])
    if len(best) > 1:
        out["top_k"] = best
    return out

"""Scores that mean what they say: the arithmetic the tasks calibrate with.

A fine-tuned encoder's probabilities are usually over-confident. Temperature scaling (Guo et al.,
2017) divides the logits by one number T fitted on held-out texts; it changes no decision of a
softmax and brought a fine-tuned RoBERTa's expected calibration error from about 2% to under 1%
in-domain (Desai & Durrett, 2020). Because logits / T = (W / T) h + b / T, the temperature folds
into the output layer: the saved model gives calibrated scores in every path, plain `pipeline()`
and the ONNX export included. Multi-label fits one temperature per label (one sigmoid each).

Regression's counterpart is an interval: split conformal prediction (Lei et al., 2018) takes the
validation residuals' quantile as a half-width that covers a new text's value at the stated rate.

The tasks (`tasks/`) decide what to fit and where it goes; this module only computes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bertft.metrics import cross_entropy, log_softmax

BINS = 10  # equal-width confidence bins of the ECE and the reliability diagram (as Desai & Durrett)
MIN_TEXTS = 20  # fewer validation texts than this fit a temperature to noise: none is fitted
# A temperature is learnt from the model's mistakes: with none, surer is always likelier, and the
# fit would make every score 0 or 1. Under this many wrong answers on validation (a label's, for
# multi-label), the scores are left as trained.
MIN_MISTAKES = 5
BOUNDS = (0.05, 20.0)  # the temperatures searched
# Why no temperature was fitted, as a fit function returns it in place of one.
TOO_FEW_MISTAKES = (
    f"under {MIN_MISTAKES} wrong answers on the validation texts (a label's, for multi-label): "
    "too few to fit a temperature on"
)
# A fit that ends on a bound has no optimum inside: the likelihood would go on improving with
# ever sharper (or flatter) scores, as for a model barely trained. Its scores are left alone.
AT_BOUND = (
    f"the best temperature lies beyond {BOUNDS[0]:g} to {BOUNDS[1]:g} (a model barely trained, "
    "or right about nearly everything): the scores are left as trained"
)
NO_LABEL = "no label has a temperature to fit: " + TOO_FEW_MISTAKES.split(": ")[0]


@dataclass(frozen=True)
class CalibrationSettings:
    """--calibration and --interval_coverage."""

    method: str = "auto"  # auto: the task's (temperature; regression: an interval), or none
    coverage: float = 0.9  # of regression's interval
    why_none: str = "--calibration none"  # said and kept where method is none


METHODS = ("auto", "none")  # --calibration's choices


def _softmax_nll(logits: np.ndarray, truth: np.ndarray, t: float) -> float:
    return cross_entropy(logits / t, truth)


def _sigmoid_nll(logits: np.ndarray, truth: np.ndarray, t: float) -> float:
    z = logits / t  # log(1 + e^-z) for positives, log(1 + e^z) for negatives, stably
    return float(np.mean(np.logaddexp(0.0, np.where(truth > 0, -z, z))))


def _fit(nll, logits: np.ndarray, truth: np.ndarray) -> float | str:
    """The temperature of least negative log-likelihood, searched on log T (AT_BOUND where
    the search ends on one of BOUNDS)."""
    from scipy.optimize import minimize_scalar

    found = minimize_scalar(
        lambda log_t: nll(logits, truth, math.exp(log_t)),
        bounds=tuple(math.log(b) for b in BOUNDS),
        method="bounded",
        options={"xatol": 1e-4},
    )
    if min(abs(found.x - math.log(b)) for b in BOUNDS) < 1e-3:
        return AT_BOUND
    return float(math.exp(found.x))


def softmax_temperature(logits: np.ndarray, truth: np.ndarray) -> float | str:
    """T for one softmax over the classes (`truth` holds class ids), or why there is none:
    TOO_FEW_MISTAKES, AT_BOUND."""
    logits, truth = np.asarray(logits, dtype=np.float64), np.asarray(truth)
    if (logits.argmax(-1) != truth).sum() < MIN_MISTAKES:
        return TOO_FEW_MISTAKES
    return _fit(_softmax_nll, logits, truth)


def sigmoid_temperatures(logits: np.ndarray, truth: np.ndarray) -> list[float] | str:
    """One T per label (column); 1.0 for a label these texts show always or never, with
    under MIN_MISTAKES wrong decisions at 0.5, or whose fit ends on a bound; NO_LABEL where
    that leaves every label at 1.0."""
    logits, truth = np.asarray(logits, dtype=np.float64), np.asarray(truth)
    found = []
    for j in range(logits.shape[1]):
        mistakes = int(((logits[:, j] >= 0) != (truth[:, j] > 0)).sum())
        positives = truth[:, j].sum()
        if mistakes < MIN_MISTAKES or positives == 0 or positives == len(truth):
            found.append(1.0)
        else:
            t = _fit(_sigmoid_nll, logits[:, j], truth[:, j])
            found.append(1.0 if isinstance(t, str) else t)
    return NO_LABEL if all(t == 1.0 for t in found) else found


def reliability(confidence: np.ndarray, correct: np.ndarray) -> dict[str, Any]:
    """Expected calibration error and its bins: in each confidence bin, how often the answer
    was right against how sure it was; the ECE weighs each bin's gap by its share of texts."""
    confidence = np.asarray(confidence, dtype=np.float64).ravel()
    correct = np.asarray(correct, dtype=np.float64).ravel()
    which = np.minimum((confidence * BINS).astype(int), BINS - 1)
    bins, ece = [], 0.0
    for b in range(BINS):
        inside = which == b
        n = int(inside.sum())
        if n == 0:
            continue
        mean_confidence, accuracy = float(confidence[inside].mean()), float(correct[inside].mean())
        ece += n / len(confidence) * abs(accuracy - mean_confidence)
        bins.append({"lo": b / BINS, "hi": (b + 1) / BINS, "count": n,
                     "confidence": mean_confidence, "accuracy": accuracy})  # fmt: skip
    return {"ece": float(ece), "bins": bins}


def uncalibrated_softmax(probs: np.ndarray, temperature: float) -> np.ndarray:
    """The probabilities before a folded temperature: softmax(T * log p), since log p differs
    from logits / T by a constant per row."""
    z = float(temperature) * np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-300, None))
    return np.exp(log_softmax(z))


def uncalibrated_sigmoid(probs: np.ndarray, temperatures) -> np.ndarray:
    """Per label, sigmoid(T * logit(p)): the probabilities before the folded temperatures."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-15, 1 - 1e-15)
    z = np.log(p) - np.log1p(-p)
    return 1.0 / (1.0 + np.exp(-z * np.asarray(temperatures, dtype=np.float64)))


def conformal_half_width(residuals: np.ndarray, coverage: float) -> float:
    """Split conformal: the ceil((n + 1) * coverage)-th smallest absolute residual, so that a
    new value falls within +- it with probability at least `coverage` (the whole range's worth,
    infinity, where n is too small for that rank)."""
    r = np.sort(np.abs(np.asarray(residuals, dtype=np.float64)))
    rank = math.ceil((len(r) + 1) * coverage)
    return float(r[rank - 1]) if rank <= len(r) else math.inf


def describe_calibration(block: dict[str, Any], where: str) -> str:
    """One line of what a report's calibration block says, on the texts named `where`."""
    method, texts = block.get("method"), block.get("texts", 0)
    if method == "interval":
        line = (
            f"values come with a {block['coverage']:.0%} interval (±{block['half_width']:.4g}, "
            f"split conformal on {texts:,} validation texts)"
        )
        covered = block.get("covered")
        held = f"; on {where} it holds {covered:.1%} of the values" if covered is not None else ""
        return line + held
    ece = block.get("ece")
    if ece is None:  # regression without an interval
        return f"values without an interval ({block.get('why', 'none fitted')})"
    before = block.get("ece_uncalibrated")
    change = f"{before:.4f} → {ece:.4f}" if before is not None else f"{ece:.4f}"
    errors = f"expected calibration error on {where} {change}"
    if method == "temperature":
        if "temperatures" in block:
            t = block["temperatures"].values()
            fitted = f"a temperature per label ({min(t):.2f} to {max(t):.2f})"
        else:
            fitted = f"temperature {block['temperature']:.3f}"
        return f"scores calibrated: {fitted} fitted on {texts:,} validation texts; {errors}"
    why = block.get("why")
    return f"scores not calibrated ({why}); {errors}" if why else errors

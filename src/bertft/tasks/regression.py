"""A number per text: one output, mean squared error, answers in the labels' own units."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bertft import calibration as cal
from bertft.errors import BertftError
from bertft.tasks.base import (
    CONFIG_KEY,
    Figure,
    Recipe,
    TaskSettings,
    calibration_record,
    label_error,
    output_layer,
    refuse_label_smoothing,
)

OUTPUT_NAME = "value"


def _number(label: Any) -> float | None:
    if isinstance(label, tuple):
        return None
    try:
        value = float(label)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class Regression:
    """Labels are numbers. Training may standardise them (mean 0, std 1: the head starts near
    the right scale); `finish` folds the scaling back into the output layer, so the saved model,
    and plain `pipeline()`, give values in the labels' units."""

    name = "regression"
    problem_type = "regression"
    best_metric = "rmse"
    recipe = Recipe()
    # A score that compares two texts is still climbing after 3 epochs (vader_pairs: Pearson
    # +0.018 with 5, higher on all three seeds); MiniLM's old pooler does no harm here (a new
    # one: -0.004). docs/benchmarks.md, "Text pairs".
    pair_recipe = Recipe(epochs=5.0)
    metric_names = ("rmse", "mse", "mae", "pearson", "spearman", "r2")
    answer_key = "value"
    curves = (("Pearson", "pearson"), ("R²", "r2"))  # (name, metric) drawn per epoch
    card_metrics = (  # (our key, model-index type, display name, args)
        ("rmse", "rmse", "RMSE", None),
        ("mae", "mae", "MAE", None),
        ("pearson", "pearsonr", "Pearson", None),
        ("spearman", "spearmanr", "Spearman", None),
        ("r2", "r_squared", "R²", None),
    )
    pipeline_call = 'classify("your text here")  # {"label": "value", "score": the value}'
    names = (OUTPUT_NAME,)

    def __init__(
        self, mean: float = 0.0, std: float = 1.0, calibration: dict[str, Any] | None = None
    ):
        self.mean, self.std = mean, std
        self.calibration = calibration  # the interval fitted on validation, if any

    def describe(self) -> str:
        """What the model does, for its model card."""
        return "It gives a text a number (regression), in the units of its training labels."

    # --- labels -------------------------------------------------------------------------------

    @classmethod
    def parse(cls, examples, settings: TaskSettings):
        values = []
        for i, label in enumerate(examples.labels):
            value = _number(label)
            if value is None:
                shown = list(label) if isinstance(label, tuple) else repr(label)
                raise label_error(
                    examples, i, f"expected a number for --task regression, got {shown}"
                )
            values.append(value)
        examples.labels = values
        return examples

    @classmethod
    def from_training(cls, labels: Sequence[float], settings: TaskSettings) -> Regression:
        values = np.asarray(labels, dtype=np.float64)
        std = float(values.std())
        if std == 0:
            raise BertftError(f"every training value is {values[0]:g}; nothing to learn")
        if not settings.standardize_targets:
            return cls()
        return cls(float(values.mean()), std)

    @classmethod
    def from_config(cls, config) -> Regression:
        # The saved output layer gives raw units (see `finish`).
        return cls(calibration=(getattr(config, CONFIG_KEY, None) or {}).get("calibration"))

    def check(self, examples) -> None:
        """Any number is a valid target."""

    def encode(self, labels: Sequence[float]) -> list[float]:
        return [(float(y) - self.mean) / self.std for y in labels]

    def label_counts(self, labels) -> None:
        return None

    @classmethod
    def split(cls, examples, fraction: float, seed: int):
        """Stratified by decile of the target, so both parts span its whole range."""
        from sklearn.model_selection import train_test_split

        n_val = round(len(examples) * fraction)
        if n_val < 2 or len(examples) - n_val < 2:
            raise BertftError(
                f"{examples.origin}: too few examples ({len(examples)}) to hold out "
                f"{fraction:.0%} for validation; pass --validation_data"
            )
        values = np.asarray(examples.labels)
        bins = min(10, n_val, len(examples) - n_val)
        edges = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])
        strata = np.searchsorted(edges, values, side="right")
        counts = np.bincount(strata)
        stratify = strata if counts[counts > 0].min() >= 2 else None
        train_idx, val_idx = train_test_split(
            list(range(len(examples))), test_size=n_val, random_state=seed, stratify=stratify
        )
        return examples.subset(sorted(train_idx)), examples.subset(sorted(val_idx))

    # --- the model ----------------------------------------------------------------------------

    def model_settings(self) -> dict[str, Any]:
        return {
            "num_labels": 1,
            "id2label": {0: OUTPUT_NAME},
            "label2id": {OUTPUT_NAME: 0},
            "problem_type": self.problem_type,
        }

    def to_config(self) -> dict[str, Any]:
        return {"task": self.name, "calibration": self.calibration}

    def resolve_weights(self, setting: str, labels) -> None:
        if setting != "none":
            raise BertftError(
                "--class_weights applies to classification; a regression task has no classes"
            )
        return None

    def loss(self, weights, label_smoothing: float = 0.0) -> None:
        refuse_label_smoothing(self.name, label_smoothing)
        return None  # the model's own MSE on the (standardised) targets

    def finish(self, model) -> None:
        """Fold the target scaling into the output layer: y = std * (w.h + b) + mean."""
        if self.mean == 0.0 and self.std == 1.0:
            return
        import torch

        head = output_layer(model)
        if head.out_features != 1:
            raise BertftError(f"expected a one-output head, found {head.out_features} outputs")
        with torch.no_grad():
            head.weight.mul_(self.std)
            if head.bias is not None:
                head.bias.mul_(self.std).add_(self.mean)
        self.mean, self.std = 0.0, 1.0

    # --- answers ------------------------------------------------------------------------------

    def scores(self, logits: np.ndarray) -> np.ndarray:
        """Values in the labels' units, one column."""
        return np.asarray(logits, dtype=np.float64)[:, :1] * self.std + self.mean

    def calibrate(self, labels, logits: np.ndarray, settings) -> None:
        """An interval around each value (split conformal on the validation residuals); it is
        no layer's output, so config.json carries it and every bertft path adds it."""
        truth = np.asarray(labels, dtype=np.float64)

        def fit():
            residuals = truth - self.scores(logits)[:, 0]
            half = cal.conformal_half_width(residuals, settings.coverage)
            if math.isinf(half):  # the rank the coverage needs is past the last residual
                return f"too few validation texts for a {settings.coverage:.0%} interval"
            return {"coverage": settings.coverage, "half_width": half}

        self.calibration = calibration_record(settings, len(truth), "interval", fit)

    def _half_width(self) -> float | None:
        return (self.calibration or {}).get("half_width")

    def answers(self, scores: np.ndarray, top_k: int = 1) -> list[dict[str, Any]]:
        """{"value", "score"} per row: the same number, "score" for clients that read
        `pipeline()`-style answers; "interval" [low, high] where one was fitted."""
        half = self._half_width()
        rows = []
        for v in scores[:, 0]:
            row = {"value": round(float(v), 6), "score": round(float(v), 6)}
            if half is not None:
                row["interval"] = [round(float(v) - half, 6), round(float(v) + half, 6)]
            rows.append(row)
        return rows

    # --- metrics ------------------------------------------------------------------------------

    @staticmethod
    def _metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
        from scipy.stats import pearsonr, spearmanr
        from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

        mse = float(mean_squared_error(truth, predicted))
        constant = len(set(truth.tolist())) < 2 or len(set(predicted.tolist())) < 2
        return {
            "mse": mse,
            "rmse": math.sqrt(mse),
            "mae": float(mean_absolute_error(truth, predicted)),
            # Undefined (None) when either side is constant, rather than NaN plus a warning.
            "pearson": None if constant else float(pearsonr(truth, predicted)[0]),
            "spearman": None if constant else float(spearmanr(truth, predicted)[0]),
            "r2": float(r2_score(truth, predicted)) if len(truth) > 1 else None,
        }

    def train_metrics(self, label_ids: np.ndarray, logits: np.ndarray) -> dict[str, float]:
        truth = np.asarray(label_ids, dtype=np.float64).reshape(-1) * self.std + self.mean
        metrics = self._metrics(truth, self.scores(logits)[:, 0])
        # The Trainer compares numbers; an undefined correlation counts as none at all.
        return {k: (0.0 if v is None else v) for k, v in metrics.items()}

    def report(self, labels, scores: np.ndarray) -> dict[str, Any]:
        truth = np.asarray(labels, dtype=np.float64)
        predicted = scores[:, 0]
        return {
            **self._metrics(truth, predicted),
            "target": {"mean": float(truth.mean()), "std": float(truth.std())},
            "predicted": {"mean": float(predicted.mean()), "std": float(predicted.std())},
            "calibration": self._coverage(truth, predicted),
        }

    def _coverage(self, truth: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
        """How often the fitted interval holds the true value on these texts."""
        block = dict(self.calibration or {"method": "none"})
        half = self._half_width()
        if half is not None and len(truth):
            block["covered"] = float((np.abs(truth - predicted) <= half).mean())
        return block

    def pair_targets(self, labels) -> None:
        """Scores have no classes to draw texts together by."""
        return None

    def unlearnt(self, labels, scores: np.ndarray) -> str | None:
        """R² of 0 or below: no better than answering the mean of the targets for every text."""
        truth = np.asarray(labels, dtype=np.float64)
        values = np.asarray(scores, dtype=np.float64).reshape(len(truth), -1)[:, 0]
        spread = float(((truth - truth.mean()) ** 2).sum())
        if len(truth) < 2 or spread == 0:
            return None
        r2 = 1 - float(((truth - values) ** 2).sum()) / spread
        if r2 <= 0:
            return (
                f"R² {r2:.3f}: the model is no better than answering the mean for every text; "
                "try more labelled texts, more epochs (--epochs) or another learning rate "
                "(--learning_rate)"
            )
        return None

    def loss_value(self, labels, logits: np.ndarray, weights=None) -> float:
        """Mean squared error in the labels' units."""
        truth = np.asarray(labels, dtype=np.float64)
        return float(((self.scores(logits)[:, 0] - truth) ** 2).mean())

    def quality(self, labels, scores: np.ndarray) -> tuple[str, float]:
        return "rmse", self._metrics(np.asarray(labels, dtype=np.float64), scores[:, 0])["rmse"]

    def same_decision(self, reference: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Per text: values within a tenth of the reference values' spread (std) of each
        other, a difference no reader of the value would act on."""
        tolerance = 0.1 * float(reference[:, 0].std()) or 1e-6
        return np.abs(reference[:, 0] - scores[:, 0]) <= tolerance

    def format_report(self, report: dict[str, Any]) -> str:
        def show(v: float | None) -> str:
            return "undefined" if v is None else f"{v:.4f}"

        keys = ("rmse", "mse", "mae", "pearson", "spearman", "r2")
        return "\n".join(f"{key:<10} {show(report[key])}" for key in keys)

    def headline(self, report: dict[str, Any]) -> str:
        pearson = report["pearson"]
        return f"RMSE {report['rmse']:.4f}, Pearson " + (
            "undefined" if pearson is None else f"{pearson:.4f}"
        )

    # --- the report ---------------------------------------------------------------------------

    def tiles(self, report: dict[str, Any]) -> list[tuple[str, float]]:
        keys = (("RMSE", "rmse"), ("MAE", "mae"), ("Pearson", "pearson"), ("Spearman", "spearman"))
        keys += (("R²", "r2"),)
        return [(name, report[key]) for name, key in keys if report[key] is not None]

    def figures(self, labels, scores: np.ndarray, report: dict[str, Any], folder: Path):
        from bertft.reporting import plots

        path = plots.regression(
            np.asarray(labels, dtype=np.float64), scores[:, 0], folder / "regression.png"
        )
        return [
            Figure(
                "Predicted against true",
                "Left: each text's prediction against its label (on the diagonal is right). "
                "Right: the residuals (prediction minus label) against the prediction.",
                path,
            )
        ]

    def mistakes(self, texts, labels, scores: np.ndarray, limit: int = 25) -> list[dict[str, Any]]:
        """The largest errors, largest first."""
        truth = np.asarray(labels, dtype=np.float64)
        error = np.abs(scores[:, 0] - truth)
        worst = np.argsort(-error, kind="stable")[:limit]
        return [
            {
                "text": texts[i],
                "label": f"{truth[i]:g}",
                "predicted": f"{scores[i, 0]:.3f}",
                "score": round(float(error[i]), 4),
            }
            for i in worst
        ]

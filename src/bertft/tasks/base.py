"""What every task (single-label, multi-label, regression) provides, and the pieces they share.

A task object is the one home of everything that depends on what a label *is*: how labels are
read and encoded, the model's settings and loss, how logits become answers, the metrics, the
plots and the prediction rows. `train`, `evaluate`, `predict`, `export` and `serve` ask it rather
than branch on the task's name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bertft.calibration import MIN_TEXTS, CalibrationSettings
from bertft.errors import BertftError

CONFIG_KEY = "bertft_task"  # the task's saved state in config.json (thresholds, separator, ...)


@dataclass(frozen=True)
class TaskSettings:
    """The user's choices that shape a task: from `--label_separator` and
    `--standardize_targets`."""

    label_separator: str | None = None
    standardize_targets: bool = True


@dataclass(frozen=True)
class Figure:
    """One figure of a report: its section title, a sentence under it, the PNG."""

    title: str
    note: str
    path: Path


@dataclass(frozen=True)
class Recipe:
    """The --epochs, --learning_rate and --reinit_pooler a task trains with where the user gives
    none: measured with the bundled MiniLM over three seeds (bench/accuracy.py,
    docs/benchmarks.md)."""

    epochs: float = 3.0
    learning_rate: float = 1e-4
    reinit_pooler: bool = False


LossFn = Callable[..., Any]  # (outputs, labels, num_items_in_batch=None) -> loss tensor


class Task(Protocol):
    """The contract. Labels in and out are the user's values: a name (single-label), a tuple of
    names (multi-label) or a float (regression)."""

    name: str  # single_label, multi_label, regression
    problem_type: str  # transformers' config.problem_type
    best_metric: str  # the default --metric_for_best_model
    recipe: Recipe  # the default --epochs, --learning_rate and --reinit_pooler
    pair_recipe: Recipe  # the same, for text pairs
    metric_names: tuple[str, ...]  # what --metric_for_best_model may name
    names: tuple[str, ...]  # output names, in logit order
    card_metrics: tuple  # (our key, model-index type, display name, args) for the model card
    pipeline_call: str  # how the model card shows a call of plain pipeline()
    answer_key: str  # the decision in an answer: "label", "labels" or "value"
    curves: tuple[tuple[str, str], ...]  # (name, metric) of the validation scores per epoch

    def describe(self) -> str: ...
    def check(self, examples) -> None: ...
    def encode(self, labels: Sequence[Any]) -> list: ...
    def model_settings(self) -> dict[str, Any]: ...
    def to_config(self) -> dict[str, Any]: ...
    def resolve_weights(self, setting: str, labels: Sequence[Any]) -> dict[str, float] | None: ...
    def loss(
        self, weights: dict[str, float] | None, label_smoothing: float = 0.0
    ) -> LossFn | None: ...
    def scores(self, logits: np.ndarray) -> np.ndarray: ...
    def train_metrics(self, label_ids: np.ndarray, logits: np.ndarray) -> dict[str, float]: ...
    # What the validation texts fit, after training (bertft.calibration): the scores'
    # temperature (kept pending in `scores` until `finish` folds it into the head) or
    # regression's interval, then what the answers decide by (multi-label's thresholds).
    def calibrate(
        self, labels: Sequence[Any], logits: np.ndarray, settings: CalibrationSettings
    ) -> None: ...

    calibration: dict[str, Any] | None  # what `calibrate` fitted, as config.json keeps it

    # Folds what can be folded into the output layer (a temperature, regression's scaling).
    def finish(self, model) -> None: ...
    def report(self, labels: Sequence[Any], scores: np.ndarray) -> dict[str, Any]: ...
    def loss_value(
        self, labels: Sequence[Any], logits: np.ndarray, weights: dict[str, float] | None
    ) -> float: ...
    # How alike two texts' labels are, 0..1, for every pair of a training batch (the few-shot
    # pair loss); None where the task has no such notion (regression).
    def pair_targets(self, labels): ...
    # Why the model shows no sign of having learnt (one line, with what to do), or None.
    def unlearnt(self, labels: Sequence[Any], scores: np.ndarray) -> str | None: ...
    def answers(self, scores: np.ndarray, top_k: int = 1) -> list[dict[str, Any]]: ...
    def quality(self, labels: Sequence[Any], scores: np.ndarray) -> tuple[str, float]: ...
    def same_decision(self, reference: np.ndarray, scores: np.ndarray) -> np.ndarray: ...
    def label_counts(self, labels: Sequence[Any]) -> dict[str, int] | None: ...
    @classmethod
    def split(cls, examples, fraction: float, seed: int) -> tuple[Any, Any]: ...
    def tiles(self, report: dict[str, Any]) -> list[tuple[str, float]]: ...
    def figures(
        self, labels: Sequence[Any], scores: np.ndarray, report: dict[str, Any], folder: Path
    ) -> list[Figure]: ...
    def mistakes(
        self, texts: Sequence[str], labels: Sequence[Any], scores: np.ndarray
    ) -> list[dict[str, Any]]: ...
    def format_report(self, report: dict[str, Any]) -> str: ...
    def headline(self, report: dict[str, Any]) -> str: ...


def greater_is_better(metric: str) -> bool:
    """Losses and errors are better low; scores high."""
    return metric not in ("loss", "mse", "rmse", "mae", "hamming_loss")


def check_metric(task: Task, metric: str | None) -> str:
    """`--metric_for_best_model` for this task: the task's default, or one it reports."""
    if metric is None:
        return task.best_metric
    if metric not in (*task.metric_names, "loss"):
        raise BertftError(
            f"--metric_for_best_model {metric}: a {task.name} model reports "
            f"{', '.join((*task.metric_names, 'loss'))}"
        )
    return metric


def label_head(names: Sequence[str], problem_type: str) -> dict[str, Any]:
    """The config of a head with one output per label, named as the labels are."""
    return {
        "num_labels": len(names),
        "id2label": dict(enumerate(names)),
        "label2id": {n: i for i, n in enumerate(names)},
        "problem_type": problem_type,
    }


def refuse_label_smoothing(task: str, factor: float) -> None:
    """The Trainer's label smoother is a softmax over classes: wrong for sigmoids and values."""
    if factor:
        raise BertftError(
            f"label_smoothing_factor {factor}: label smoothing applies to single-label "
            f"classification (one softmax over the classes), not to a {task} model"
        )


def label_error(examples, index: int, message: str) -> BertftError:
    """'file, row 7 (line 8), column 'label': message' for the label of example `index`."""
    column = examples.label_column or "label"
    return BertftError(f"{examples.origin}, {examples.rows[index]}, column '{column}': {message}")


DECIMALS = 6  # of every score an answer row writes (the pipeline()-shaped call gives them whole)


def ranked(
    scores: np.ndarray, names: Sequence[str], k: int | None = None
) -> list[list[tuple[str, float]]]:
    """The one ranking of answers (the Classifier's, predict's, evaluate's and the server's):
    for each row of `scores`, its `k` best (name, score) pairs, best first (every name when `k`
    is None or beyond them); equal scores keep the names' order."""
    k = len(names) if k is None else min(k, len(names))
    best = np.argsort(-np.asarray(scores), axis=-1, kind="stable")[:, :k]
    return [
        [(names[j], float(row[j])) for j in cols] for row, cols in zip(scores, best, strict=True)
    ]


def label_scores(best: Sequence[tuple[str, float]]) -> list[dict[str, Any]]:
    """Ranked (name, score) pairs as answer rows write them: [{"label", "score"}, ...]."""
    return [{"label": name, "score": round(score, DECIMALS)} for name, score in best]


def best_answer(best: Sequence[tuple[str, float]]) -> dict[str, Any]:
    """One answer from its ranked labels: {"label", "score"} of the best, plus "top_k" (the
    ranked list) when more than one label was asked for."""
    rows = label_scores(best)
    return {**rows[0], "top_k": rows} if len(rows) > 1 else rows[0]


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(logits, -60, 60)))


def share_of_items(items: int, num_items_in_batch=None) -> float:
    """What a batch-mean loss is multiplied by under the Trainer's `compute_loss_func`.

    With a loss function, the Trainer neither divides by the gradient-accumulation steps nor
    averages over processes: it passes the count of items in all accumulated batches of all
    processes (`num_items_in_batch`) and expects the loss normalised by it. A batch mean times
    (its items / that count) does that, and equals the old per-batch mean / steps for equal
    batches. Without a count (evaluation), the batch mean as is."""
    if num_items_in_batch is None:
        return 1.0
    return items / float(num_items_in_batch)


def output_layer(model):
    """The model's last linear layer: the one that gives the logits, in every family bertft
    trains (BERT's `classifier`, RoBERTa's and MPNet's `classifier.out_proj`, ...)."""
    import torch

    return [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]


def fold_temperatures(model, temperatures) -> None:
    """Divide the output layer's rows (weights and bias) by their temperatures: the model then
    gives logits / T itself, in every path that loads it (`bertft.calibration`)."""
    import torch

    head = output_layer(model)
    t = torch.as_tensor(np.broadcast_to(temperatures, (head.out_features,)).copy())
    with torch.no_grad():
        head.weight.div_(t.to(head.weight)[:, None])
        if head.bias is not None:
            head.bias.div_(t.to(head.bias))


def calibration_record(
    settings: CalibrationSettings, texts: int, method: str, fit
) -> dict[str, Any]:
    """What a task's `calibrate` keeps: {"method", "texts", **fit()} of the fitted `method`,
    or {"method": "none", "why"}: turned off, too few texts, or `fit()`'s reason (a string)."""
    if settings.method == "none":
        return {"method": "none", "why": settings.why_none}
    if texts < MIN_TEXTS:
        return {"method": "none", "why": f"{texts} validation texts, under {MIN_TEXTS}"}
    found = fit()
    if isinstance(found, str):
        return {"method": "none", "why": found}
    return {"method": method, "texts": texts, **found}

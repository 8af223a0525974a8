"""One label per text, softmax over the classes: bertft's original task."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bertft import calibration as cal
from bertft.errors import BertftError
from bertft.metrics import (
    classification_metrics,
    confident_mistakes,
    cross_entropy,
    format_report,
    probability_report,
    softmax,
)
from bertft.tasks.base import (
    CONFIG_KEY,
    Figure,
    Recipe,
    TaskSettings,
    best_answer,
    calibration_record,
    fold_temperatures,
    label_error,
    label_head,
    ranked,
)
from bertft.tasks.base import share_of_items as _share

UNLEARNT_HINT = (
    "more labelled texts, more epochs (--epochs) or another learning rate (--learning_rate)"
)


def _most_common(values: np.ndarray) -> tuple[int, float]:
    """The most frequent value and its share."""
    found, counts = np.unique(values, return_counts=True)
    return int(found[counts.argmax()]), float(counts.max() / len(values))


class SingleLabel:
    """Labels are names; the answer is the most likely one (or the top k)."""

    reads_arrow = True  # training may keep its labels as codes beside an Arrow table

    name = "single_label"
    problem_type = "single_label_classification"
    best_metric = "f1_macro"
    recipe = Recipe()
    # MiniLM's pooler shows no training (its bias is all zeros, its weights under half a fresh
    # layer's scale): on trec_pairs one seed in three stayed at chance for an epoch and ended at
    # 0.77 through it. Drawn afresh, all three learn (docs/benchmarks.md, "Text pairs"). Only an
    # untrained pooler is drawn by default (training's _draw_pooler): BERT's learnt pairs.
    pair_recipe = Recipe(epochs=5.0, reinit_pooler=True)
    metric_names = ("accuracy", "f1_macro", "f1_weighted")
    answer_key = "label"
    curves = (("accuracy", "accuracy"), ("macro F1", "f1_macro"))  # (name, metric) drawn per epoch
    card_metrics = (  # (our key, model-index type, display name, args)
        ("accuracy", "accuracy", "accuracy", None),
        ("f1_macro", "f1", "macro F1", {"average": "macro"}),
        ("f1_weighted", "f1", "weighted F1", {"average": "weighted"}),
        ("precision_macro", "precision", "macro precision", {"average": "macro"}),
        ("recall_macro", "recall", "macro recall", {"average": "macro"}),
    )
    pipeline_call = 'classify("your text here")'

    def __init__(self, names: Sequence[str], calibration: dict[str, Any] | None = None):
        self.names = tuple(names)
        self.calibration = calibration
        self._pending = 1.0  # a temperature fitted but not yet folded into the head

    def describe(self) -> str:
        """What the model does, for its model card."""
        names = ", ".join(f"`{x}`" for x in self.names)
        return f"It sorts a text into one of {len(self.names)} labels: {names}."

    # --- labels -------------------------------------------------------------------------------

    @classmethod
    def parse(cls, examples, settings: TaskSettings):
        """Labels as names; a list label is refused (it would become a class named "['a', 'b']")."""
        for i, label in enumerate(examples.labels):
            if isinstance(label, tuple):
                raise label_error(
                    examples,
                    i,
                    f"a list of labels {list(label)} under --task single_label; "
                    f"use --task multi_label (or auto)",
                )
        return examples

    @classmethod
    def from_training(cls, labels: Sequence[str], settings: TaskSettings) -> SingleLabel:
        unique = {str(x) for x in labels}  # plain str, also from a numpy array
        if len(unique) < 2:
            raise BertftError(
                f"every training label is '{next(iter(unique))}'; "
                f"a classifier needs at least two classes"
            )
        # Integer labels sort as numbers ("2" before "10"), everything else as text.
        if all(x.lstrip("-").isdigit() for x in unique):
            return cls(sorted(unique, key=int))
        return cls(sorted(unique))

    @classmethod
    def from_config(cls, config) -> SingleLabel:
        saved = getattr(config, CONFIG_KEY, None) or {}
        return cls([config.id2label[i] for i in range(config.num_labels)], saved.get("calibration"))

    def check(self, examples) -> None:
        known = set(self.names)
        for i, label in enumerate(examples.labels):
            if label not in known:
                raise label_error(
                    examples,
                    i,
                    f"label '{label}' never appears in the training data "
                    f"(training labels: {', '.join(self.names)})",
                )

    def encode(self, labels: Sequence[str]) -> list[int]:
        ids = {name: i for i, name in enumerate(self.names)}
        return [ids[x] for x in labels]

    def label_counts(self, labels: Sequence[str]) -> dict[str, int]:
        found = Counter(labels)
        return {name: found.get(name, 0) for name in self.names}

    @classmethod
    def split(cls, examples, fraction: float, seed: int):
        """Hold out `fraction` of each class (seeded). A class too small to split stays in
        train."""
        from sklearn.model_selection import train_test_split

        # Integer label codes: no per-row Python objects on a large Arrow-backed set.
        _, codes, counts = np.unique(
            np.asarray(examples.labels), return_inverse=True, return_counts=True
        )
        splittable = np.flatnonzero(counts[codes] >= 2)
        singletons = np.flatnonzero(counts[codes] < 2)
        n_val = round(len(splittable) * fraction)
        if n_val < int((counts >= 2).sum()):
            raise BertftError(
                f"{examples.origin}: too few examples ({len(examples)}) to hold out "
                f"{fraction:.0%} for validation; pass --validation_data"
            )
        train_idx, val_idx = train_test_split(
            splittable, test_size=n_val, random_state=seed, stratify=codes[splittable]
        )
        train_idx = np.sort(np.concatenate([train_idx, singletons]))
        return examples.subset(train_idx.tolist()), examples.subset(np.sort(val_idx).tolist())

    # --- the model ----------------------------------------------------------------------------

    def model_settings(self) -> dict[str, Any]:
        return label_head(self.names, self.problem_type)

    def to_config(self) -> dict[str, Any]:
        return {"task": self.name, "calibration": self.calibration}

    def resolve_weights(self, setting: str, labels: Sequence[str]) -> dict[str, float] | None:
        from bertft.training.class_weights import resolve_class_weights

        return resolve_class_weights(setting, labels, self.names)

    def loss(self, weights: dict[str, float] | None, label_smoothing: float = 0.0):
        """Class-weighted cross-entropy (label-smoothed as asked), or None: the model's own
        loss, which the Trainer smooths itself."""
        if not weights:
            return None
        import torch

        weight = torch.tensor(list(weights.values()))

        def weighted_cross_entropy(outputs, labels, num_items_in_batch=None):
            logits = outputs["logits"].float()
            loss = torch.nn.functional.cross_entropy(
                logits, labels, weight=weight.to(logits.device), label_smoothing=label_smoothing
            )  # torch's weighted mean: sum(w * loss) / sum(w)
            return loss * _share(len(labels), num_items_in_batch)

        return weighted_cross_entropy

    def finish(self, model) -> None:
        """Fold a fitted temperature into the output layer."""
        if self._pending != 1.0:
            fold_temperatures(model, self._pending)
            self._pending = 1.0

    # --- answers ------------------------------------------------------------------------------

    def scores(self, logits: np.ndarray) -> np.ndarray:
        return softmax(np.asarray(logits, dtype=np.float64) / self._pending)

    def calibrate(self, labels: Sequence[str], logits: np.ndarray, settings) -> None:
        """One temperature for the softmax; the answer stays the argmax."""
        truth = np.asarray(self.encode(labels))

        def fit():
            t = cal.softmax_temperature(logits, truth)
            return t if isinstance(t, str) else {"temperature": t}

        self.calibration = calibration_record(settings, len(truth), "temperature", fit)
        self._pending = self.calibration.get("temperature", 1.0)

    def answers(self, scores: np.ndarray, top_k: int = 1) -> list[dict[str, Any]]:
        """{"label", "score"} per row, plus "top_k" (best first) when asked for more than one."""
        return [best_answer(best) for best in ranked(scores, self.names, top_k)]

    # --- metrics ------------------------------------------------------------------------------

    def train_metrics(self, label_ids: np.ndarray, logits: np.ndarray) -> dict[str, float]:
        return classification_metrics(label_ids, np.asarray(logits).argmax(-1))

    def report(self, labels: Sequence[str], scores: np.ndarray) -> dict[str, Any]:
        truth = self.encode(labels)
        report = probability_report(truth, scores, self.names)
        report["calibration"] = self._reliability(np.asarray(truth), scores)
        return report

    def _reliability(self, truth: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
        """ECE and bins of the top label's score, and, where a temperature is folded in, of
        the scores the model gave before it."""

        def top(probs):
            return cal.reliability(probs.max(-1), probs.argmax(-1) == truth)

        block = {**(self.calibration or {"method": "none"}), **top(scores)}
        if block.get("temperature"):
            before = top(cal.uncalibrated_softmax(scores, block["temperature"]))
            block |= {"ece_uncalibrated": before["ece"], "bins_uncalibrated": before["bins"]}
        return block

    def pair_targets(self, labels):
        """1 for two texts of the same class, 0 otherwise."""
        return (labels[:, None] == labels[None, :]).float()

    def unlearnt(self, labels: Sequence[str], scores: np.ndarray) -> str | None:
        """One class answered for 95% or more of the texts (where the truth is more varied), or
        an accuracy no better than always answering the most common class."""
        if len(labels) == 0:
            return None
        truth = np.asarray(self.encode(labels))
        answered = scores.argmax(-1)
        top, top_share = _most_common(answered)
        truth_share = _most_common(truth)[1]
        accuracy = float((answered == truth).mean())
        if top_share >= 0.95 and truth_share < 0.95:
            return (
                f"the model answers {self.names[top]} for {top_share:.0%} of the texts: it has "
                f"not learnt to tell the classes apart; try {UNLEARNT_HINT}"
            )
        if accuracy <= truth_share and len(set(truth.tolist())) > 1:
            return (
                f"accuracy {accuracy:.3f} is no better than always answering the most common "
                f"class ({truth_share:.3f}): the model has not learnt; try {UNLEARNT_HINT}"
            )
        return None

    def loss_value(self, labels, logits: np.ndarray, weights=None) -> float:
        """Of the model as saved: a temperature still pending is applied."""
        w = list(weights.values()) if weights else None
        x = np.asarray(logits, dtype=np.float64) / self._pending
        return cross_entropy(x, self.encode(labels), w)

    def quality(self, labels: Sequence[str], scores: np.ndarray) -> tuple[str, float]:
        truth = np.asarray(self.encode(labels))
        return "accuracy", float((scores.argmax(-1) == truth).mean())

    def same_decision(self, reference: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Per text: the same most likely label."""
        return reference.argmax(-1) == scores.argmax(-1)

    def format_report(self, report: dict[str, Any]) -> str:
        return format_report(report)

    def headline(self, report: dict[str, Any]) -> str:
        return f"accuracy {report['accuracy']:.4f}, macro F1 {report['f1_macro']:.4f}"

    # --- the report ---------------------------------------------------------------------------

    def tiles(self, report: dict[str, Any]) -> list[tuple[str, float]]:
        tiles = [
            ("accuracy", report["accuracy"]),
            ("macro F1", report["f1_macro"]),
            ("weighted F1", report["f1_weighted"]),
            ("macro recall", report["recall_macro"]),
        ]
        binary = report.get("binary") or {}
        if binary.get("roc_auc") is not None:
            tiles += [("ROC-AUC", binary["roc_auc"]), ("PR-AUC", binary["pr_auc"])]
        return tiles

    def figures(self, labels, scores: np.ndarray, report: dict[str, Any], folder: Path):
        from bertft.metrics import binary_curves
        from bertft.reporting import plots

        matrix = report["confusion_matrix"]
        out = [
            Figure(
                "Confusion matrix",
                "Rows are the true labels, columns the predicted ones.",
                plots.confusion_matrix(
                    matrix["matrix"], matrix["labels"], folder / "confusion_matrix.png"
                ),
            ),
            Figure(
                "Per class",
                "",
                plots.per_class(report["per_class"], folder / "per_class.png"),
            ),
        ]
        binary = report.get("binary")
        if binary and binary.get("roc_auc") is not None:
            curves = binary_curves(self.encode(labels), scores[:, 1])
            path = plots.roc_pr(curves, binary, folder / "roc_pr.png")
            if path is not None:
                out.append(Figure("ROC and precision-recall", "", path))
        return out

    def mistakes(self, texts, labels, scores: np.ndarray) -> list[dict[str, Any]]:
        return confident_mistakes(texts, self.encode(labels), scores, self.names)

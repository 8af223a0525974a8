"""Any number of labels per text: one sigmoid per label, a decision threshold per label."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bertft import calibration as cal
from bertft.errors import BertftError
from bertft.metrics import figure_lines, per_class_lines
from bertft.tasks.base import (
    CONFIG_KEY,
    Figure,
    Recipe,
    TaskSettings,
    calibration_record,
    fold_temperatures,
    label_error,
    label_head,
    refuse_label_smoothing,
    share_of_items,
    sigmoid,
)

CANDIDATE_THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)
MAX_POS_WEIGHT = 100.0  # a label seen twice in 10k texts would otherwise dominate the loss


def torch_where_empty(shared, either):
    """shared / either, and 1 where both texts have no label at all."""
    return (shared / either.clamp(min=1)).where(either > 0, 1.0)


class MultiLabel:
    """Labels are tuples of names (possibly empty); the answer is every label whose probability
    reaches its threshold, with every label's probability."""

    name = "multi_label"
    problem_type = "multi_label_classification"
    best_metric = "f1_micro"
    # Sigmoid heads learn slower than a softmax: the single-label recipe (3 epochs at 1e-4)
    # leaves trec_multilabel at micro F1 0.80 (docs/benchmarks.md).
    recipe = Recipe(epochs=8.0, learning_rate=2e-4)
    pair_recipe = recipe  # not measured on pairs: no bundled multi-label pair set
    metric_names = ("f1_micro", "f1_macro", "f1_weighted", "subset_accuracy", "hamming_loss")
    answer_key = "labels"
    curves = (("micro F1", "f1_micro"), ("macro F1", "f1_macro"))  # (name, metric) drawn per epoch
    card_metrics = (  # (our key, model-index type, display name, args)
        ("f1_micro", "f1", "micro F1", {"average": "micro"}),
        ("f1_macro", "f1", "macro F1", {"average": "macro"}),
        ("precision_micro", "precision", "micro precision", {"average": "micro"}),
        ("recall_micro", "recall", "micro recall", {"average": "micro"}),
        ("subset_accuracy", "accuracy", "subset accuracy", None),
        ("hamming_loss", "hamming_loss", "Hamming loss", None),
    )
    pipeline_call = 'classify("your text here", top_k=None)  # every label\'s probability'

    def __init__(
        self,
        names: Sequence[str],
        thresholds: Sequence[float] | None = None,
        separator: str | None = None,
        calibration: dict[str, Any] | None = None,
    ):
        self.names = tuple(names)
        self.calibration = calibration
        self._pending = np.ones(len(self.names))  # temperatures not yet folded into the head
        self.thresholds = np.asarray(
            thresholds if thresholds is not None else [0.5] * len(self.names), dtype=np.float64
        )
        self.separator = separator

    def describe(self) -> str:
        """What the model does, for its model card."""
        names = ", ".join(f"`{x}`" for x in self.names)
        thresholds = ", ".join(
            f"{n} {t:.2f}" for n, t in zip(self.names, self.thresholds, strict=True)
        )
        return (
            f"It tags a text with any number of {len(self.names)} labels: {names}. Each label "
            f"has its own probability (a sigmoid) and its own threshold, chosen on the "
            f"validation set and saved in config.json (`bertft_task`): {thresholds}."
        )

    # --- labels -------------------------------------------------------------------------------

    @classmethod
    def parse(cls, examples, settings: TaskSettings):
        """Each label a tuple: a list as read, or a string split on the separator."""
        sep = settings.label_separator
        labels = []
        for i, label in enumerate(examples.labels):
            if isinstance(label, str):
                parts = label.split(sep) if sep else [label]
                label = tuple(p.strip() for p in parts if p.strip())
                if not label:
                    raise label_error(examples, i, f"no label between the separators '{sep}'")
            # Order and repeats carry no meaning: ("b", "a", "a") is the set {a, b}.
            labels.append(tuple(sorted(set(label))))
        examples.labels = labels
        return examples

    @classmethod
    def from_training(cls, labels: Sequence[tuple[str, ...]], settings: TaskSettings):
        unique = sorted({name for label in labels for name in label})
        if len(unique) < 2:
            raise BertftError(_too_few(unique))
        return cls(unique, separator=settings.label_separator)

    @classmethod
    def from_config(cls, config) -> MultiLabel:
        names = [config.id2label[i] for i in range(config.num_labels)]
        saved = getattr(config, CONFIG_KEY, None) or {}
        thresholds = saved.get("thresholds")
        return cls(
            names,
            [thresholds[n] for n in names] if thresholds else None,
            saved.get("label_separator"),
            saved.get("calibration"),
        )

    def check(self, examples) -> None:
        known = set(self.names)
        for i, label in enumerate(examples.labels):
            unknown = [x for x in label if x not in known]
            if unknown:
                raise label_error(
                    examples,
                    i,
                    f"label '{unknown[0]}' never appears in the training data "
                    f"(training labels: {', '.join(self.names)})",
                )

    def matrix(self, labels: Sequence[tuple[str, ...]]) -> np.ndarray:
        """Labels as a 0/1 indicator matrix, one column per name."""
        ids = {name: i for i, name in enumerate(self.names)}
        out = np.zeros((len(labels), len(self.names)), dtype=np.float32)
        for row, label in enumerate(labels):
            out[row, [ids[x] for x in label]] = 1.0
        return out

    def encode(self, labels: Sequence[tuple[str, ...]]) -> list[list[float]]:
        return self.matrix(labels).tolist()  # floats: BCEWithLogitsLoss wants them

    def label_counts(self, labels) -> dict[str, int]:
        found = Counter(name for label in labels for name in label)
        return {name: found.get(name, 0) for name in self.names}

    @classmethod
    def split(cls, examples, fraction: float, seed: int):
        """Iterative stratification (Sechidis et al. 2011, Szymański & Kajdanowicz 2017): every
        label keeps about the same share in both parts, which a plain random split of rare
        labels does not."""
        from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

        if round(len(examples) * fraction) < 1:
            raise BertftError(
                f"{examples.origin}: too few examples ({len(examples)}) to hold out "
                f"{fraction:.0%} for validation; pass --validation_data"
            )
        names = sorted({n for label in examples.labels for n in label})
        if len(names) < 2:  # before the splitter, which cannot stratify one column
            raise BertftError(f"{examples.origin}: {_too_few(names)}")
        y = MultiLabel(names).matrix(examples.labels)
        splitter = MultilabelStratifiedShuffleSplit(
            n_splits=1, test_size=fraction, random_state=seed
        )
        train_idx, val_idx = next(splitter.split(np.zeros(len(y)), y))
        return examples.subset(sorted(train_idx.tolist())), examples.subset(
            sorted(val_idx.tolist())
        )

    # --- the model ----------------------------------------------------------------------------

    def model_settings(self) -> dict[str, Any]:
        return label_head(self.names, self.problem_type)

    def to_config(self) -> dict[str, Any]:
        return {
            "task": self.name,
            "thresholds": {n: float(t) for n, t in zip(self.names, self.thresholds, strict=True)},
            "label_separator": self.separator,
            "calibration": self.calibration,
        }

    def resolve_weights(self, setting: str, labels) -> dict[str, float] | None:
        """Per-label positive weights (BCE's pos_weight): auto = negatives / positives of each
        label (capped at 100), or a file mapping each label to its weight."""
        from bertft.training.class_weights import EXPECTED, read_weights_file

        if setting == "none":
            return None
        if setting == "auto":
            counts = self.label_counts(labels)
            missing = [n for n, c in counts.items() if c == 0]
            if missing:
                raise BertftError(
                    f"--class_weights auto: no training examples of {', '.join(missing)}"
                )
            total = len(labels)
            weights = [min((total - counts[n]) / counts[n], MAX_POS_WEIGHT) for n in self.names]
        else:
            path = Path(setting)
            if not path.is_file():
                raise BertftError(f"--class_weights {setting}: no such file (expected {EXPECTED})")
            weights = read_weights_file(path, self.names)
        return dict(zip(self.names, weights, strict=True))

    def loss(self, weights: dict[str, float] | None, label_smoothing: float = 0.0):
        """BCE with per-label positive weights, or None: the model's own (unweighted) BCE."""
        refuse_label_smoothing(self.name, label_smoothing)
        if not weights:
            return None
        import torch

        pos_weight = torch.tensor(list(weights.values()))

        def weighted_bce(outputs, labels, num_items_in_batch=None):
            logits = outputs["logits"].float()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, labels.float(), pos_weight=pos_weight.to(logits.device)
            )  # a mean over (text, label) cells, like the model's own BCE
            return loss * share_of_items(labels.numel(), num_items_in_batch)

        return weighted_bce

    def finish(self, model) -> None:
        """Fold the fitted temperatures into the output layer, one row per label."""
        if (self._pending != 1.0).any():
            fold_temperatures(model, self._pending)
            self._pending = np.ones(len(self.names))

    # --- answers ------------------------------------------------------------------------------

    def scores(self, logits: np.ndarray) -> np.ndarray:
        return sigmoid(np.asarray(logits, dtype=np.float64) / self._pending)

    def decisions(self, scores: np.ndarray) -> np.ndarray:
        return scores >= self.thresholds

    def calibrate(self, labels, logits: np.ndarray, settings) -> None:
        """A temperature per label, then each label's threshold on the calibrated scores."""
        truth = self.matrix(labels)

        def fit():
            found = cal.sigmoid_temperatures(logits, truth)
            if isinstance(found, str):
                return found
            return {"temperatures": dict(zip(self.names, found, strict=True))}

        self.calibration = calibration_record(settings, len(truth), "temperature", fit)
        if "temperatures" in self.calibration:
            self._pending = np.asarray(list(self.calibration["temperatures"].values()))
        self._choose_thresholds(truth, self.scores(logits))

    def _choose_thresholds(self, truth: np.ndarray, scores: np.ndarray) -> None:
        """Each label's threshold: the candidate (0.05 .. 0.95) with the best F1 for that label
        on these (validation) texts; 0.5 for a label they never show."""
        from sklearn.metrics import f1_score

        for j in range(len(self.names)):
            if truth[:, j].sum() == 0:
                self.thresholds[j] = 0.5
                continue
            f1 = [
                f1_score(truth[:, j], scores[:, j] >= t, zero_division=0)
                for t in CANDIDATE_THRESHOLDS
            ]
            self.thresholds[j] = float(CANDIDATE_THRESHOLDS[int(np.argmax(f1))])

    def answers(self, scores: np.ndarray, top_k: int = 1) -> list[dict[str, Any]]:
        """{"labels": [...], "scores": {label: probability}} per row; labels best first."""
        chosen = self.decisions(scores)
        rows = []
        for row, picked in zip(scores, chosen, strict=True):
            order = np.argsort(-row, kind="stable")
            rows.append(
                {
                    "labels": [self.names[j] for j in order if picked[j]],
                    "scores": {self.names[j]: round(float(row[j]), 6) for j in order},
                }
            )
        return rows

    # --- metrics ------------------------------------------------------------------------------

    def _headline(self, truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
        from sklearn.metrics import accuracy_score, hamming_loss, precision_recall_fscore_support

        out = {
            "subset_accuracy": float(accuracy_score(truth, predicted)),
            "hamming_loss": float(hamming_loss(truth, predicted)),
        }
        for average in ("micro", "macro", "weighted"):
            p, r, f, _ = precision_recall_fscore_support(
                truth, predicted, average=average, zero_division=0
            )
            out |= {
                f"precision_{average}": float(p),
                f"recall_{average}": float(r),
                f"f1_{average}": float(f),
            }
        return out

    def train_metrics(self, label_ids: np.ndarray, logits: np.ndarray) -> dict[str, float]:
        return self._headline(np.asarray(label_ids) >= 0.5, self.decisions(self.scores(logits)))

    def report(self, labels, scores: np.ndarray) -> dict[str, Any]:
        from sklearn.metrics import precision_recall_fscore_support

        truth = self.matrix(labels).astype(bool)
        predicted = self.decisions(scores)
        p, r, f, support = precision_recall_fscore_support(
            truth, predicted, average=None, zero_division=0
        )
        return {
            **self._headline(truth, predicted),
            "per_class": {
                name: {
                    "precision": float(p[j]),
                    "recall": float(r[j]),
                    "f1": float(f[j]),
                    "support": int(support[j]),
                    "threshold": float(self.thresholds[j]),
                }
                for j, name in enumerate(self.names)
            },
            "co_occurrence": {
                "labels": list(self.names),
                "matrix": (truth.T.astype(int) @ truth.astype(int)).tolist(),
            },
            "calibration": self._reliability(truth, scores),
        }

    def _reliability(self, truth: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
        """ECE and bins of every (text, label) probability against whether the text has the
        label, and, where temperatures are folded in, of the scores before them."""
        block = {**(self.calibration or {"method": "none"}), **cal.reliability(scores, truth)}
        if block.get("temperatures"):
            t = [block["temperatures"][n] for n in self.names]
            before = cal.reliability(cal.uncalibrated_sigmoid(scores, t), truth)
            block |= {"ece_uncalibrated": before["ece"], "bins_uncalibrated": before["bins"]}
        return block

    def pair_targets(self, labels):
        """The Jaccard similarity of two texts' label sets (1 for two texts with none)."""
        hot = labels.float()
        shared = hot @ hot.T
        either = hot.sum(-1)[:, None] + hot.sum(-1)[None, :] - shared
        return torch_where_empty(shared, either)

    def unlearnt(self, labels, scores: np.ndarray) -> str | None:
        """The same set of labels answered for 95% or more of the texts, where the truth is
        more varied."""
        if len(labels) == 0:
            return None
        answered = [tuple(row) for row in self.decisions(scores).astype(int).tolist()]
        truth = [tuple(row) for row in self.matrix(labels).astype(int).tolist()]
        share = max(answered.count(a) for a in set(answered)) / len(answered)
        truth_share = max(truth.count(t) for t in set(truth)) / len(truth)
        if share >= 0.95 and truth_share < 0.95:
            common = max(set(answered), key=answered.count)
            names = [n for n, on in zip(self.names, common, strict=True) if on] or ["no label"]
            return (
                f"the model answers {', '.join(names)} for {share:.0%} of the texts: it has not "
                "learnt to tell them apart; try more labelled texts, more epochs (--epochs) or "
                "another learning rate (--learning_rate)"
            )
        return None

    def loss_value(self, labels, logits: np.ndarray, weights=None) -> float:
        """Mean binary cross-entropy over every (text, label) cell, pos_weight as in training,
        of the model as saved (temperatures still pending applied)."""
        x = np.asarray(logits, dtype=np.float64) / self._pending
        y = self.matrix(labels).astype(np.float64)
        pw = np.asarray(list(weights.values())) if weights else np.ones(len(self.names))
        log_p = -np.logaddexp(0, -x)  # log sigmoid(x), stable
        log_not_p = -np.logaddexp(0, x)
        return float(-(pw * y * log_p + (1 - y) * log_not_p).mean())

    def quality(self, labels, scores: np.ndarray) -> tuple[str, float]:
        from sklearn.metrics import f1_score

        truth = self.matrix(labels).astype(bool)
        return "f1_micro", float(
            f1_score(truth, self.decisions(scores), average="micro", zero_division=0)
        )

    def same_decision(self, reference: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Per text: exactly the same set of labels."""
        return (self.decisions(reference) == self.decisions(scores)).all(axis=-1)

    def format_report(self, report: dict[str, Any]) -> str:
        keys = ("f1_micro", "f1_macro", "f1_weighted", "precision_micro", "recall_micro")
        lines = per_class_lines(report["per_class"], extra=("threshold",))
        lines += ["", *figure_lines(report, (*keys, "subset_accuracy", "hamming_loss"))]
        return "\n".join(lines)

    def headline(self, report: dict[str, Any]) -> str:
        return (
            f"micro F1 {report['f1_micro']:.4f}, macro F1 {report['f1_macro']:.4f}, "
            f"subset accuracy {report['subset_accuracy']:.4f}"
        )

    # --- the report ---------------------------------------------------------------------------

    def tiles(self, report: dict[str, Any]) -> list[tuple[str, float]]:
        return [
            ("micro F1", report["f1_micro"]),
            ("macro F1", report["f1_macro"]),
            ("subset accuracy", report["subset_accuracy"]),
            ("Hamming loss", report["hamming_loss"]),
        ]

    def figures(self, labels, scores: np.ndarray, report: dict[str, Any], folder: Path):
        from bertft.reporting import plots

        co = report["co_occurrence"]
        return [
            Figure(
                "Per label",
                "Each label decided by its own threshold, chosen on the validation set.",
                plots.per_class(report["per_class"], folder / "per_class.png"),
            ),
            Figure(
                "Label co-occurrence",
                "How many texts carry both labels (the diagonal: each label's count).",
                plots.heatmap(
                    co["matrix"], co["labels"], folder / "co_occurrence.png", "Label co-occurrence"
                ),
            ),
        ]

    def mistakes(self, texts, labels, scores: np.ndarray, limit: int = 25) -> list[dict[str, Any]]:
        """Texts whose label set was wrong, by the largest miss on any one label."""
        truth = self.matrix(labels)
        picked = self.decisions(scores)
        wrong = np.where((picked != truth.astype(bool)).any(axis=-1))[0]
        miss = np.abs(scores - truth).max(axis=-1)
        wrong = sorted(wrong.tolist(), key=lambda i: -float(miss[i]))[:limit]
        return [
            {
                "text": texts[i],
                "label": ", ".join(labels[i]) or "(none)",
                "predicted": ", ".join(self.names[j] for j in np.where(picked[i])[0]) or "(none)",
                "score": round(float(miss[i]), 4),
            }
            for i in wrong
        ]


def _too_few(names: list[str]) -> str:
    return (
        f"the training labels name only {names or 'nothing'}; a multi-label classifier needs "
        f"at least two labels"
    )

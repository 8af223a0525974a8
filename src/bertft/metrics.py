"""Classification metrics as plain functions of label ids: what `train` and `evaluate` report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# sklearn is imported inside the functions that need it: `Classifier` and `bertft serve` use
# only softmax from here, and sklearn (with pandas) adds about a second and 100 MB to a server.


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-probabilities; subtracting the row maximum keeps exp() from overflowing."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(logits))


def cross_entropy(
    logits: np.ndarray, labels: Sequence[int], weights: Sequence[float] | None = None
) -> float:
    """Mean cross-entropy over the whole set; with per-class `weights`, weighted like torch's
    (sum w*loss / sum w)."""
    labels = np.asarray(labels)
    losses = -log_softmax(logits)[np.arange(len(labels)), labels]
    w = np.asarray(weights)[labels] if weights is not None else np.ones(len(labels))
    return float((w * losses).sum() / w.sum())


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, float]:
    """Accuracy and macro/weighted precision, recall and F1: the headline numbers."""
    from sklearn.metrics import precision_recall_fscore_support

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    out = {"accuracy": float((y_true == y_pred).mean())}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, average=average, zero_division=0
        )
        out |= {
            f"precision_{average}": float(p),
            f"recall_{average}": float(r),
            f"f1_{average}": float(f),
        }
    return out


def full_report(
    y_true: Sequence[int], y_pred: Sequence[int], names: Sequence[str]
) -> dict[str, Any]:
    """Headline metrics, per-class precision/recall/F1/support and the confusion matrix
    (rows: true label, columns: predicted), all keyed by label name."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    ids = list(range(len(names)))
    p, r, f, support = precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0)
    per_class = {
        name: {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(names)
    }
    return {
        **classification_metrics(y_true, y_pred),
        "per_class": per_class,
        "confusion_matrix": {
            "labels": list(names),
            "matrix": confusion_matrix(y_true, y_pred, labels=ids).tolist(),
        },
    }


def probability_report(
    y_true: Sequence[int], probs: np.ndarray, names: Sequence[str]
) -> dict[str, Any]:
    """`full_report` of the most likely labels, plus `binary` (ROC-AUC, PR-AUC, best threshold)
    for two-class tasks, where the positive class is the second label."""
    report = full_report(y_true, probs.argmax(axis=-1), names)
    if len(names) == 2:
        report["binary"] = {"positive_label": names[1], **binary_metrics(y_true, probs[:, 1])}
    return report


def binary_metrics(y_true: Sequence[int], positive_probs: Sequence[float]) -> dict[str, Any]:
    """For a two-class task (label id 1 = positive): ROC-AUC, PR-AUC (average precision) and the
    threshold on the positive-class probability that maximises F1, with the F1 it gives.

    Values are None where they are undefined: a set holding only one of the two classes."""
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

    y_true, scores = np.asarray(y_true), np.asarray(positive_probs, dtype=np.float64)
    if len(set(y_true.tolist())) < 2:
        return {"roc_auc": None, "pr_auc": None, "best_threshold": None, "best_threshold_f1": None}
    precision, recall, thresholds = precision_recall_curve(y_true, scores)
    # precision[i], recall[i] are those of predicting positive when score >= thresholds[i].
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    best = int(np.argmax(f1))
    return {
        "roc_auc": float(roc_auc_score(y_true, scores)),
        "pr_auc": float(average_precision_score(y_true, scores)),
        "best_threshold": float(thresholds[best]),
        "best_threshold_f1": float(f1[best]),
    }


def binary_curves(y_true: Sequence[int], positive_probs: Sequence[float]) -> dict[str, list]:
    """ROC (fpr, tpr) and precision-recall points for plotting; empty lists if one class only."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    y_true = np.asarray(y_true)
    if len(set(y_true.tolist())) < 2:
        return {"fpr": [], "tpr": [], "precision": [], "recall": []}
    fpr, tpr, _ = roc_curve(y_true, positive_probs)
    precision, recall, _ = precision_recall_curve(y_true, positive_probs)
    return {
        "fpr": fpr.tolist(),
        "tpr": tpr.tolist(),
        "precision": precision.tolist(),
        "recall": recall.tolist(),
    }


def confident_mistakes(
    texts: Sequence[str],
    y_true: Sequence[int],
    probs: np.ndarray,
    names: Sequence[str],
    limit: int = 25,
) -> list[dict[str, Any]]:
    """The wrong predictions the model was surest of, surest first: where to look for label
    noise or a blind spot."""
    predicted = probs.argmax(axis=-1)
    scores = probs.max(axis=-1)
    wrong = [i for i in range(len(texts)) if predicted[i] != y_true[i]]
    wrong.sort(key=lambda i: -float(scores[i]))
    return [
        {
            "text": texts[i],
            "label": names[y_true[i]],
            "predicted": names[predicted[i]],
            "score": round(float(scores[i]), 4),
        }
        for i in wrong[:limit]
    ]


def per_class_lines(per_class: dict[str, dict], extra: Sequence[str] = ()) -> list[str]:
    """Per-class precision, recall, F1 and support as terminal table lines; each name in `extra`
    adds a column of that row value (e.g. a multi-label model's threshold)."""
    width = max(10, *(len(n) for n in per_class))
    head = f"{'label':<{width}}  precision  recall      f1  support"
    lines = [head + "".join(f"  {name:>9}" for name in extra)]
    for name, row in per_class.items():
        lines.append(
            f"{name:<{width}}  {row['precision']:9.3f}  {row['recall']:6.3f}  "
            f"{row['f1']:6.3f}  {row['support']:7d}" + "".join(f"  {row[k]:9.2f}" for k in extra)
        )
    return lines


def figure_lines(report: dict[str, Any], keys: Sequence[str]) -> list[str]:
    """`name  value` lines for the keys the report has a value for."""
    return [f"{key:<18} {report[key]:.4f}" for key in keys if report.get(key) is not None]


def format_report(report: dict[str, Any]) -> str:
    """The report as a terminal table."""
    names = list(report["per_class"])
    width = max(10, *(len(n) for n in names))
    lines = per_class_lines(report["per_class"])
    lines.append("")
    lines += figure_lines(
        report, ("accuracy", "f1_macro", "f1_weighted", "precision_macro", "recall_macro")
    )
    binary = report.get("binary") or {}
    lines += figure_lines(binary, ("roc_auc", "pr_auc", "best_threshold", "best_threshold_f1"))
    matrix = report["confusion_matrix"]["matrix"]
    cell = max(5, *(len(n) for n in names), *(len(str(v)) for row in matrix for v in row))
    lines += [
        "",
        "confusion matrix (rows: true, columns: predicted)",
        " " * width + "  " + " ".join(f"{n:>{cell}}" for n in names),
    ]
    for name, row in zip(names, matrix, strict=True):
        lines.append(f"{name:<{width}}  " + " ".join(f"{v:>{cell}}" for v in row))
    return "\n".join(lines)

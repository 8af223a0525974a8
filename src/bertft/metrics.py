"""Classification metrics as plain functions of label ids: what `train` and `evaluate` report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, float]:
    """Accuracy and macro/weighted precision, recall and F1: the headline numbers."""
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


def format_report(report: dict[str, Any]) -> str:
    """The report as a terminal table."""
    names = list(report["per_class"])
    width = max(10, *(len(n) for n in names))
    lines = [f"{'label':<{width}}  precision  recall      f1  support"]
    for name, row in report["per_class"].items():
        lines.append(
            f"{name:<{width}}  {row['precision']:9.3f}  {row['recall']:6.3f}  "
            f"{row['f1']:6.3f}  {row['support']:7d}"
        )
    lines.append("")
    for key in ("accuracy", "f1_macro", "f1_weighted", "precision_macro", "recall_macro"):
        lines.append(f"{key:<16} {report[key]:.4f}")
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

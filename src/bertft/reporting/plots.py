"""The report's figures as PNG files: training curves, confusion matrix, per-class scores,
label distribution, ROC and precision-recall curves.

Figures are built on `matplotlib.figure.Figure` and rendered by Agg, never through pyplot: no
display is needed and no global figure state leaks between calls (a server may call this from
several threads). Every figure has a fixed size in pixels (`SIZES`) so reports lay out alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bertft.files import replacing

DPI = 100
# name -> (width, height) in inches; at DPI 100 the PNG is 100x these in pixels.
SIZES = {
    "training_curves": (12.0, 3.6),
    "confusion_matrix": (12.0, 5.0),
    "per_class": (12.0, 3.8),
    "label_distribution": (12.0, 3.2),
    "roc_pr": (12.0, 4.4),
    "heatmap": (7.0, 6.0),
    "regression": (12.0, 4.6),
    "reliability": (6.0, 5.0),
}
COLORS = ("#3465a4", "#f57900", "#4e9a06", "#cc0000", "#75507b", "#c4a000")


def _figure(name: str, columns: int = 1):
    from matplotlib.figure import Figure

    fig = Figure(figsize=SIZES[name], dpi=DPI, layout="constrained")
    axes = fig.subplots(1, columns, squeeze=False)[0]
    return fig, list(axes)


def _save(fig, path: Path) -> Path:
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    return path


def _style(ax, title: str, xlabel: str = "", ylabel: str = "") -> None:
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)


def training_curves(
    history: Sequence[dict[str, Any]],
    path: Path,
    metrics: Sequence[tuple[str, str]] = (
        ("eval_accuracy", "accuracy"),
        ("eval_f1_macro", "macro F1"),
    ),
) -> Path | None:
    """Loss (train and validation), validation scores (`metrics`: (log key, name)) per epoch,
    and the learning rate per step, from the Trainer's log_history. None if nothing was
    logged."""
    train = [h for h in history if "loss" in h and "epoch" in h]
    evals = [h for h in history if "eval_loss" in h and "epoch" in h]
    if not train and not evals:
        return None
    fig, (loss_ax, score_ax, lr_ax) = _figure("training_curves", 3)
    if train:
        loss_ax.plot([h["epoch"] for h in train], [h["loss"] for h in train], color=COLORS[0])
        loss_ax.lines[-1].set_label("train")
    if evals:
        epochs = [h["epoch"] for h in evals]
        loss_ax.plot(epochs, [h["eval_loss"] for h in evals], "o-", color=COLORS[1], label="val")
        for (key, label), color in zip(metrics, (COLORS[2], COLORS[4]), strict=False):
            values = [h.get(key) for h in evals]
            if all(v is not None for v in values):
                score_ax.plot(epochs, values, "o-", color=color, label=label)
        score_ax.legend(loc="lower right")
    loss_ax.legend(loc="upper right")
    _style(loss_ax, "Loss", "epoch")
    _style(score_ax, "Validation " + " and ".join(name for _, name in metrics), "epoch")
    rates = [h for h in train if "learning_rate" in h]
    lr_ax.plot(
        [h.get("step", i) for i, h in enumerate(rates)],
        [h["learning_rate"] for h in rates],
        color=COLORS[0],
    )
    lr_ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    _style(lr_ax, "Learning rate", "step")
    return _save(fig, path)


def confusion_matrix(matrix: Sequence[Sequence[int]], labels: Sequence[str], path: Path) -> Path:
    """Counts and row-normalised rates (recall on the diagonal), rows true, columns predicted."""
    import numpy as np

    counts = np.asarray(matrix, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    fig, axes = _figure("confusion_matrix", 2)
    n = len(labels)
    font = max(5, min(11, int(120 / max(n, 1))))
    for ax, values, title, fmt in (
        (axes[0], counts, "Confusion matrix (counts)", "{:.0f}"),
        (axes[1], rates, "Row-normalised (recall on the diagonal)", "{:.2f}"),
    ):
        shown = values / values.max() if values.max() > 0 else values
        ax.imshow(shown, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(
            range(n), labels, rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center"
        )
        ax.set_yticks(range(n), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title, fontsize=11, loc="left")
        if n <= 30:
            for i in range(n):
                for j in range(n):
                    dark = shown[i, j] > 0.6
                    ax.text(
                        j,
                        i,
                        fmt.format(values[i, j]),
                        ha="center",
                        va="center",
                        fontsize=font,
                        color="white" if dark else "#222222",
                    )
    return _save(fig, path)


def per_class(per_class_scores: dict[str, dict[str, float]], path: Path) -> Path:
    """Precision, recall and F1 side by side for each label, support under the label."""
    import numpy as np

    names = list(per_class_scores)
    x = np.arange(len(names))
    width = 0.26
    fig, (ax,) = _figure("per_class")
    for k, (key, color) in enumerate(
        (("precision", COLORS[0]), ("recall", COLORS[1]), ("f1", COLORS[2]))
    ):
        values = [per_class_scores[n][key] for n in names]
        ax.bar(x + (k - 1) * width, values, width, label=key, color=color)
    ticks = [f"{n}\n(n={per_class_scores[n]['support']})" for n in names]
    ax.set_xticks(x, ticks, fontsize=9 if len(names) <= 12 else 7)
    ax.set_ylim(0, 1.05)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars, never over them
    _style(ax, "Per-class precision, recall and F1")
    return _save(fig, path)


def label_distribution(counts: dict[str, dict[str, int]], path: Path) -> Path:
    """Texts per label in each split ({split: {label: count}}), bars grouped by label."""
    import numpy as np

    splits = list(counts)
    names = sorted({name for c in counts.values() for name in c}, key=str)
    first = counts[splits[0]]
    names.sort(key=lambda n: list(first).index(n) if n in first else len(first))
    x = np.arange(len(names))
    width = 0.8 / max(len(splits), 1)
    fig, (ax,) = _figure("label_distribution")
    for k, split in enumerate(splits):
        values = [counts[split].get(n, 0) for n in names]
        offset = (k - (len(splits) - 1) / 2) * width
        bars = ax.bar(x + offset, values, width, label=split, color=COLORS[k % len(COLORS)])
        ax.bar_label(bars, fontsize=8, padding=2)
    ax.set_xticks(x, names, fontsize=9 if len(names) <= 12 else 7)
    ax.margins(y=0.15)
    ax.legend(loc="upper right")
    _style(ax, "Texts per label", ylabel="texts")
    return _save(fig, path)


def roc_pr(curves: dict[str, list], binary: dict[str, Any], path: Path) -> Path | None:
    """ROC and precision-recall curves of the positive class, with their areas."""
    if not curves["fpr"]:
        return None
    fig, (roc_ax, pr_ax) = _figure("roc_pr", 2)
    roc_ax.plot(curves["fpr"], curves["tpr"], color=COLORS[0], lw=2)
    roc_ax.plot([0, 1], [0, 1], "--", color="#888888", lw=1)
    _style(
        roc_ax,
        f"ROC curve (AUC {binary['roc_auc']:.3f})",
        "false positive rate",
        "true positive rate",
    )
    pr_ax.plot(curves["recall"], curves["precision"], color=COLORS[1], lw=2)
    _style(pr_ax, f"Precision-recall (AUC {binary['pr_auc']:.3f})", "recall", "precision")
    for ax in (roc_ax, pr_ax):
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_aspect("equal")
    return _save(fig, path)


def reliability(block: dict[str, Any], path: Path) -> Path | None:
    """Reliability diagram: per confidence bin, how often the answer was right, against the
    diagonal of perfect calibration; before the temperature too, where one was fitted."""
    if not block.get("bins"):
        return None
    fig, (ax,) = _figure("reliability")
    ax.plot([0, 1], [0, 1], "--", color="#888888", lw=1, label="perfectly calibrated")
    drawn = [("bins_uncalibrated", "before calibration", COLORS[1]), ("bins", "", COLORS[0])]
    for key, name, color in drawn:
        bins = block.get(key)
        if not bins:
            continue
        shown = name or ("calibrated" if "bins_uncalibrated" in block else "scores")
        ax.plot(
            [b["confidence"] for b in bins], [b["accuracy"] for b in bins],
            "o-", color=color, lw=2, label=shown,
        )  # fmt: skip
    _style(ax, f"Reliability (ECE {block['ece']:.3f})", "score given", "how often right")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_aspect("equal")
    ax.legend(loc="upper left", frameon=False)
    return _save(fig, path)


def heatmap(matrix: Sequence[Sequence[int]], labels: Sequence[str], path: Path, title: str) -> Path:
    """A square matrix of counts between labels (e.g. how often two labels go together)."""
    import numpy as np

    values = np.asarray(matrix, dtype=float)
    n = len(labels)
    fig, (ax,) = _figure("heatmap")
    shown = values / values.max() if values.max() > 0 else values
    ax.imshow(shown, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center")
    ax.set_yticks(range(n), labels)
    ax.set_title(title, fontsize=11, loc="left")
    if n <= 30:
        font = max(5, min(11, int(120 / max(n, 1))))
        for i in range(n):
            for j in range(n):
                color = "white" if shown[i, j] > 0.6 else "#222222"
                ax.text(
                    j,
                    i,
                    f"{values[i, j]:.0f}",
                    ha="center",
                    va="center",
                    fontsize=font,
                    color=color,
                )
    return _save(fig, path)


def regression(truth: Sequence[float], predicted: Sequence[float], path: Path) -> Path:
    """Predicted against true values (the diagonal is right), and the residuals against the
    prediction (a trend or funnel there is error the model makes systematically)."""
    import numpy as np

    truth, predicted = np.asarray(truth), np.asarray(predicted)
    fig, (scatter_ax, residual_ax) = _figure("regression", 2)
    alpha = 0.6 if len(truth) < 500 else 0.25
    scatter_ax.scatter(truth, predicted, s=10, alpha=alpha, color=COLORS[0])
    low = float(min(truth.min(), predicted.min()))
    high = float(max(truth.max(), predicted.max()))
    scatter_ax.plot([low, high], [low, high], "--", color="#888888", lw=1)
    _style(scatter_ax, "Predicted against true", "true value", "predicted value")
    residual_ax.scatter(predicted, predicted - truth, s=10, alpha=alpha, color=COLORS[1])
    residual_ax.axhline(0, color="#888888", lw=1, ls="--")
    _style(residual_ax, "Residuals", "predicted value", "predicted - true")
    return _save(fig, path)

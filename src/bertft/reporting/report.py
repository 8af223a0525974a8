"""`report.html`: one self-contained page that shows how a run went and where the model is wrong.

Self-contained means it opens anywhere, offline, as a single file: the figures are embedded as
base64 PNG data URIs, the CSS is inline, and there is no JavaScript. The same PNGs are written
beside it in `plots/` for slides and notebooks. Every text that came from the user (texts,
labels, file names, settings) is HTML-escaped.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from bertft.calibration import describe_calibration
from bertft.config import TrainConfig
from bertft.files import write_text
from bertft.reporting import plots
from bertft.tasks import Figure, Task

REPORT_FILE = "report.html"
MAX_TEXT_CHARS = 400  # a long article would push the rest of the mistakes table off screen


@dataclass
class ReportData:
    """What one report shows. `evaluation` is `task.report(labels, scores)`; the rest is
    optional context."""

    title: str
    task: Task
    evaluation: dict[str, Any]
    texts: Sequence[str]
    labels: Sequence[Any]  # the true labels, as the task reads them
    scores: np.ndarray
    summary: list[tuple[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] | None = None
    label_counts: dict[str, dict[str, int]] | None = None  # {split: {label: count}}
    hyperparameters: dict[str, Any] | None = None
    class_weights: dict[str, float] | None = None
    split_name: str = "validation"


def write_report(folder: Path, data: ReportData) -> Path:
    """Write `folder/plots/*.png` and `folder/report.html`; returns the HTML path."""
    plot_dir = folder / "plots"
    figures: dict[str, Path | None] = {}
    if data.label_counts:
        figures["label_distribution"] = plots.label_distribution(
            data.label_counts, plot_dir / "label_distribution.png"
        )
    if data.history:
        figures["training_curves"] = plots.training_curves(
            data.history,
            plot_dir / "training_curves.png",
            [(f"eval_{key}", name) for name, key in data.task.curves],
        )
    task_figures = data.task.figures(data.labels, data.scores, data.evaluation, plot_dir)
    block = data.evaluation.get("calibration") or {}
    figures["reliability"] = plots.reliability(block, plot_dir / "reliability.png")
    mistakes = data.task.mistakes(data.texts, data.labels, data.scores)
    page = _page(data, {k: v for k, v in figures.items() if v is not None}, task_figures, mistakes)
    return write_text(folder / REPORT_FILE, page)


def write_training_report(
    out: Path,
    cfg: TrainConfig,
    metrics: dict[str, Any],
    task: Task,
    validation,
    scores: np.ndarray,
) -> Path:
    """The report of a training run, from its settings, its metrics.json content and the
    validation examples with the scores predicted for them."""
    from bertft.reporting.model_card import HYPERPARAMETERS

    train = metrics["train"]
    data = metrics["data"]
    summary = [
        ("model", cfg.model_id),
        ("task", f"{task.name} ({metrics['task_reason']})"),
        ("data", data["data"]),
        *(
            [("pairs", f"{validation.text_column} + {validation.pair_column}")]
            if validation.pair_column
            else []
        ),
        ("validation", data["validation_data"]),
        *([("test", data["test_data"])] if data["test_data"] else []),
        ("texts", ", ".join(f"{k} {v:,}" for k, v in data["samples"].items())),
        *_dropped_rows(data),
        ("labels", ", ".join(metrics["labels"])),
        ("precision", metrics["precision"]),
        *((k, v) for k, v in metrics["hardware"].items()),
        ("training time", f"{train['wall_seconds']:.1f} s"),
        ("train samples/s", train.get("train_samples_per_second")),
        ("validation samples/s", metrics["validation"].get("samples_per_second")),
        ("best checkpoint", metrics["best_checkpoint"]),
        *_recipe_rows(metrics),
    ]
    if "long_texts" in metrics:
        cut = metrics["validation"].get("long_texts")
        why = metrics["long_texts"].get("why", "")
        summary.append(("long texts", f"{metrics['long_texts']['strategy']} ({why})"))
        if cut:
            summary.append(("validation texts cut", _describe_cut(cut)))
    if "test" in metrics:
        summary.append(("test", task.headline(metrics["test"])))
    settings = cfg.to_dict()
    return write_report(
        out,
        ReportData(
            title=f"bertft training report: {out.name}",
            task=task,
            evaluation=metrics["validation"],
            texts=validation.texts,
            labels=validation.labels,
            scores=scores,
            summary=summary,
            history=metrics["history"],
            label_counts=data["label_counts"],
            hyperparameters={k: settings[k] for k in HYPERPARAMETERS},
            class_weights=metrics["class_weights"],
        ),
    )


def _describe_cut(cut: dict[str, Any]) -> str:
    from bertft.windows import CutStats

    return CutStats.from_dict(cut).describe()


# --- HTML ----------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.3g}"
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _img(path: Path, alt: str) -> str:
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{encoded}" alt="{_e(alt)}">'


def _table(rows: Sequence[tuple[Any, Any]], head: tuple[str, str] | None = None) -> str:
    header = f"<tr><th>{_e(head[0])}</th><th>{_e(head[1])}</th></tr>" if head else ""
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(_fmt(v))}</td></tr>" for k, v in rows)
    return f'<table class="kv">{header}{body}</table>'


def _tiles(tiles: list[tuple[str, float]]) -> str:
    return (
        '<div class="tiles">'
        + "".join(
            f'<div class="tile"><div class="value">{v:.4f}</div>'
            f'<div class="name">{_e(k)}</div></div>'
            for k, v in tiles
        )
        + "</div>"
    )


def _bar(value: float, color: str) -> str:
    return (
        f'<div class="bar"><span style="width:{100 * value:.1f}%;background:{color}"></span>'
        f"<em>{value:.3f}</em></div>"
    )


def _per_class_table(evaluation: dict[str, Any], weights: dict[str, float] | None) -> str:
    weight_head = "<th>loss weight</th>" if weights else ""
    rows = []
    for name, row in evaluation["per_class"].items():
        weight = f"<td>{weights[name]:.3f}</td>" if weights else ""
        rows.append(
            f"<tr><th>{_e(name)}</th>"
            f"<td>{_bar(row['precision'], plots.COLORS[0])}</td>"
            f"<td>{_bar(row['recall'], plots.COLORS[1])}</td>"
            f"<td>{_bar(row['f1'], plots.COLORS[2])}</td>"
            f"<td>{row['support']:,}</td>{weight}</tr>"
        )
    return (
        '<table class="grid"><tr><th>label</th><th>precision</th><th>recall</th><th>F1</th>'
        f"<th>support</th>{weight_head}</tr>{''.join(rows)}</table>"
    )


def _mistakes_table(mistakes: list[dict[str, Any]], split: str) -> str:
    if not mistakes:
        return f"<p>No mistakes on the {_e(split)} set.</p>"
    rows = []
    for m in mistakes:
        text = m["text"]
        if len(text) > MAX_TEXT_CHARS:
            text = text[:MAX_TEXT_CHARS] + " …"
        rows.append(
            f'<tr><td class="text">{_e(text)}</td><td>{_e(m["label"])}</td>'
            f'<td class="wrong">{_e(m["predicted"])}</td><td>{m["score"]:.3f}</td></tr>'
        )
    return (
        f"<p>The {len(mistakes)} wrong predictions the model was most sure of, surest first: "
        "look here for mislabelled texts and blind spots.</p>"
        '<table class="grid mistakes"><tr><th>text</th><th>true label</th>'
        f"<th>predicted</th><th>score</th></tr>{''.join(rows)}</table>"
    )


def _binary_section(binary: dict[str, Any]) -> str:
    def four(value: float | None) -> str:
        return "undefined (one class only)" if value is None else f"{value:.4f}"

    rows = [
        ("positive class", binary["positive_label"]),
        ("ROC-AUC", four(binary["roc_auc"])),
        ("PR-AUC (average precision)", four(binary["pr_auc"])),
        ("threshold maximising F1", four(binary["best_threshold"])),
        ("F1 at that threshold", four(binary["best_threshold_f1"])),
    ]
    hint = (
        f"<p>Label a text <code>{_e(binary['positive_label'])}</code> when its probability is at "
        f"least the threshold: <code>bertft predict --threshold "
        f"{binary['best_threshold']:.4f}</code>.</p>"
        if binary["best_threshold"] is not None
        else ""
    )
    return f"<section><h2>Threshold</h2>{_table(rows)}{hint}</section>"


def _calibration_section(block: dict[str, Any], split: str, figures: dict[str, Path]) -> str:
    """What the scores' calibration is and how well it holds on these texts."""
    line = f"<p>{_e(describe_calibration(block, f'the {split} set'))}.</p>"
    rows = [("method", block.get("method", "none"))]
    if block.get("why"):
        rows.append(("why", block["why"]))
    if "temperature" in block:
        rows.append(("temperature", f"{block['temperature']:.4f}"))
    rows += [(f"temperature of {k}", f"{t:.4f}") for k, t in block.get("temperatures", {}).items()]
    if "ece_uncalibrated" in block:
        rows.append(("expected calibration error before", f"{block['ece_uncalibrated']:.4f}"))
    if "ece" in block:
        rows.append(("expected calibration error", f"{block['ece']:.4f}"))
    if "half_width" in block:
        rows.append((f"{block['coverage']:.0%} interval", f"value ± {block['half_width']:.4g}"))
    if "covered" in block:
        rows.append(("values inside it here", f"{block['covered']:.1%}"))
    image = _img(figures["reliability"], "reliability diagram") if "reliability" in figures else ""
    return f"<section><h2>Calibration</h2>{line}{_table(rows)}{image}</section>"


def _page(
    data: ReportData,
    figures: dict[str, Path],
    task_figures: list[Figure],
    mistakes: list[dict[str, Any]],
) -> str:
    ev = data.evaluation
    sections = [
        f"<header><h1>{_e(data.title)}</h1>{_tiles(data.task.tiles(ev))}"
        f"<p class='note'>Metrics on the {_e(data.split_name)} set "
        f"({ev.get('samples', len(data.texts)):,} texts).</p></header>",
        f"<section><h2>Run</h2>{_table(data.summary)}</section>" if data.summary else "",
    ]
    if "label_distribution" in figures:
        sections.append(
            "<section><h2>Data</h2>"
            + _img(figures["label_distribution"], "texts per label")
            + "</section>"
        )
    if data.hyperparameters:
        sections.append(
            "<section><h2>Hyperparameters</h2>"
            + _table(list(data.hyperparameters.items()))
            + "</section>"
        )
    if "training_curves" in figures:
        sections.append(
            "<section><h2>Training curves</h2>"
            + _img(figures["training_curves"], "loss, validation scores and learning rate")
            + "</section>"
        )
    for figure in task_figures:
        table = _per_class_table(ev, data.class_weights) if figure.path.stem == "per_class" else ""
        note = f"<p>{_e(figure.note)}</p>" if figure.note else ""
        sections.append(
            f"<section><h2>{_e(figure.title)}</h2>{note}{table}"
            + _img(figure.path, figure.title)
            + "</section>"
        )
    if ev.get("binary"):
        sections.append(_binary_section(ev["binary"]))
    if ev.get("calibration"):
        sections.append(_calibration_section(ev["calibration"], data.split_name, figures))
    sections.append(
        "<section><h2>Most confident mistakes</h2>"
        + _mistakes_table(mistakes, data.split_name)
        + "</section>"
    )
    return html_page(data.title, sections)


def html_page(title: str, sections: list[str]) -> str:
    """A whole self-contained page of `sections` (training's, evaluate's and audit's reports)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{''.join(sections)}</main>"
        "<footer>Written by bertft.</footer></body></html>\n"
    )


_CSS = """
body { margin: 0; background: #f4f5f7; color: #1f2328;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 24px; }
header, section { background: #fff; border: 1px solid #dde1e6; border-radius: 8px;
  padding: 16px 20px; margin-bottom: 16px; }
h1 { font-size: 22px; margin: 0 0 12px; }
h2 { font-size: 17px; margin: 0 0 10px; color: #3465a4; }
img { max-width: 100%; height: auto; display: block; margin: 8px 0; }
.tiles { display: flex; flex-wrap: wrap; gap: 12px; }
.tile { background: #eef3fb; border-radius: 6px; padding: 8px 16px; min-width: 120px; }
.tile .value { font-size: 24px; font-weight: 600; color: #204a87; }
.tile .name { font-size: 13px; color: #555; }
.note, footer { color: #666; font-size: 13px; }
footer { text-align: center; padding-bottom: 20px; }
table { border-collapse: collapse; margin: 6px 0; }
.kv th { text-align: left; font-weight: 500; color: #555; padding: 3px 24px 3px 0; }
.kv td { padding: 3px 0; font-variant-numeric: tabular-nums; }
.grid { width: 100%; }
.grid th, .grid td { border-bottom: 1px solid #e6e8eb; padding: 5px 8px; text-align: left;
  vertical-align: top; }
.grid tr:first-child th { background: #f6f8fa; font-weight: 600; }
.bar { position: relative; background: #eef0f2; height: 18px; min-width: 140px;
  border-radius: 3px; }
.bar span { position: absolute; left: 0; top: 0; bottom: 0; border-radius: 3px; opacity: .8; }
.bar em { position: relative; font-style: normal; font-size: 12px; padding-left: 6px; }
.mistakes td.text { width: 70%; word-break: break-word; }
.mistakes td.wrong { color: #cc0000; font-weight: 600; }
code { background: #f0f2f4; padding: 1px 4px; border-radius: 3px; }
"""


def _dropped_rows(data: dict) -> list[tuple[str, str]]:
    """How many training rows --drop_label_issues left out, and from which file."""
    dropped = data.get("dropped_label_issues")
    if not dropped:
        return []
    return [("dropped as label issues", f"{dropped['rows']:,} rows listed in {dropped['file']}")]


def _recipe_rows(metrics: dict) -> list[tuple[str, str]]:
    """The recipe and why, where the few-shot one figures are on the training texts, and
    the warning of a model that learnt nothing."""
    recipe = metrics.get("recipe") or {}
    rows = [("recipe", f"{recipe['name']} ({recipe['why']})")] if recipe else []
    if recipe.get("validated_on"):
        rows.append(("figures on", recipe["validated_on"]))
    if metrics.get("not_learnt"):
        rows.append(("warning", metrics["not_learnt"]))
    return rows

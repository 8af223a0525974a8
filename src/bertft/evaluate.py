"""Measure a trained model on any labelled set: the same metrics `train` reports."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from bertft.data.examples import Examples
from bertft.data.load import read_examples
from bertft.data.split import stratified_sample
from bertft.errors import BertftError
from bertft.files import replacing, write_json
from bertft.inference.classifier import Classifier, saved_columns
from bertft.reporting.report import ReportData, write_report
from bertft.settings import EvaluateSettings
from bertft.tasks import TaskSettings

log = logging.getLogger(__name__)


def evaluate(settings: EvaluateSettings) -> dict[str, Any]:
    """Predict every text of `settings.data` with `settings.model` (a training folder, or an
    ONNX export with backend="onnx"), compare with its labels and write `metrics.json`,
    `predictions.jsonl`, `report.html` and `plots/` to `output_dir` (default:
    MODEL/evaluation/<data name>). The metrics are the model's task's own: single-label (two-label
    models also get ROC-AUC, PR-AUC and the threshold maximising F1, `binary`), multi-label
    (micro/macro F1, subset accuracy, Hamming loss) or regression (RMSE, Pearson, ...).

    When `data` is the model's own training data and its validation texts were split from it,
    only those held-out texts are used (the training's seeded split): the other rows were
    trained on and would inflate every metric. `all_rows` uses every row anyway.

    Texts are read as training read them (the model's saved encoder); metrics are per text,
    and `long_texts` in the result says how many exceeded the window and what was dropped.
    `chunk_pooling` (mean, max) replaces how a chunked text's windows are combined."""
    settings.validate()
    model, data, split = settings.model, settings.data, settings.split
    held_out = None if settings.all_rows else _held_out_part(model, data)
    if held_out is not None:
        examples = held_out
    else:
        examples = read_examples(
            data,
            settings.text_column,
            settings.label_column,
            strict=settings.strict,
            split=split,
            text_pair_column=settings.text_pair_column,
            preferred=saved_columns(_folder(model)),
        )
    if settings.max_eval_samples is not None:
        examples = stratified_sample(examples, settings.max_eval_samples, seed=0)
    clf = Classifier.from_pretrained(
        model,
        backend=settings.backend,
        batch_size=settings.per_device_eval_batch_size,
        device=settings.device,
        pooling=settings.chunk_pooling,
    )
    task = clf.task
    if held_out is None:
        separator = settings.label_separator or getattr(task, "separator", None)
        examples = type(task).parse(examples, TaskSettings(label_separator=separator))
    task.check(examples)
    if clf.pair_column and examples.pairs is None:
        raise BertftError(
            f"{examples.origin}: the model reads pairs of texts (trained with a second text "
            f"from '{clf.pair_column}'); name the column of the second text with "
            f"--text_pair_column"
        )

    started = time.perf_counter()
    logits = clf.predict_logits(examples.texts, examples.pairs).astype(np.float64)
    seconds = time.perf_counter() - started
    scores = task.scores(logits)
    report = task.report(examples.labels, scores)
    report |= {
        "task": task.name,
        "loss": task.loss_value(examples.labels, logits),  # unweighted, whatever training used
        "data": data,
        "held_out_from_training": held_out is not None,
        "samples": len(examples),
        "seconds": round(seconds, 3),
        "samples_per_second": round(len(examples) / seconds, 1),
        "long_texts": {**clf.last_stats.as_dict(), "pooling": clf.encoder.spec.pooling},
    }

    default = _folder(model) / "evaluation" / _name(data, clf)
    out = Path(settings.output_dir) if settings.output_dir else default
    out.mkdir(parents=True, exist_ok=True)
    _write_predictions(
        out / "predictions.jsonl", examples, task.answers(scores, top_k=len(task.names))
    )
    counts = task.label_counts(examples.labels)
    write_report(
        out,
        ReportData(
            title=f"bertft evaluation: {Path(model).name} on {data}",
            task=task,
            evaluation=report,
            texts=examples.texts,
            labels=examples.labels,
            scores=scores,
            summary=[
                ("model", str(model)),
                ("task", task.name),
                ("data", _describe_data(data, split, held_out is not None)),
                ("texts", len(examples)),
                ("labels", ", ".join(clf.labels)),
                ("prediction time", f"{seconds:.2f} s"),
                ("samples/s", report["samples_per_second"]),
                ("long texts", clf.last_stats.describe()),
            ],
            label_counts={Path(data).name: counts} if counts is not None else None,
            split_name=Path(data).name,
        ),
    )
    write_json(out / "metrics.json", report)  # last: its presence means the rest is complete
    report["output_dir"] = str(out)
    return report


def _write_predictions(path: Path, examples: Examples, answers: list[dict[str, Any]]) -> None:
    """One line per text: the text (and its pair), the true label, and the model's answer in
    the very shape `bertft predict` and `serve` give it."""
    pairs = examples.pairs or [None] * len(examples)
    with replacing(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for text, pair, truth, answer in zip(
            examples.texts, pairs, examples.labels, answers, strict=True
        ):
            row: dict[str, Any] = {"text": text}
            if pair is not None:
                row["text_pair"] = pair
            row["true"] = list(truth) if isinstance(truth, tuple) else truth
            f.write(json.dumps({**row, "predicted": answer}, ensure_ascii=False) + "\n")


def _held_out_part(model: str | Path, data: str) -> Examples | None:
    """The texts of `data` that training held out for validation, when `data` is what the
    model was trained on (from its train_config.yaml, and metrics.json's absolute path of the
    file) and no separate validation set was given; else None."""
    from bertft.config import load_yaml, train_config_from
    from bertft.data.load import load_splits

    # The training folder, or the one holding an ONNX export made in its default place (onnx/).
    folder = _folder(model)
    found = [f / "train_config.yaml" for f in (folder, folder.parent)]
    path = next((p for p in found if p.is_file()), None)
    if path is None:
        return None
    cfg = train_config_from(load_yaml(path), str(path))
    # train_config.yaml keeps the path as given, relative to where training ran.
    trained_on = _trained_file(path.parent) or cfg.data.data
    if cfg.data.validation_data or not _same_source(trained_on, data):
        return None
    if cfg.recipe == "few_shot":  # every row trained: nothing was held out
        log.warning(
            "warning: %s is what this few-shot model trained on, every row of it: the figures "
            "show how well it fits them, not how it does on new texts",
            data,
        )
        return None
    return load_splits(dataclasses.replace(cfg.data, data=data), cfg.seed).validation


def _trained_file(folder: Path) -> str | None:
    """The absolute path of the file a training run read, from its metrics.json."""
    try:
        return json.loads((folder / "metrics.json").read_text())["data"].get("file")
    except (OSError, ValueError, KeyError, AttributeError):
        return None


def _name(data: str, clf: Classifier) -> str:
    """The default evaluation folder's name: the data's, and for an ONNX model which file ran,
    so that evaluating the PyTorch model and its exports on one set keeps every result."""
    name = Path(data).stem
    return f"{name}-onnx-{Path(clf.source).stem}" if clf.backend == "onnx" else name


def _folder(model: str | Path) -> Path:
    """The model's folder: itself, or the folder of an .onnx file."""
    path = Path(model)
    return path.parent if path.suffix == ".onnx" else path


def _same_source(trained_on: str, data: str) -> bool:
    """The same bundled dataset or the same file. A saved dataset or a hub name has splits of
    its own: training read "train", and evaluating another split overlaps nothing."""
    from bertft.data.bundled import BUNDLED

    if data in BUNDLED:
        return trained_on == data
    a, b = Path(trained_on), Path(data)
    return a.is_file() and b.is_file() and a.resolve() == b.resolve()


def _describe_data(data: str, split: str, held_out: bool) -> str:
    if held_out:
        return f"{data} (the part held out for validation in training)"
    return f"{data}" + (f" (split {split})" if split != "test" else "")

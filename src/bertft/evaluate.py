"""Measure a trained model on any labelled set: the same metrics `train` reports."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bertft.data import Examples, read_examples
from bertft.errors import BertftError
from bertft.files import write_json
from bertft.metrics import cross_entropy, probability_report, softmax
from bertft.predict import Classifier
from bertft.report import ReportData, write_report


def evaluate(
    model: str | Path,
    data: str,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    split: str = "test",
    max_samples: int | None = None,
    strict: bool = False,
    output_dir: str | Path | None = None,
    batch_size: int = 32,
    device: str = "auto",
    backend: str = "torch",
    classifier: Classifier | None = None,
    all_rows: bool = False,
    pooling: str | None = None,
) -> dict[str, Any]:
    """Predict every text of `data` with `model` (a training folder, or an ONNX export with
    backend="onnx"), compare with its labels and write `metrics.json`,
    `predictions.jsonl`, `report.html` and `plots/` to `output_dir` (default:
    MODEL/evaluation/<data name>). Two-label models also get ROC-AUC, PR-AUC and the threshold
    maximising F1 (`binary`).

    When `data` is the model's own training data and its validation texts were split from it,
    only those held-out texts are used (the training's seeded split): the other rows were
    trained on and would inflate every metric. `all_rows` uses every row anyway.

    Texts are read as training read them (the model's saved encoder); metrics are per text,
    and `long_texts` in the result says how many exceeded the window and what was dropped.
    `pooling` (mean, max) replaces how a chunked text's windows are combined."""
    held_out = None if all_rows else _held_out_part(model, data)
    if held_out is not None:
        examples = held_out
    else:
        examples = read_examples(data, text_column, label_column, strict=strict, split=split)
    if max_samples is not None:
        examples = examples.subset(list(range(min(max_samples, len(examples)))))
    clf = classifier or Classifier.from_pretrained(
        model, backend=backend, batch_size=batch_size, device=device, pooling=pooling
    )
    known = clf.label2id
    for label, row in zip(examples.labels, examples.rows, strict=True):
        if label not in known:
            raise BertftError(
                f"{examples.origin}, {row}: label '{label}' is unknown to the model "
                f"(it knows {', '.join(clf.labels)})"
            )

    started = time.perf_counter()
    logits = clf.predict_logits(examples.texts).astype(np.float64)
    seconds = time.perf_counter() - started
    probs = softmax(logits)
    y_true = [known[x] for x in examples.labels]
    y_pred = probs.argmax(axis=-1)
    report = probability_report(y_true, probs, clf.labels)
    report |= {
        "loss": cross_entropy(logits, y_true),  # unweighted, whatever the training used
        "data": data,
        "held_out_from_training": held_out is not None,
        "samples": len(examples),
        "seconds": round(seconds, 3),
        "samples_per_second": round(len(examples) / seconds, 1),
        "long_texts": {**clf.last_stats.as_dict(), "pooling": clf.encoder.spec.pooling},
    }

    out = Path(output_dir) if output_dir else _folder(model) / "evaluation" / Path(data).stem
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "predictions.jsonl.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for text, truth, pred, p in zip(
            examples.texts, examples.labels, y_pred, probs, strict=True
        ):
            f.write(
                json.dumps(
                    {
                        "text": text,
                        "label": truth,
                        "predicted": clf.labels[pred],
                        "score": round(float(np.max(p)), 6),
                        "probabilities": {
                            name: round(float(x), 6) for name, x in zip(clf.labels, p, strict=True)
                        },
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    tmp.replace(out / "predictions.jsonl")
    counts = {name: 0 for name in clf.labels}
    for label in examples.labels:
        counts[label] += 1
    write_report(
        out,
        ReportData(
            title=f"bertft evaluation: {Path(model).name} on {data}",
            evaluation=report,
            texts=examples.texts,
            y_true=y_true,
            probs=probs,
            summary=[
                ("model", str(model)),
                ("data", _describe_data(data, split, held_out is not None)),
                ("texts", len(examples)),
                ("labels", ", ".join(clf.labels)),
                ("prediction time", f"{seconds:.2f} s"),
                ("samples/s", report["samples_per_second"]),
                ("long texts", clf.last_stats.describe()),
            ],
            label_counts={Path(data).name: counts},
            split_name=Path(data).name,
        ),
    )
    write_json(out / "metrics.json", report)  # last: its presence means the rest is complete
    report["output_dir"] = str(out)
    return report


def _held_out_part(model: str | Path, data: str) -> Examples | None:
    """The texts of `data` that training held out for validation, when `data` is what the
    model was trained on (from its train_config.yaml) and no separate validation set was
    given; else None."""
    from bertft.config import load_yaml, train_config_from
    from bertft.data import load_splits

    # The training folder, or the one holding an ONNX export made in its default place (onnx/).
    folder = _folder(model)
    found = [f / "train_config.yaml" for f in (folder, folder.parent)]
    path = next((p for p in found if p.is_file()), None)
    if path is None:
        return None
    try:
        cfg = train_config_from(load_yaml(path), str(path))
    except BertftError:  # written by another version: evaluate the rows as asked
        return None
    if cfg.data.validation_data or not _same_source(cfg.data.data, data):
        return None
    return load_splits(cfg.data, cfg.seed).validation


def _folder(model: str | Path) -> Path:
    """The model's folder: itself, or the folder of an .onnx file."""
    path = Path(model)
    return path.parent if path.suffix == ".onnx" else path


def _same_source(trained_on: str, data: str) -> bool:
    """The same bundled dataset or the same file. A saved dataset or a hub name has splits of
    its own: training read "train", and evaluating another split overlaps nothing."""
    from bertft.datasets_bundled import BUNDLED

    if data in BUNDLED:
        return trained_on == data
    a, b = Path(trained_on), Path(data)
    return a.is_file() and b.is_file() and a.resolve() == b.resolve()


def _describe_data(data: str, split: str, held_out: bool) -> str:
    if held_out:
        return f"{data} (the part held out for validation in training)"
    return f"{data}" + (f" (split {split})" if split != "test" else "")

"""The audit's folds: which rows each fold holds out, the fold's training file, and the scores a
fold's model gives the rows it never saw (computed once, kept beside the fold's model)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from bertft.config import TrainConfig
from bertft.data.examples import Examples
from bertft.errors import BertftError
from bertft.files import write_json
from bertft.same_run import changed_settings

log = logging.getLogger(__name__)

PLAN_FILE = "folds.json"


def assign(task_name: str, labels: list, folds: int, seed: int) -> np.ndarray:
    """The fold of each row: stratified by class for single-label (every class in every fold's
    training part where it has `folds` texts or more), shuffled otherwise."""
    from sklearn.model_selection import KFold, StratifiedKFold

    rows = np.arange(len(labels))
    if task_name == "single_label" and min(Counter(map(str, labels)).values()) >= folds:
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
        parts = splitter.split(rows, [str(y) for y in labels])
    else:
        parts = KFold(folds, shuffle=True, random_state=seed).split(rows)
    fold = np.empty(len(labels), dtype=np.int64)
    for k, (_, held) in enumerate(parts):
        fold[held] = k
    return fold


def fingerprint(examples: Examples) -> str:
    """Of the texts and labels: a resumed audit must be of the same data."""
    h = hashlib.sha256()
    pairs = examples.pairs or [None] * len(examples)
    for text, pair, label in zip(examples.texts, pairs, examples.labels, strict=True):
        h.update(json.dumps([text, pair, label], default=str).encode())
    return h.hexdigest()[:16]


def load_or_write_plan(folder: Path, plan: dict[str, Any]) -> None:
    """Keep the plan (data fingerprint, folds, seed); refuse to mix with another audit's."""
    path = folder / PLAN_FILE
    if path.exists():
        changed = changed_settings(json.loads(path.read_text()), plan)
        if changed:
            raise BertftError(
                f"{folder} holds an audit of other data or settings ({'; '.join(changed)}): "
                f"give another --output_dir, or --overwrite_output_dir to start again"
            )
        return
    folder.mkdir(parents=True, exist_ok=True)
    write_json(path, plan)


def write_training_file(path: Path, examples: Examples) -> None:
    """The fold's training rows as JSON Lines: text, label (a list for multi-label), text_pair."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pairs = examples.pairs or [None] * len(examples)
    with path.open("w", encoding="utf-8") as f:
        for text, pair, label in zip(examples.texts, pairs, examples.labels, strict=True):
            row = {"text": text, "label": list(label) if isinstance(label, tuple) else label}
            if pair is not None:
                row["text_pair"] = pair
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def fold_config(cfg: TrainConfig, data: Path, out: Path, pairs: bool) -> TrainConfig:
    """`cfg` training on one fold's file, into the fold's folder, with nothing pushed."""
    columns = {"text_column": "text", "label_column": "label"}
    if pairs:
        columns["text_pair_column"] = "text_pair"
    data_cfg = dataclasses.replace(
        cfg.data, data=str(data), validation_data=None, test_data=None, data_config=None,
        train_split_name="train", validation_split_name=None, test_split_name=None,
        max_train_samples=None, label_separator=None, **columns,
    )  # fmt: skip
    return dataclasses.replace(
        cfg, data=data_cfg, output_dir=str(out), checkpoint_dir=None, push_to_hub=False,
        overwrite_output_dir=False,
    )  # fmt: skip


def held_out_scores(model: Path, examples: Examples, names: tuple[str, ...]) -> np.ndarray:
    """The fold model's scores of `examples`, one column per name of `names` (the audit's
    labels: a class a fold never trained on scores 0)."""
    from bertft.inference.classifier import Classifier

    clf = Classifier.from_pretrained(model)
    scores = clf.task.scores(clf.predict_logits(examples.texts, examples.pairs))
    out = np.zeros((len(examples), len(names)))
    where = {name: j for j, name in enumerate(names)}
    for j, name in enumerate(clf.task.names):
        out[:, where[name]] = scores[:, j]
    return out

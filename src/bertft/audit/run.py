"""The audit from start to end: read every labelled row, train a model per fold, score each row
by the fold that held it out, rank the suspects, write what a user reads."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bertft.audit import folds as fold_files
from bertft.audit.rank import ISSUES_FILE, class_pairs, find_issues, summary, write_issues
from bertft.config import TrainConfig
from bertft.data.examples import Examples
from bertft.data.load import read_examples
from bertft.errors import BertftError
from bertft.files import replacing, write_json
from bertft.hardware import describe
from bertft.tasks import Task, TaskSettings, choose_task
from bertft.training.train import METRICS_FILE

log = logging.getLogger(__name__)

SCORES_FILE = "scores.npy"  # a fold's out-of-fold scores: their presence means the fold is done


@dataclass
class AuditResult:
    output_dir: Path
    issues: list[dict[str, Any]]  # most likely wrong first
    summary: str
    record: dict[str, Any]  # audit.json


def output_dir(cfg: TrainConfig) -> Path:
    """--output_dir, else runs/<data name>-audit (beside, not over, the data's training run)."""
    out = cfg.resolved_output_dir()
    return out if cfg.output_dir else out.with_name(out.name + "-audit")


def audit(cfg: TrainConfig, folds: int = 5) -> AuditResult:
    """Score every labelled row of `cfg.data` by a model trained without it (`folds` folds,
    each trained with `cfg`'s settings) and rank the rows whose label looks wrong."""
    if folds < 2:
        raise BertftError(f"--folds must be at least 2, got {folds}")
    examples, task = _read(cfg)
    out = output_dir(cfg)
    if cfg.overwrite_output_dir and out.exists():
        shutil.rmtree(out)
    plan = {"data": fold_files.fingerprint(examples), "rows": len(examples), "folds": folds,
            "seed": cfg.seed, "model_id": cfg.model_id}  # fmt: skip
    fold_files.load_or_write_plan(out, plan)
    assignment = fold_files.assign(task.name, list(examples.labels), folds, cfg.seed)
    started = time.perf_counter()
    scores = np.zeros((len(examples), len(task.names)))
    for k in range(folds):
        held = np.flatnonzero(assignment == k)
        scores[held] = _fold(cfg, examples, task, assignment, k, folds, out)
    issues = find_issues(task, list(examples.labels), scores)
    path = write_issues(out / ISSUES_FILE, examples, issues)
    said = summary(issues, len(examples), path)
    record = {
        "data": cfg.data.data,
        "task": task.name,
        "labels": list(task.names),
        "rows": len(examples),
        "folds": folds,
        "flagged": len(issues),
        "summary": said,
        "class_pairs": [list(p) for p in class_pairs(issues)],
        "out_of_fold_accuracy": _accuracy(task, examples.labels, scores),
        "seconds": round(time.perf_counter() - started, 1),
        "hardware": describe(),
    }
    from bertft.reporting.audit_report import write_audit_report

    write_audit_report(out, record, examples, issues)
    write_json(out / "audit.json", record)  # last: its presence means the audit is complete
    return AuditResult(out, issues, said, record)


def _read(cfg: TrainConfig) -> tuple[Examples, Task]:
    """Every labelled row of the data, as training reads them, and the task of their labels."""
    data = cfg.data
    examples = read_examples(
        data.data, data.text_column, data.label_column, strict=data.strict,
        split=data.train_split_name, config=data.data_config,
        text_pair_column=data.text_pair_column,
    ).in_memory()  # fmt: skip
    settings = TaskSettings(data.label_separator, data.standardize_targets)
    task_class, _ = choose_task(data.task, examples, settings)
    if task_class.name == "regression":
        raise BertftError(
            f"{examples.origin}: bertft audit ranks class labels (single-label and multi-label); "
            "numeric (regression) labels are not audited yet"
        )
    examples = task_class.parse(examples, settings)
    return examples, task_class.from_training(examples.labels, settings)


def _fold(cfg, examples: Examples, task: Task, assignment, k: int, folds: int, out: Path):
    """Fold k's out-of-fold scores: kept from an earlier run, or trained and scored now."""
    from bertft.api import run

    folder = out / "folds" / f"fold-{k + 1}"
    done = folder / SCORES_FILE
    held = examples.subset(np.flatnonzero(assignment == k).tolist())
    if done.exists():
        log.info("fold %d of %d: kept from the earlier run (%s)", k + 1, folds, folder)
        return np.load(done)
    train = examples.subset(np.flatnonzero(assignment != k).tolist())
    fold_files.write_training_file(folder / "train.jsonl", train)
    started = time.perf_counter()
    model = folder / "model"
    reused = (model / METRICS_FILE).exists()  # trained, stopped before its scores were written
    if reused:
        metrics = json.loads((model / METRICS_FILE).read_text())
    else:
        with _quiet():
            config = fold_files.fold_config(cfg, folder / "train.jsonl", model, bool(held.pairs))
            metrics = run(config).metrics
    scores = fold_files.held_out_scores(model, held, task.names)
    with replacing(done) as tmp, open(tmp, "wb") as f:
        np.save(f, scores)
    shutil.rmtree(model / "checkpoints", ignore_errors=True)  # scored: only the model is kept
    trained = (
        "its model trained earlier"
        if reused
        else (f"trained in {time.perf_counter() - started:.0f} s")
    )
    log.info(
        "fold %d of %d: %s on %d texts (validation %s); scored the %d it held out",
        k + 1, folds, trained, len(train), task.headline(metrics["validation"]), len(held),
    )  # fmt: skip
    return scores


@contextlib.contextmanager
def _quiet():
    """A fold's training says only its warnings: the audit says one line per fold."""
    logger = logging.getLogger("bertft")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _accuracy(task: Task, labels, scores: np.ndarray) -> float | None:
    if task.name != "single_label":
        return None
    return float((scores.argmax(-1) == np.asarray(task.encode(labels))).mean())

"""Fine-tune: data checked and tokenized once, the Trainer set up fast, the best model saved.

Reads top to bottom as the run goes: settings -> data -> output folder -> model -> Trainer ->
train -> final evaluation -> files. Only the main process writes files.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bertft.config import TrainConfig
from bertft.data import Examples, LabelMap, load_splits
from bertft.errors import BertftError
from bertft.hardware import resolve_precision
from bertft.metrics import classification_metrics, format_report, full_report
from bertft.model import load_classifier, load_tokenizer

CHECKPOINTS = "checkpoints"
RUN_FILE = "run.json"  # what a checkpoint was made from; a resume must match it
METRICS_FILE = "metrics.json"  # written last: its presence marks a finished run


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Fine-tune `cfg.model_id` on `cfg.data`; returns the metrics also written to metrics.json."""
    cfg.validate()
    precision = resolve_precision(cfg.precision)
    splits = load_splits(cfg.data, cfg.seed)  # bad data is refused before any model loads
    out = cfg.resolved_output_dir()
    run = _run_identity(cfg, splits.labels, splits.train)
    resume_from = _prepare_output_dir(out, cfg, run)

    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer, set_seed

    set_seed(cfg.seed)
    tokenizer = load_tokenizer(cfg.model_id)
    model = load_classifier(cfg.model_id, splits.labels)
    tokenize = _tokenizer_fn(tokenizer, cfg.train_max_length)
    train_set = tokenize(splits.train, splits.labels)
    eval_set = tokenize(splits.validation, splits.labels)

    args = _training_arguments(cfg, out / CHECKPOINTS, precision)
    callbacks = []
    if cfg.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(cfg.early_stopping_patience))
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=tokenizer,
        # Pad each batch to its own longest text, never every text to max_length.
        data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8),
        compute_metrics=_compute_metrics,
        callbacks=callbacks,
    )
    main_process = trainer.is_world_process_zero()
    if main_process:
        _say(
            f"training {cfg.model_id} on {len(splits.train)} texts, validating on "
            f"{len(splits.validation)}; {len(splits.labels)} labels; precision {precision}; "
            f"world size {args.world_size}, global batch "
            f"{cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps * args.world_size}"
        )
        if resume_from:
            _say(f"resuming from {resume_from}")

    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume_from)

    # The Trainer has reloaded the best checkpoint; measure it on the full validation set.
    validation = _evaluate(trainer, eval_set, splits.labels)
    metrics: dict[str, Any] = {
        "model_id": cfg.model_id,
        "labels": list(splits.labels.names),
        "precision": precision,
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "train": {
            **result.metrics,
            "samples": len(splits.train),
            "wall_seconds": round(time.perf_counter() - started, 2),
        },
        "validation": validation,
    }
    if splits.test is not None:
        metrics["test"] = _evaluate(trainer, tokenize(splits.test, splits.labels), splits.labels)
    metrics["history"] = trainer.state.log_history

    if main_process:
        _save_outputs(trainer, out, cfg, metrics)
        print(format_report(validation))
        print(
            f"validation accuracy {validation['accuracy']:.4f}, macro F1 "
            f"{validation['f1_macro']:.4f}; model saved to {out}"
        )
    return metrics


# --- setup ------------------------------------------------------------------------------------


def _training_arguments(cfg: TrainConfig, checkpoint_dir: Path, precision: str):
    import torch
    from transformers import TrainingArguments

    on_cpu = not torch.cuda.is_available()
    return TrainingArguments(
        output_dir=str(checkpoint_dir),
        learning_rate=cfg.learning_rate,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        per_device_eval_batch_size=cfg.per_device_eval_batch_size,
        num_train_epochs=cfg.epochs,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup_ratio,  # a float below 1 is a ratio of all steps
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        max_grad_norm=cfg.max_grad_norm,
        seed=cfg.seed,
        data_seed=cfg.seed,
        eval_strategy="epoch",
        save_strategy="epoch",
        logging_strategy="steps",
        logging_steps=cfg.logging_steps,
        save_total_limit=cfg.save_total_limit,
        load_best_model_at_end=True,
        metric_for_best_model=cfg.metric_for_best_model,
        greater_is_better=cfg.metric_for_best_model != "loss",
        # Batches of similar lengths pad little: with short texts this alone is ~3x.
        train_sampling_strategy="group_by_length",
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=on_cpu,
        optim="adamw_torch_fused",
        report_to="none",
        dataloader_num_workers=0,  # tokenized tensors are in memory; workers only add latency
        disable_tqdm=False,
    )


def _tokenizer_fn(tokenizer, max_length: int):
    import datasets

    def tokenize(examples: Examples, labels: LabelMap) -> datasets.Dataset:
        encoded = tokenizer(examples.texts, truncation=True, max_length=max_length)
        columns = dict(encoded)
        columns["labels"] = labels.encode(examples.labels)
        # Precomputed lengths spare the Trainer a pass over the data for length grouping.
        columns["length"] = [len(ids) for ids in encoded["input_ids"]]
        return datasets.Dataset.from_dict(columns)

    return tokenize


def _compute_metrics(prediction) -> dict[str, float]:
    logits = (
        prediction.predictions[0]
        if isinstance(prediction.predictions, tuple)
        else prediction.predictions
    )
    return classification_metrics(prediction.label_ids, np.argmax(logits, axis=-1))


def _evaluate(trainer, dataset, labels: LabelMap) -> dict[str, Any]:
    output = trainer.predict(dataset, metric_key_prefix="eval")
    logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
    report = full_report(output.label_ids, np.argmax(logits, axis=-1), labels.names)
    report["loss"] = output.metrics.get("eval_loss")
    report["samples"] = len(dataset)
    report["samples_per_second"] = output.metrics.get("eval_samples_per_second")
    return report


# --- the output folder -------------------------------------------------------------------------


def _run_identity(cfg: TrainConfig, labels: LabelMap, train: Examples) -> dict[str, Any]:
    """What must be the same for a checkpoint to be resumed: model, data and labels."""
    return {
        "model_id": cfg.model_id,
        "data": cfg.data.data,
        "validation_data": cfg.data.validation_data,
        "text_column": cfg.data.text_column,
        "label_column": cfg.data.label_column,
        "train_samples": len(train),
        "labels": list(labels.names),
        "seed": cfg.seed,
    }


def _prepare_output_dir(out: Path, cfg: TrainConfig, run: dict[str, Any]) -> str | None:
    """Decide between a fresh start and a resume; refuse to mix with another run's files.
    Returns the checkpoint to resume from, if any."""
    from transformers.trainer_utils import get_last_checkpoint

    checkpoints = out / CHECKPOINTS
    if cfg.resume not in ("auto", "never"):
        resume = Path(cfg.resume)
        if not (resume / "trainer_state.json").is_file():
            raise BertftError(
                f"--resume {cfg.resume}: not a checkpoint folder (no trainer_state.json)"
            )
        _check_same_run(out, run)
        return str(resume)

    occupied = out.exists() and any(out.iterdir())
    finished = (out / METRICS_FILE).exists()
    if occupied and cfg.resume == "auto" and not finished and (out / RUN_FILE).exists():
        # Our own unfinished run: continue it (or restart it if it never reached a checkpoint).
        _check_same_run(out, run)
        return get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    if occupied:
        if not cfg.overwrite_output_dir:
            what = "a finished run" if finished else "other files"
            raise BertftError(
                f"{out} already holds {what}; pass --overwrite_output_dir to "
                f"replace it or choose another --output_dir"
            )
        if _is_main_process():
            shutil.rmtree(out)
    if _is_main_process():
        out.mkdir(parents=True, exist_ok=True)
        (out / RUN_FILE).write_text(json.dumps(run, indent=2))
    return None


def _check_same_run(out: Path, run: dict[str, Any]) -> None:
    path = out / RUN_FILE
    if not path.exists():
        return
    before = json.loads(path.read_text())
    differ = [k for k in run if before.get(k) != run[k]]
    if differ:
        detail = "; ".join(f"{k}: {before.get(k)!r} then, {run[k]!r} now" for k in differ)
        raise BertftError(
            f"{out}: its checkpoints come from a different run ({detail}); "
            f"pass --resume never --overwrite_output_dir to start over"
        )


def _save_outputs(trainer, out: Path, cfg: TrainConfig, metrics: dict[str, Any]) -> None:
    from bertft.report import write_model_card

    trainer.save_model(str(out))  # model + tokenizer, loadable by plain transformers
    (out / "train_config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    write_model_card(out, cfg, metrics)
    # Last, and atomically: a metrics.json means every other file is complete.
    tmp = out / (METRICS_FILE + ".tmp")
    tmp.write_text(json.dumps(metrics, indent=2, default=str))
    tmp.replace(out / METRICS_FILE)


def _is_main_process() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)

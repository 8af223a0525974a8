"""Fine-tune: data checked and tokenized once, the Trainer set up fast, the best model saved.

Reads top to bottom as the run goes: settings -> data -> output folder -> model -> Trainer ->
train -> final evaluation -> files. Only the main process writes files.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bertft.calibration import CalibrationSettings, describe_calibration
from bertft.config import TrainConfig
from bertft.data.columns import COLUMNS_KEY
from bertft.data.encoding import ENCODER_KEY, TextEncoder, training_encoder
from bertft.data.examples import Examples, columns_record
from bertft.data.features import cut_stats, tokenize_cached
from bertft.data.load import LabeledSplits, load_splits
from bertft.errors import BertftError, Interrupted
from bertft.files import write_json, write_text
from bertft.hardware import describe, mps_available, resolve_precision
from bertft.model import (
    add_mean_pooling_layer,
    load_classifier,
    load_tokenizer,
    pooler_untrained,
    reinit_pooler,
)
from bertft.progress import library_bars_off
from bertft.reporting.hub import check_repository_id, push_folder
from bertft.tasks import CONFIG_KEY, Task, check_metric, greater_is_better
from bertft.training import recipes
from bertft.training.checkpoint import SaveGuard, StepSeeder, prepare_run
from bertft.training.distributed import local_main_first, main_decides, rank
from bertft.training.layer_decay import layerwise_groups
from bertft.training.pair_loss import PairLoss
from bertft.training.progress import TrainingProgress
from bertft.training.trackers import check_tracker, point_tensorboard_at
from bertft.windows import per_text

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"  # written last: its presence marks a finished run
# The settings a resumed run must share with its checkpoints (`_run_identity`).
SCHEDULE_SETTINGS = (
    "learning_rate",
    "epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "warmup_ratio",
    "weight_decay",
    "max_grad_norm",
    "freeze_embeddings",
)

# None: the recipe decides (the task's, or the few-shot one: training.recipes)
RECIPE_SETTINGS = ("epochs", "learning_rate", "reinit_pooler", "per_device_train_batch_size")
STANDARD_BATCH = 32


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Fine-tune `cfg.model_id` on `cfg.data`; returns the metrics also written to metrics.json.

    SIGTERM/SIGINT make it save a checkpoint after the current step and raise `Interrupted`."""
    guard = SaveGuard(cfg.save_steps, cfg.save_every_minutes)
    # from the start: a signal during setup also exits cleanly; the libraries' bars say nothing
    # a user acts on (bertft.training.progress draws the one bar of the run)
    with guard.installed(), library_bars_off():
        return _train(cfg, guard)


def _train(cfg: TrainConfig, guard: SaveGuard) -> dict[str, Any]:
    cfg.validate()
    precision = resolve_precision(cfg.precision)
    check_tracker(cfg.report_to)
    if cfg.push_to_hub:
        check_repository_id(cfg.repository_id)
    out, checkpoints = cfg.resolved_output_dir(), cfg.resolved_checkpoint_dir()
    # Under torchrun, building the arguments joins the process group (gloo on CPU, NCCL on GPU).
    args = _training_arguments(cfg, checkpoints, precision)
    with local_main_first():  # a hub dataset downloads once per machine
        # bad data is refused before any model loads; the few-shot recipe holds none out
        splits = load_splits(cfg.data, cfg.seed, keep_all=_few(cfg))
    task = splits.task
    metric = check_metric(task, cfg.metric_for_best_model)
    args.metric_for_best_model, args.greater_is_better = metric, greater_is_better(metric)
    choice = _choose_recipe(cfg, task.name, splits.train.labels)
    if choice.name == "few_shot":
        _check_few_shot(cfg, splits)
    defaulted = [name for name in RECIPE_SETTINGS if getattr(cfg, name) is None]
    # The card and train_config.yaml name the metric and recipe used, not "the task's default".
    cfg = dataclasses.replace(
        cfg,
        metric_for_best_model=metric,
        recipe=choice.name,
        **_recipe_settings(choice, _recipe(splits), defaulted, cfg, len(splits.train), args),
    )
    _apply_recipe(args, cfg, choice)
    class_weights = task.resolve_weights(cfg.class_weights, splits.train.labels)
    # The task's loss where the model's own will not do (class weights); None keeps the stock
    # path, which exact resumption relies on.
    loss = task.loss(class_weights, args.label_smoothing_factor)
    tokenizer = load_tokenizer(cfg.model_id)
    # Every rank decides the same (same data, same rule); only the main one says so.
    encoder, why = training_encoder(
        cfg, tokenizer, splits.train, say=_say_once, pair_column=splits.train.pair_column
    )
    run = _run_identity(cfg, task, splits.train, class_weights, encoder) | {"recipe": choice.name}
    # One process decides (and cleans up) and all follow: ranks must agree on where they resume.
    resume_from = main_decides(
        lambda: prepare_run(
            out, checkpoints, cfg.resume, cfg.overwrite_output_dir, run, METRICS_FILE
        )
    )

    from transformers import set_seed

    set_seed(cfg.seed)
    model = load_classifier(cfg.model_id, task)
    cfg = _draw_pooler(cfg, model, asked="reinit_pooler" not in defaulted)
    pair_loss = _few_shot_model(model, task, choice)
    # Saved with every checkpoint and the model: predict, export and serve read texts this way,
    # and predict and evaluate look for the training file's columns first.
    setattr(model.config, ENCODER_KEY, encoder.to_dict())
    setattr(model.config, COLUMNS_KEY, columns_record(splits.train))
    if cfg.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    cache = checkpoints / "tokenized"
    train_set = tokenize_cached(encoder, splits.train, task, cache, "train", training=True)
    # Evaluation sorted by length pads little (training order is the sampler's business).
    eval_set = tokenize_cached(encoder, splits.validation, task, cache, "val", by_length=True)

    trainer = _make_trainer(
        cfg, args, model, tokenizer, train_set, eval_set, guard,
        compute_metrics=_metrics_per_text(eval_set, task, encoder.spec.pooling),
        compute_loss_func=loss, pair_loss=pair_loss,
    )  # fmt: skip
    point_tensorboard_at(trainer, out / "runs")
    main_process = trainer.is_world_process_zero()
    if main_process:
        _announce(cfg, args, splits, precision, encoder, why, train_set, eval_set, defaulted)
        _announce_recipe(choice, cfg, pair_loss)
        if cfg.data.drop_label_issues:
            _say(
                f"left out {splits.dropped:,} training rows listed in {cfg.data.drop_label_issues}"
            )
        if class_weights:
            _say("class weights: " + ", ".join(f"{k} {v:.3f}" for k, v in class_weights.items()))
        if resume_from:
            _say(f"resuming from {resume_from}")

    started = time.perf_counter()
    if guard.signum is not None:  # arrived during setup: nothing new to save
        raise Interrupted(guard.signum, None)
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    if guard.signum is not None and trainer.state.global_step < trainer.state.max_steps:
        step = trainer.state.global_step
        raise Interrupted(guard.signum, checkpoints / f"checkpoint-{step}")

    # The Trainer has reloaded the best checkpoint; measure it on the full validation set.
    task.finish(trainer.model)  # e.g. regression's target scaling folded into the head
    pooling = encoder.spec.pooling
    validation, scores = _evaluate(
        trainer, eval_set, splits.validation, task, class_weights, pooling=pooling,
        calibrate=_calibration_settings(cfg, splits),
    )  # fmt: skip
    task.finish(trainer.model)  # the temperature fitted on validation, folded into the head
    if main_process:
        _say(describe_calibration(validation["calibration"], "validation"))
    unlearnt = task.unlearnt(splits.validation.labels, scores)
    if main_process and unlearnt:
        log.warning("warning: %s", unlearnt)
    # What the Classifier needs to rebuild the task (e.g. the chosen thresholds); the encoder
    # (window, strategy, pair column) is in the config since the model was built.
    trainer.model.config.update({CONFIG_KEY: task.to_config()})
    metrics: dict[str, Any] = {
        "model_id": cfg.model_id,
        "task": task.name,
        "task_reason": splits.task_reason,
        "text_pair_column": splits.train.pair_column,
        "labels": list(task.names),
        "precision": precision,
        "recipe": _recipe_record(choice, cfg, splits, pair_loss),
        "not_learnt": unlearnt,
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "data": _data_summary(cfg, splits),
        "class_weights": class_weights,
        "long_texts": {
            **encoder.to_dict(),
            "why": why,
            "train": cut_stats(train_set).as_dict(),
        },
        "hardware": describe(),
        "train": {
            **result.metrics,
            "samples": len(splits.train),
            "wall_seconds": round(time.perf_counter() - started, 2),
        },
        "validation": validation,
    }
    if splits.test is not None:
        test_set = tokenize_cached(encoder, splits.test, task, cache, "test", by_length=True)
        metrics["test"] = _evaluate(
            trainer, test_set, splits.test, task, class_weights, pooling=pooling
        )[0]
    metrics["history"] = trainer.state.log_history

    trainer.save_model(str(out))  # every rank calls it; the Trainer lets one write
    if main_process:
        _save_outputs(out, cfg, metrics, splits, scores)
        if cfg.push_to_hub:
            url = push_folder(out, cfg.repository_id)
            metrics["pushed_to"] = url
            log.info("pushed to %s", url)
    return metrics


# --- setup ---------------------------------------------------------------------------------------


def _announce(cfg, args, splits, precision, encoder, why, train_set, eval_set, defaulted) -> None:
    """What the run is about to do, on stderr: data, task, precision, batch, recipe, long
    texts. `defaulted`: the recipe settings the task chose, as the user gave none."""
    task = splits.task
    batch = cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps * args.world_size
    decay = f"; layer-wise lr decay {cfg.layerwise_lr_decay}" if cfg.layerwise_lr_decay < 1 else ""
    validating = len(splits.validation) if splits.held_out else "the same texts"
    _say(
        f"training {cfg.model_id} on {len(splits.train)} texts, validating on "
        f"{validating}; task {task.name} ({splits.task_reason}), {_outputs(task)}; "
        f"precision {precision}; world size {args.world_size}, global batch {batch}{decay}"
    )
    pairs = " for text pairs" if splits.train.pair_column else ""
    chosen = f" ({_and(defaulted)}: the {task.name} default{pairs})" if defaulted else ""
    if cfg.recipe == "standard" and "epochs" in defaulted and cfg.epochs > _recipe(splits).epochs:
        chosen += f"; epochs raised to make {recipes.MIN_STANDARD_STEPS} steps or more"
    pooler = ", pooler drawn afresh" if cfg.reinit_pooler else ""
    if not cfg.reinit_pooler and "reinit_pooler" in defaulted and _recipe(splits).reinit_pooler:
        pooler = ", pooler kept (it shows training, or the model has none)"
    if cfg.recipe == "standard":  # the few-shot recipe says its own (_announce_recipe)
        length = f"{cfg.max_steps} steps" if cfg.max_steps else f"{cfg.epochs:g} epochs"
        _say(f"{length} at learning rate {cfg.learning_rate:g}{pooler}{chosen}")
    _say(f"long texts: {encoder.spec.strategy} ({why})")
    for split, dataset in (("train", train_set), ("validation", eval_set)):
        capped = encoder.cap_note() if split == "train" else ""
        _say(f"{split}: {cut_stats(dataset).describe()}{capped}")


def _recipe(splits: LabeledSplits):
    """The task's training recipe for these texts: its own, or its one for text pairs."""
    return splits.task.pair_recipe if splits.train.pair_column else splits.task.recipe


def _choose_recipe(cfg: TrainConfig, task_name: str, labels) -> recipes.Choice:
    """standard or few_shot for these training labels (all of them, before any split)."""
    if cfg.recipe == "auto" and len(labels) > 50_000:  # no need to count them: not few
        return recipes.Choice("standard", f"{len(labels):,} texts")
    return recipes.choose(cfg.recipe, task_name, list(labels))


def _few(cfg: TrainConfig):
    """load_splits' keep_all: whether to train on every text (no validation split)."""
    return lambda task_name, labels: _choose_recipe(cfg, task_name, labels).name == "few_shot"


def _check_few_shot(cfg: TrainConfig, splits: LabeledSplits) -> None:
    """What the few-shot recipe cannot do, refused before any model loads."""
    if cfg.early_stopping_patience:
        raise BertftError(
            "--early_stopping_patience: the few-shot recipe trains a fixed number of steps on "
            "every text, with nothing held out to stop on; leave it out, or give --recipe standard"
        )
    train = splits.train
    recipes.refuse_too_few(splits.task.name, list(train.labels), train.origin)


def _recipe_settings(choice, task_recipe, defaulted, cfg: TrainConfig, texts: int, args) -> dict:
    """The values of the settings the user left to the recipe, for `texts` training texts."""
    if choice.name == "standard":
        chosen = dataclasses.asdict(task_recipe) | {"per_device_train_batch_size": STANDARD_BATCH}
        if "epochs" in defaulted and cfg.max_steps is None:
            batch = cfg.per_device_train_batch_size or STANDARD_BATCH
            per_step = batch * cfg.gradient_accumulation_steps * args.world_size
            chosen["epochs"] = recipes.standard_epochs(task_recipe.epochs, texts, per_step)
    else:
        few = recipes.FEW_SHOT
        # A fixed number of steps (max_steps) unless the user gave epochs or steps.
        chosen = {
            "epochs": None,
            "learning_rate": few.learning_rate,
            "reinit_pooler": False,  # the pooler starts as the identity over the mean
            "per_device_train_batch_size": few.per_device_train_batch_size,
        }
    settings = {name: chosen[name] for name in defaulted}
    if choice.name == "few_shot" and cfg.epochs is None and cfg.max_steps is None:
        settings["max_steps"] = recipes.FEW_SHOT.max_steps
    return settings


def _apply_recipe(args, cfg: TrainConfig, choice: recipes.Choice) -> None:
    """The Trainer's arguments for the chosen recipe (they were built before the data showed
    which: building them joins the process group under torchrun)."""
    args.num_train_epochs, args.learning_rate = cfg.epochs or 1.0, cfg.learning_rate
    args.per_device_train_batch_size = cfg.per_device_train_batch_size
    args.max_steps = cfg.max_steps or -1
    if choice.name == "few_shot":
        # Nothing held out to choose a checkpoint by: no evaluation during training, the last
        # step's model kept, and a checkpoint each quarter of the run for resuming.
        args.eval_strategy = "no"
        args.load_best_model_at_end = False
        if cfg.max_steps:
            args.save_strategy, args.save_steps = "steps", recipes.save_steps(cfg.max_steps)


def _few_shot_model(model, task: Task, choice: recipes.Choice) -> PairLoss | None:
    """The few-shot model: mean pooling where the encoder allows it, and the pair loss where
    the task can compare labels."""
    if choice.name != "few_shot":
        return None
    if not add_mean_pooling_layer(model):
        _say_once(f"few-shot: {model.config.model_type} keeps its own pooling (no BERT layers)")
    probe = task.pair_targets
    weight = recipes.FEW_SHOT.pair_loss_weight
    if weight == 0 or task.name == "regression":
        return None
    layers = getattr(getattr(model.base_model, "encoder", None), "layer", None)
    if layers is None:
        return None
    return PairLoss(layers[-1], probe, weight)


def _announce_recipe(choice: recipes.Choice, cfg: TrainConfig, pair_loss) -> None:
    if choice.name != "few_shot":
        _say(f"recipe standard ({choice.why})")
        return
    length = f"{cfg.max_steps} steps" if cfg.max_steps else f"{cfg.epochs:g} epochs"
    pairs = ", with the pair loss" if pair_loss else ""
    _say(
        f"recipe few_shot ({choice.why}): every text trains, none held out; {length} of "
        f"{cfg.per_device_train_batch_size} at learning rate {cfg.learning_rate:g}, mean "
        f"pooling{pairs}, the last step's model kept"
    )


def _recipe_record(choice, cfg: TrainConfig, splits: LabeledSplits, pair_loss) -> dict:
    """metrics.json's account of the recipe, which the report and the card show."""
    record = {"name": choice.name, "why": choice.why}
    if choice.name == "few_shot":
        record |= {
            "max_steps": cfg.max_steps,
            "pair_loss": recipes.FEW_SHOT.pair_loss_weight if pair_loss else 0.0,
            "validated_on": "the validation data"
            if splits.held_out
            else "the training texts (none held out): they show fit, not accuracy",
        }
    return record


def _draw_pooler(cfg: TrainConfig, model, asked: bool) -> TrainConfig:
    """Draw the pooler afresh where cfg says so: always when the user asked, and only a pooler
    that shows no training when the task's recipe did (a trained one, such as BERT's, stays).
    The config returned says whether it was drawn."""
    if cfg.reinit_pooler and (asked or pooler_untrained(model)) and reinit_pooler(model):
        return cfg
    if cfg.reinit_pooler and asked:
        _say_once(f"--reinit_pooler: {cfg.model_id} has no pre-trained pooler; its head is all new")
    return dataclasses.replace(cfg, reinit_pooler=False)


def _make_trainer(cfg, args, model, tokenizer, train_set, eval_set, guard: SaveGuard, **hooks):
    """The Trainer for this run, with our sampler, optimizer and callbacks; `hooks`: the
    Trainer's compute_metrics and compute_loss_func."""
    import torch
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    callbacks = [guard, StepSeeder(cfg.seed)]
    if cfg.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(cfg.early_stopping_patience))
    pair_loss = hooks.pop("pair_loss", None)
    # The few-shot head learns faster than the layers under it (with the pair loss: few-shot).
    head_scale = recipes.FEW_SHOT.head_learning_rate_scale if pair_loss else 1.0
    trainer = _trainer_class(cfg.layerwise_lr_decay, pair_loss, head_scale)(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=tokenizer,
        # Pad each batch to its own longest text, never every text to max_length. Multiples
        # of 8 feed GPU tensor cores; on a CPU they are only extra tokens (+30% on short texts).
        data_collator=DataCollatorWithPadding(
            tokenizer, pad_to_multiple_of=8 if torch.cuda.is_available() else None
        ),
        callbacks=callbacks,
        **hooks,
    )
    # One bar and readable lines in place of the Trainer's dicts and nested bars.
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(TrainingProgress())
    return trainer


def _trainer_class(
    layer_decay: float = 1.0, pair_loss: PairLoss | None = None, head_scale: float = 1.0
):
    """The Trainer with three changes:

    - the loss of a sequence classifier scaled right under gradient accumulation and DDP;
    - a length-grouped training sampler whose order depends only on (seed, epoch). The stock
      sampler draws from the global RNG, whose state differs after a restart, so a resumed run
      would see other batches than an uninterrupted one (transformers#11323);
    - with `layer_decay` below 1, a learning rate per encoder layer (training.layer_decay);
    - with `pair_loss`, the few-shot pair loss added to the task's (training.pair_loss), and
      with `head_scale`, the head's learning rate that many times the rest's."""
    import torch
    from transformers import Trainer
    from transformers.trainer_pt_utils import get_length_grouped_indices

    class SeededLengthSampler(torch.utils.data.Sampler):
        def __init__(self, lengths: list[int], batch_size: int, seed: int, epoch: Callable):
            self.lengths, self.batch_size, self.seed, self.epoch = lengths, batch_size, seed, epoch

        def __len__(self) -> int:
            return len(self.lengths)

        def __iter__(self):
            generator = torch.Generator().manual_seed(self.seed + self.epoch())
            grouped = get_length_grouped_indices(self.lengths, self.batch_size, generator=generator)
            return iter(grouped)

    class SeededTrainer(Trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            # Sequence classifiers take **kwargs in forward(), so the Trainer believes they
            # normalise their loss by `num_items_in_batch`; they return a plain batch mean. The
            # Trainer then skips dividing by the accumulation steps and multiplies by the world
            # size: gradients (and logged losses) come out GA x N times too big, which changes
            # what gradient clipping does. Declaring the truth restores the plain-mean loss.
            self.model_accepts_loss_kwargs = False

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            # The labels first: with a compute_loss_func the Trainer takes them out of inputs.
            labels = inputs.get("labels")
            loss, outputs = super().compute_loss(model, inputs, True, num_items_in_batch)
            if pair_loss is not None and model.training and labels is not None:
                loss = loss + pair_loss(labels)
            return (loss, outputs) if return_outputs else loss

        def create_optimizer(self, model=None):
            # The Trainer's optimizer, given one parameter group per layer: the documented way
            # to change its groups is to override this method.
            if (layer_decay, head_scale) == (1.0, 1.0) or self.optimizer is not None:
                return super().create_optimizer(model)
            model = self.model if model is None else model
            optimizer_cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, model)
            groups = layerwise_groups(
                model.named_parameters(),
                self.args.learning_rate,
                layer_decay,
                self.args.weight_decay,
                set(self.get_decay_parameter_names(model)),
                model.config.model_type,
                head_scale,
            )
            self.optimizer = optimizer_cls(groups, **kwargs)
            return self.optimizer

        def _get_train_sampler(self, train_dataset=None):
            # self.train_dataset still has the "length" column the Trainer strips from the copy.
            # Grouped by the global batch: accelerate deals its consecutive per-device slices to
            # the ranks, so N processes see the very batches one process with N times the
            # per-device batch would.
            args = self.args
            batch = args.train_batch_size * args.gradient_accumulation_steps * args.world_size
            # The epoch comes from the Trainer's state rather than set_epoch(): on a resume
            # mid-epoch under DDP, accelerate's skipping loader does not pass set_epoch() through
            # its sharded batch sampler, and the epoch would silently restart from 0.
            # state.epoch is a float that reaches exactly k.0 on the last step of epoch k - 1.
            # As a list: dataset["length"] is a lazy column, an Arrow lookup per index (the
            # grouping reads each length several times: minutes on 500k rows).
            lengths = self.train_dataset.select_columns(["length"])[:]["length"]
            return SeededLengthSampler(
                lengths,
                batch,
                self.args.data_seed,
                epoch=lambda: int((self.state.epoch or 0) + 1e-6),
            )

        def _get_eval_sampler(self, eval_dataset):
            # Our evaluation sets are stored in length order already. The stock sampler would
            # shuffle them by length groups (it follows the training strategy), losing the
            # order that takes predictions back to their texts (`_evaluate`).
            if self.args.world_size <= 1:
                return torch.utils.data.SequentialSampler(eval_dataset)
            return None  # accelerate deals consecutive batches to the ranks, order kept

    return SeededTrainer


def _training_arguments(cfg: TrainConfig, checkpoint_dir: Path, precision: str):
    import torch

    from bertft.training.passthrough import training_arguments

    # The Trainer picks CUDA, else MPS (Apple GPU), when not told to use the CPU.
    on_cpu = not torch.cuda.is_available() and not mps_available()
    base = dict(
        output_dir=str(checkpoint_dir),
        # Where not given, the task's (set in _train once the data has shown the task).
        learning_rate=cfg.learning_rate or 0.0,
        per_device_train_batch_size=cfg.per_device_train_batch_size or STANDARD_BATCH,
        per_device_eval_batch_size=cfg.per_device_eval_batch_size,
        num_train_epochs=cfg.epochs or 0.0,
        # With max_steps the epoch strategies below still evaluate and save where it stops: the
        # Trainer ends the epoch early and runs its end-of-epoch evaluation and save.
        max_steps=cfg.max_steps or -1,
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
        # Set to the task's metric once the data has shown the task (see _train).
        metric_for_best_model="loss",
        greater_is_better=False,
        # Batches of similar lengths pad little: with short texts this alone is ~3x. (The
        # sampler itself is SeededLengthSampler, see _trainer_class.)
        train_sampling_strategy="group_by_length",
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=on_cpu,
        optim="adamw_torch_fused",
        report_to=cfg.report_to,
        # Every parameter of an encoder classifier gets a gradient; searching for unused ones
        # would cost a graph traversal each step.
        ddp_find_unused_parameters=False,
        dataloader_num_workers=0,  # tokenized tensors are in memory; workers only add latency
        disable_tqdm=False,
    )
    # Any other TrainingArguments setting the user gave goes on top (bertft's own are refused
    # in config); transformers validates the whole.
    return training_arguments(base, cfg.training_arguments)


def _logits(predictions) -> np.ndarray:
    return predictions[0] if isinstance(predictions, tuple) else predictions


def _metrics_per_text(eval_set, task: Task, pooling: str) -> Callable:
    """The Trainer's per-epoch metrics, per text (never per window): they pick the best model."""
    positions = np.asarray(eval_set.select_columns(["position"])[:]["position"])

    def compute(prediction) -> dict[str, float]:
        logits, label_ids = per_text(
            _logits(prediction.predictions), prediction.label_ids, positions, pooling
        )
        return task.train_metrics(label_ids, logits)

    return compute


def _calibration_settings(cfg: TrainConfig, splits: LabeledSplits) -> CalibrationSettings:
    """--calibration, except where the validation texts are the training texts: scores fitted
    on texts the model learnt would only be made more sure of themselves."""
    if not splits.held_out:
        why = "nothing held out to fit it on (the few-shot recipe trains on every text)"
        return CalibrationSettings("none", why_none=why)
    return CalibrationSettings(cfg.calibration, cfg.interval_coverage)


def _evaluate(
    trainer,
    dataset,
    examples: Examples,
    task: Task,
    class_weights: dict[str, float] | None = None,
    calibrate: CalibrationSettings | None = None,
    pooling: str = "mean",
) -> tuple[dict[str, Any], np.ndarray]:
    """The full report on `dataset` (tokenized `examples`) and its scores, one row per text in
    text order (the set holds windows in length order; "position" names each one's text; a
    chunked text's windows are pooled into one row of logits before the task's scores). On the
    validation set (`calibrate`), the task first fits its calibration and what it decides by
    (e.g. a temperature and one threshold per label)."""
    # The Trainer's own metrics are bound to the validation set's windows (`_metrics_per_text`);
    # a test set of another size would break them, and the report below is computed here anyway.
    compute_metrics, trainer.compute_metrics = trainer.compute_metrics, None
    try:
        output = trainer.predict(dataset, metric_key_prefix="eval")
    finally:
        trainer.compute_metrics = compute_metrics
    positions = np.asarray(dataset.select_columns(["position"])[:]["position"])
    logits, _ = per_text(_logits(output.predictions), output.label_ids, positions, pooling)
    if calibrate is not None:
        task.calibrate(examples.labels, logits, calibrate)
    scores = task.scores(logits)
    report = task.report(examples.labels, scores)
    # From the gathered logits, not the Trainer's eval_loss: under DDP that one averages batch
    # means whose last batch is padded with repeated texts, so it drifts from the true mean.
    report["loss"] = task.loss_value(examples.labels, logits, class_weights)
    report["samples"] = len(logits)
    report["samples_per_second"] = output.metrics.get("eval_samples_per_second")
    report["long_texts"] = cut_stats(dataset).as_dict()
    return report, scores


def _and(names: list[str]) -> str:
    """Names joined as in prose: a; a and b; a, b and c."""
    return " and ".join(filter(None, [", ".join(names[:-1]), names[-1]]))


def _outputs(task: Task) -> str:
    return f"{len(task.names)} labels" if len(task.names) > 1 else "one output"


# --- the output folder -------------------------------------------------------------------------


def _run_identity(
    cfg: TrainConfig,
    task: Task,
    train: Examples,
    class_weights: dict[str, float] | None,
    encoder: TextEncoder,
) -> dict[str, Any]:
    """What must be the same for a checkpoint to be resumed: model, data, labels, loss, how
    texts become windows, and the optimisation schedule."""
    return {
        "model_id": cfg.model_id,
        # A checkpoint restores the optimizer and the scheduler's base rate, so a new learning
        # rate would be ignored and new epochs or batches would bend the schedule: refused.
        "schedule": {name: getattr(cfg, name) for name in SCHEDULE_SETTINGS},
        "data": cfg.data.data,
        "validation_data": cfg.data.validation_data,
        "text_column": cfg.data.text_column,
        "label_column": cfg.data.label_column,
        "train_samples": len(train),
        "labels": list(task.names),
        "seed": cfg.seed,
        # The weights themselves, not the option: a weights file edited between the
        # interruption and the resume changes the loss.
        "class_weights": class_weights,
        "layerwise_lr_decay": cfg.layerwise_lr_decay,
        "task": task.name,
        "text_pair_column": train.pair_column,
        "training_arguments": cfg.training_arguments,
        **{
            k: getattr(cfg.data, k)
            for k in ("data_config", "train_split_name", "validation_split_name", "test_split_name")
        },
        "encoder": encoder.to_dict(),
    }


def _data_summary(cfg: TrainConfig, splits: LabeledSplits) -> dict[str, Any]:
    """Where the texts came from and how many of each label each split has."""
    parts = {"train": splits.train, "validation": splits.validation, "test": splits.test}
    samples, counts = {}, {}
    for split, examples in parts.items():
        if examples is not None:
            samples[split] = len(examples)
            found = splits.task.label_counts(examples.labels)
            if found is not None:
                counts[split] = found
    return {
        "data": cfg.data.data,
        # The file itself, wherever `evaluate` is run from (its held-out part is found by it).
        **_file_path(cfg.data.data),
        "validation_data": cfg.data.validation_data
        or (f"{cfg.data.validation_split:.0%} split" if splits.held_out else "none held out"),
        "test_data": cfg.data.test_data,
        "samples": samples,
        "label_counts": counts or None,
        "dropped_label_issues": (
            {"file": cfg.data.drop_label_issues, "rows": splits.dropped}
            if cfg.data.drop_label_issues
            else None
        ),
    }


def _file_path(data: str) -> dict[str, str]:
    """{"file": the absolute path} when `data` names a file, else nothing."""
    path = Path(data).expanduser()
    return {"file": str(path.resolve())} if path.is_file() else {}


def _save_outputs(
    out: Path,
    cfg: TrainConfig,
    metrics: dict[str, Any],
    splits: LabeledSplits,
    scores: np.ndarray,
) -> None:
    """Beside the model (and its tokenizer) that `trainer.save_model` wrote."""
    from bertft.reporting.model_card import write_model_card
    from bertft.reporting.report import write_training_report

    write_text(out / "train_config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    write_model_card(out, cfg, metrics, splits.task)
    validation = splits.validation
    write_training_report(out, cfg, metrics, splits.task, validation, scores)
    write_json(out / METRICS_FILE, metrics)  # last: a metrics.json means the rest is complete


def _say(message: str) -> None:
    log.info(message)


def _say_once(message: str) -> None:
    """`_say` on the main process only: what every rank decides alike is said once."""
    if rank() == 0:
        _say(message)

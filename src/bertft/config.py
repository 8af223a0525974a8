"""Typed settings. The dataclass fields are the CLI flags and the YAML keys, one shape for both.

Each field's `help` metadata becomes its `--help` line; `load_yaml` reads a flat YAML file with the
same keys, and flags given on the command line override it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bertft.calibration import METHODS as CALIBRATION_METHODS
from bertft.errors import BertftError
from bertft.flags import aliases_of, coerce, load_yaml, opt, resolve_aliases
from bertft.tasks import TASKS
from bertft.windows import WindowSpec

__all__ = ["DataConfig", "TrainConfig", "load_yaml", "opt", "train_config_from"]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# Hugging Face's precision switches, which bertft's one `precision` setting replaces
PRECISION_SWITCHES = ("bf16", "fp16")

# --report_to choice -> the package it needs
TRACKERS = {"none": None, "tensorboard": "tensorboard", "mlflow": "mlflow", "wandb": "wandb"}


@dataclass
class DataConfig:
    data: str = opt(
        "trec",
        "bundled dataset name, a CSV/TSV/JSON/JSONL/Parquet file, a folder "
        "saved with datasets.save_to_disk, or a hub dataset name (online)",
        aliases=("train_file", "dataset_name"),
    )
    data_config: str | None = opt(
        None,
        "configuration of a hub dataset (e.g. 'sst2' of 'glue')",
        aliases=("dataset_config_name",),
    )
    train_split_name: str = opt("train", "split of a saved or hub dataset to train on")
    validation_split_name: str | None = opt(
        None,
        "split of --data to validate on (saved or hub dataset), or of --validation_data "
        "(default there: validation)",
    )
    test_split_name: str | None = opt(
        None,
        "split of --data to test on (saved or hub dataset), or of --test_data "
        "(default there: test)",
    )
    validation_data: str | None = opt(
        None,
        "validation set (same kinds as --data); default: a stratified split of --data",
        aliases=("validation_file",),
    )
    test_data: str | None = opt(
        None, "optional test set, evaluated once with the best model", aliases=("test_file",)
    )
    text_column: str | None = opt(
        None,
        "text column (default: found from text, sentence, ...)",
        aliases=("text_column_names", "text_column_name"),
    )
    label_column: str | None = opt(
        None,
        "label column (default: found from label, category, ...)",
        aliases=("label_column_name",),
    )
    text_pair_column: str | None = opt(
        None,
        "second text of a pair, encoded with the text as one input (default: found for the "
        "usual pairs: sentence1/sentence2, premise/hypothesis, question1/question2 and others, "
        "listed in the README)",
    )
    drop_label_issues: str | None = opt(
        None,
        "train without the rows this CSV lists (bertft audit's label_issues.csv, cut to the rows "
        "you confirm are wrong: its row and text columns)",
    )
    task: str = opt(
        "auto",
        "auto (list labels or --label_separator: multi_label; numbers not all integers: "
        "regression; else single_label), single_label, multi_label, regression",
        choices=("auto", "single_label", "multi_label", "regression"),
    )
    label_separator: str | None = opt(
        None, "split string labels on this (e.g. '|') into several labels: multi-label CSV/TSV"
    )
    standardize_targets: bool = opt(
        True,
        "regression: train on targets scaled to mean 0, std 1 (answers in the original units)",
        off="regression: train on the targets as they are, not scaled to mean 0, std 1",
    )
    validation_split: float = opt(
        0.2,
        "fraction held out for validation when no --validation_data is given (stratified, seeded)",
    )
    max_train_samples: int | None = opt(None, "use at most this many training texts")
    max_eval_samples: int | None = opt(
        None, "use at most this many validation/test texts (a stratified, seeded sample)"
    )
    strict: bool = opt(False, "refuse empty texts instead of skipping them with a count")
    arrow_from_mb: float = opt(
        16.0,
        "data files this large (MB) or larger are read in chunks into memory-mapped Arrow files "
        "(datasets' cache) and tokenized by several processes, rather than held in memory; "
        "0: every file",
    )

    def validate(self) -> None:
        if self.label_separator == "":
            raise BertftError("--label_separator must not be empty")
        self._two_text_columns()
        if self.data_config and not _has_configs(self.data):
            raise BertftError(
                f"--data_config {self.data_config}: only a hub dataset has configurations, "
                f"and {self.data} is a file, a saved folder or a bundled dataset"
            )
        if not 0.0 < self.validation_split < 1.0:
            raise BertftError(
                f"validation_split must be between 0 and 1, got {self.validation_split}"
            )
        if self.arrow_from_mb < 0:
            raise BertftError(f"--arrow_from_mb must be 0 or more, got {self.arrow_from_mb}")
        for name in ("max_train_samples", "max_eval_samples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise BertftError(f"{name} must be at least 1, got {value}")

    def _two_text_columns(self) -> None:
        """`--text_column_names a,b` as `run_classification.py` takes it: the two texts of a
        pair here (encoded as one input with a separator, where that script joins them with a
        space); more than two are refused."""
        if not self.text_column or "," not in self.text_column:
            return
        names = [n.strip() for n in self.text_column.split(",")]
        if len(names) != 2 or not all(names) or self.text_pair_column:
            raise BertftError(
                f"--text_column {self.text_column}: bertft reads one text column, or two as a "
                f"pair (--text_column A --text_pair_column B)"
            )
        self.text_column, self.text_pair_column = names


def _has_configs(data: str) -> bool:
    """Hub datasets have configurations; files, saved folders and bundled datasets do not."""
    from bertft.data.bundled import BUNDLED

    return data not in BUNDLED and not Path(data).expanduser().exists()


@dataclass
class TrainConfig:
    model_id: str = opt(
        "minilm",
        "'minilm' (bundled all-MiniLM-L6-v2), 'mpnet' (bundled all-mpnet-base-v2, `make mpnet`), "
        "a local model folder, or a hub model id (online)",
        aliases=("model_name_or_path",),
    )
    output_dir: str | None = opt(
        None, "where the model, metrics and report go (default: runs/<data name>)"
    )
    recipe: str = opt(
        "auto",
        "auto (few_shot under 100 training texts a class on average, else standard), standard "
        "(a validation split, the best epoch kept), few_shot (every text trains a fixed "
        "number of steps with mean pooling and a pair loss; the last step kept)",
        choices=("auto", "standard", "few_shot"),
    )
    learning_rate: float | None = opt(
        None, "peak learning rate (AdamW) (default: the task's: 1e-4; multi-label 2e-4)"
    )
    per_device_train_batch_size: int | None = opt(
        None, "training batch size per device/process (default: 32; the few-shot recipe's 16)"
    )
    per_device_eval_batch_size: int = opt(32, "evaluation batch size per device/process")
    epochs: float | None = opt(
        None,
        "number of training epochs (default: the task's: 3; multi-label 8; text pairs 5 under "
        "single-label and regression)",
        aliases=("num_train_epochs",),
    )
    max_steps: int | None = opt(
        None,
        "stop after this many optimizer steps (overrides --epochs; evaluates and checkpoints "
        "there): a first look at a big set",
    )
    train_max_length: int = opt(
        128,
        "the window: tokens the model reads at once, special tokens included (batches are "
        "padded only to their longest text); saved with the model for predict and serve",
        aliases=("max_seq_length",),
    )
    long_texts: str = opt(
        "auto",
        "texts longer than the window: truncate (read the start), head_tail (the start and the "
        "end), chunk (every part, in overlapping windows, pooled per text); auto: chunk when "
        "over 5% of the training texts are longer, else truncate",
        choices=("auto", "truncate", "head_tail", "chunk"),
    )
    stride: int | None = opt(
        None, "chunk: tokens consecutive windows share (default: a quarter of the window)"
    )
    head_fraction: float = opt(
        0.25, "head_tail: share of the window taken from the text's start; the rest is its end"
    )
    max_windows_per_text: int | None = opt(
        4,
        "chunk, training only: windows kept per text, evenly spread, so that one long text does "
        "not outweigh many short ones (evaluation and prediction read every window)",
    )
    chunk_pooling: str = opt(
        "mean",
        "chunk: how a text's windows' logits become its own (mean or max)",
        choices=("mean", "max"),
    )
    seed: int = opt(42, "random seed for the split, the data order and the classifier head")
    weight_decay: float = opt(0.01, "AdamW weight decay")
    warmup_ratio: float = opt(0.1, "fraction of steps spent warming the learning rate up")
    gradient_accumulation_steps: int = opt(1, "batches per optimizer step")
    max_grad_norm: float = opt(1.0, "gradient clipping norm")
    layerwise_lr_decay: float = opt(
        1.0,
        "each encoder layer learns at this times the learning rate of the layer above it (the "
        "head at --learning_rate, the embeddings lowest); 1: every layer alike",
    )
    reinit_pooler: bool | None = opt(
        None,
        "start the pooler (the dense layer between [CLS] and the head) from random weights "
        "instead of the pre-trained ones, which models trained for mean pooling never used "
        "(default: the task's: on for single-label text pairs where the pooler shows no "
        "training, else off)",
    )
    metric_for_best_model: str | None = opt(
        None,
        "keep the checkpoint best on this validation metric (default: the task's own: f1_macro "
        "single-label, f1_micro multi-label, rmse regression; or accuracy, f1_weighted, "
        "subset_accuracy, hamming_loss, mse, mae, pearson, spearman, r2, loss)",
    )
    early_stopping_patience: int | None = opt(
        None, "stop after this many evaluations without improvement"
    )
    calibration: str = opt(
        "auto",
        "auto: after training, fit the scores' temperature on the validation texts and fold it "
        "into the head, so that a 0.9 is right about nine times in ten (multi-label: one per "
        "label, thresholds chosen after; regression: an interval around each value); none: "
        "leave the scores as trained",
        choices=CALIBRATION_METHODS,
    )
    interval_coverage: float = opt(
        0.9, "regression: how often the interval is to hold the true value (split conformal)"
    )
    save_total_limit: int = opt(2, "keep at most this many checkpoints (the best is kept too)")
    save_steps: int | None = opt(None, "also checkpoint every N optimizer steps")
    save_every_minutes: float | None = opt(
        None, "also checkpoint when N minutes have passed since the last one (spot instances)"
    )
    checkpoint_dir: str | None = opt(
        None,
        "where checkpoints go (default: OUTPUT_DIR/"
        "checkpoints), e.g. a volume synced to object storage",
    )
    logging_steps: int = opt(50, "log loss, learning rate and grad norm every N steps")
    freeze_embeddings: bool = opt(
        False,
        "keep the word-embedding matrix as pre-trained (half of MiniLM's parameters): faster "
        "steps with no gradient, clipping or AdamW update for it",
    )
    precision: str = opt(
        "auto",
        "auto (bf16 where the hardware does it natively), fp32, bf16, fp16; --bf16 and --fp16 "
        "(Hugging Face's flags) set it too",
        choices=PRECISIONS,
    )
    overwrite_output_dir: bool = opt(False, "replace an output folder that holds another run")
    resume: str = opt(
        "auto",
        "auto: continue from the last checkpoint if there is one; never: "
        "start over; or a checkpoint folder",
    )
    class_weights: str = opt(
        "none",
        "weighted cross-entropy for imbalanced labels: none, auto (inverse frequency, mean 1), "
        "or a JSON/YAML file mapping each label to a weight",
    )
    report_to: str = opt(
        "none",
        "send losses and metrics to a tracker too (logs in OUTPUT_DIR/runs for tensorboard)",
        choices=tuple(TRACKERS),
    )
    push_to_hub: bool = opt(False, "upload the model folder to the Hugging Face Hub after training")
    repository_id: str | None = opt(
        None, "hub repository for --push_to_hub, e.g. user/my-model", aliases=("hub_model_id",)
    )
    data: DataConfig = field(default_factory=DataConfig)
    # Every other TrainingArguments setting given (lr_scheduler_type, optim, ...): checked by
    # bertft.training.passthrough, handed to the Trainer as they are
    training_arguments: dict[str, Any] = field(default_factory=dict, metadata={"flag": False})

    def validate(self) -> None:
        self.data.validate()
        positive = (
            "per_device_train_batch_size",
            "per_device_eval_batch_size",
            "train_max_length",
            "gradient_accumulation_steps",
            "logging_steps",
        )
        optional = (
            "learning_rate",
            "epochs",
            "save_steps",
            "save_every_minutes",
            "early_stopping_patience",
            "max_steps",
        )
        for name in positive + optional:
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise BertftError(f"{name} must be positive, got {value}")
        known = {"loss"}
        for task in TASKS.values():
            known.update(task.metric_names)
        if self.metric_for_best_model is not None and self.metric_for_best_model not in known:
            raise BertftError(
                f"metric_for_best_model must be one of {', '.join(sorted(known))}, "
                f"got '{self.metric_for_best_model}'"
            )
        if not 0 < self.interval_coverage < 1:
            raise BertftError(
                f"--interval_coverage must be between 0 and 1, got {self.interval_coverage}"
            )
        if not 0 < self.layerwise_lr_decay <= 1:
            raise BertftError(
                f"--layerwise_lr_decay must be in (0, 1], got {self.layerwise_lr_decay}"
            )
        try:  # a stride or fraction that cannot work, refused before anything loads
            self.window_spec("truncate").check()
        except ValueError as e:
            raise BertftError(str(e)) from None
        if self.long_texts not in ("auto", "truncate", "head_tail", "chunk"):
            raise BertftError(
                f"--long_texts must be auto, truncate, head_tail or chunk, got '{self.long_texts}'"
            )
        if self.long_texts != "auto":  # a named pair column: refused before the data loads
            from bertft.data.encoding import refuse_pairs

            refuse_pairs(self.data.text_pair_column, self.long_texts)
        if self.report_to not in TRACKERS:
            raise BertftError(
                f"report_to must be one of {', '.join(TRACKERS)}, got '{self.report_to}'"
            )
        # Refused here, before any training: finding out after an hour-long run is too late.
        if self.push_to_hub and not self.repository_id:
            raise BertftError("push_to_hub needs repository_id (e.g. your-name/model-name)")

    def window_spec(self, strategy: str) -> WindowSpec:
        """The window these settings describe, with `strategy` (`auto` resolved by the caller)."""
        stride = self.train_max_length // 4 if self.stride is None else self.stride
        return WindowSpec(
            max_length=self.train_max_length,
            strategy=strategy,
            stride=stride,
            head_fraction=self.head_fraction,
            pooling=self.chunk_pooling,
            max_windows=self.max_windows_per_text,
        )

    def resolved_output_dir(self) -> Path:
        if self.output_dir:
            return Path(self.output_dir)
        return Path("runs") / Path(self.data.data.rstrip("/")).stem

    def resolved_checkpoint_dir(self) -> Path:
        if self.checkpoint_dir:
            return Path(self.checkpoint_dir)
        return self.resolved_output_dir() / "checkpoints"

    def to_dict(self) -> dict[str, Any]:
        """Flat, YAML-ready: the same keys the flags and `--config` use."""
        flat = dataclasses.asdict(self)
        data, passed = flat.pop("data"), flat.pop("training_arguments")
        return {**flat, **data, **passed}


def train_config_from(values: dict[str, Any], source: str = "settings") -> TrainConfig:
    """Build a TrainConfig from flat keys (YAML, flags or keyword arguments; bertft's names or
    their Hugging Face aliases), refusing unknown ones."""
    values = normalize_keys(values, source)
    data_keys = {f.name for f in dataclasses.fields(DataConfig)}
    train_keys = {f.name for f in dataclasses.fields(TrainConfig)} - {"data", "training_arguments"}
    # from Python, Trainer settings may also come nested: training_arguments={"optim": ...}
    nested = dict(values.pop("training_arguments", None) or {})
    others = {**nested, **{k: v for k, v in values.items() if k not in data_keys | train_keys}}
    passed = {}
    if others:
        from bertft.training.passthrough import split_settings

        passed = split_settings(others, source, setting_names())
    data = DataConfig(
        **coerce(DataConfig, {k: v for k, v in values.items() if k in data_keys}, source)
    )
    train = coerce(TrainConfig, {k: v for k, v in values.items() if k in train_keys}, source)
    cfg = TrainConfig(**train, data=data, training_arguments=passed)
    cfg.validate()
    return cfg


def setting_names() -> set[str]:
    """bertft's own train settings and their aliases."""
    names = set()
    for cls in (TrainConfig, DataConfig):
        names |= {f.name for f in dataclasses.fields(cls)} | set(aliases_of(cls))
    return names | set(PRECISION_SWITCHES)


def normalize_keys(values: dict[str, Any], source: str) -> dict[str, Any]:
    """Aliases renamed to bertft's names and bf16/fp16 turned into `precision`. Done per source
    (YAML, flags), so that a flag overrides a YAML key whichever name either uses."""
    values = precision_from_switches(values, source)
    return resolve_aliases(DataConfig, resolve_aliases(TrainConfig, values, source), source)


def precision_from_switches(values: dict[str, Any], source: str) -> dict[str, Any]:
    """`bf16: true` / `fp16: true` (Hugging Face's switches) -> `precision`; both false -> fp32."""
    switches = {k: values[k] for k in PRECISION_SWITCHES if k in values}
    if not switches:
        return values
    rest = {k: v for k, v in values.items() if k not in PRECISION_SWITCHES}
    on = sorted(k for k, v in coerce_switches(switches, source).items() if v)
    if len(on) > 1:
        raise BertftError(f"{source}: bf16 and fp16 are both on; choose one (precision)")
    chosen = on[0] if on else "fp32"
    if "precision" in rest and rest["precision"] != chosen:
        raise BertftError(
            f"{source}: precision {rest['precision']} and "
            f"{', '.join(f'{k}={v}' for k, v in switches.items())} disagree; give one"
        )
    return {**rest, "precision": chosen}


def coerce_switches(switches: dict[str, Any], source: str) -> dict[str, bool]:
    from bertft.flags import coerce_value

    return {k: coerce_value(bool, v, source, k) for k, v in switches.items()}

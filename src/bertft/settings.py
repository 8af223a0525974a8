"""Settings of the commands that use a trained model: evaluate, predict, export and serve.

One definition per setting: the fields are the Python keyword arguments, the CLI flags (generated
by `bertft.flags`) and their --help. `train`'s settings are in `bertft.config`. Light to import
(no torch, no FastAPI): the CLI builds every command's flags from these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bertft.errors import BertftError
from bertft.flags import opt, required

BACKENDS = ("torch", "onnx")
MODEL_HELP = "a model folder from `bertft train`"
BACKEND_HELP = "torch: the model folder; onnx: an export (its folder, .onnx file, or MODEL/onnx)"
DEVICE_HELP = "torch backend: auto (a CUDA GPU if visible, else Apple MPS), cpu, cuda, cuda:N, mps"
POOLING_HELP = (
    "models trained with --long_texts chunk: combine a text's windows by the mean or the max of "
    "their logits (default: what training used)"
)


def split_keys(value: str | list[str] | None) -> list[str]:
    """API keys from --api_key (repeatable) or BERTFT_API_KEY: comma-separated, blanks dropped."""
    if not value:
        return []
    parts = [value] if isinstance(value, str) else value
    return [k.strip() for part in parts for k in part.split(",") if k.strip()]


def _at_least(settings: object, names: tuple[str, ...], low: float) -> None:
    for name in names:
        value = getattr(settings, name)
        if value is not None and value < low:
            raise BertftError(f"{name} must be at least {low:g}, got {value}")


@dataclass
class EvaluateSettings:
    """What `bertft evaluate` does; the fields are its flags."""

    model: str = required(MODEL_HELP)
    data: str = required("bundled dataset name, file or saved dataset folder")
    split: str = opt("test", "split to use for saved or hub datasets")
    text_column: str | None = opt(None, "text column (default: found)")
    label_column: str | None = opt(None, "label column (default: found)")
    text_pair_column: str | None = opt(
        None, "second text of each pair (default: the one the model was trained with, or found)"
    )
    label_separator: str | None = opt(
        None, "multi-label: split string labels on this (default: the one used in training)"
    )
    max_eval_samples: int | None = opt(None, "use N texts, a stratified sample (seeded)")
    output_dir: str | None = opt(None, "where the report goes (default: MODEL/evaluation/<data>)")
    per_device_eval_batch_size: int = opt(32, "texts per forward pass")
    strict: bool = opt(False, "refuse empty texts instead of skipping them with a count")
    all_rows: bool = opt(
        False,
        "when --data is the model's training data, use every row rather than the part "
        "training held out for validation",
    )
    backend: str = opt("torch", BACKEND_HELP, choices=BACKENDS)
    device: str = opt("auto", DEVICE_HELP)
    chunk_pooling: str | None = opt(None, POOLING_HELP, choices=("mean", "max"))

    def validate(self) -> None:
        _at_least(self, ("max_eval_samples", "per_device_eval_batch_size"), 1)


@dataclass
class PredictSettings:
    """What `bertft predict` does; the fields are its flags."""

    model: str = required(MODEL_HELP)
    text: list[str] | None = opt(None, "a text to label (repeatable)")
    input: str | None = opt(
        None,
        "CSV/TSV/JSONL/Parquet file, JSON array, or .txt (a text a line); instead of --text. "
        "Read and written in chunks, with progress; rerunning after a crash or SIGTERM "
        "continues where the output ends",
    )
    text_column: str | None = opt(None, "text column of --input (default: found)")
    text_pair: list[str] | None = opt(
        None, "the second text of a pair, for a model trained on pairs (one per --text)"
    )
    text_pair_column: str | None = opt(
        None, "second-text column of --input (default: the one the model was trained with)"
    )
    output: str | None = opt(None, "write .jsonl, .csv or .parquet here (default: JSONL on stdout)")
    keep_columns: str = opt(
        "all", "--input columns copied to the output: all, none, or a list like id,title"
    )
    chunk_size: int = opt(2048, "--input rows read, predicted and committed at a time")
    overwrite: bool = opt(
        False, "replace --output if it exists, rather than refuse it (or resume it)"
    )
    top_k: int = opt(1, "labels per text, best first")
    batch_size: int = opt(64, "texts per forward pass")
    threads: int | None = opt(
        None, "compute threads of a forward pass (default: all cores for onnx, torch's own)"
    )
    threshold: float | None = opt(
        None,
        "binary models: label a text positive when its positive-class probability is at "
        "least this (evaluate reports the one maximising F1)",
    )
    positive_label: str | None = opt(
        None, "the positive class for --threshold (default: the second label)"
    )
    backend: str = opt(
        "auto",
        BACKEND_HELP + "; auto: the int8 export when MODEL has one and the device is a CPU, "
        "else torch",
        choices=("auto", *BACKENDS),
    )
    device: str = opt("auto", DEVICE_HELP)
    chunk_pooling: str | None = opt(None, POOLING_HELP, choices=("mean", "max"))

    def validate(self) -> None:
        if (self.text is None) == (self.input is None):
            raise BertftError("give texts to label: text (--text, repeatable) or input (--input)")
        _at_least(self, ("top_k", "batch_size", "threads", "chunk_size"), 1)
        outputs = (".jsonl", ".csv", ".parquet") if self.input else (".jsonl", ".csv")
        if self.output and Path(self.output).suffix.lower() not in outputs:
            raise BertftError(f"output {self.output}: expected a {', '.join(outputs)} file")
        if self.positive_label is not None and self.threshold is None:
            raise BertftError("positive_label goes with threshold; give both")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise BertftError(f"threshold must be between 0 and 1, got {self.threshold}")
        if self.text_pair and not self.text:
            raise BertftError("text_pair goes with text (one each); for files: text_pair_column")
        if self.text_pair and len(self.text_pair) != len(self.text):
            raise BertftError(
                f"{len(self.text)} text but {len(self.text_pair)} text_pair: give one of each"
            )


@dataclass
class ExportSettings:
    """What `bertft export` does; the fields are its flags."""

    model: str = required(MODEL_HELP)
    output_dir: str | None = opt(None, "where the export goes (default: MODEL/onnx)")
    format: str = opt("onnx", "export format", choices=("onnx",))
    quantize: str | None = opt(None, "also write model.int8.onnx", choices=("int8",))
    optimize: bool = opt(
        True,
        "fuse the ONNX graph with ONNX Runtime (attention, GELU, layer norm)",
        off="skip ONNX Runtime's graph fusion: export the graph as torch.onnx writes it",
    )
    eval_data: str | None = opt(
        None,
        "labelled texts for the accuracy check (bundled name, file or saved dataset); "
        "default: built-in sample texts, predictions compared only",
    )
    text_column: str | None = opt(None, "text column of --eval_data (default: found)")
    label_column: str | None = opt(None, "label column of --eval_data (default: found)")
    text_pair_column: str | None = opt(None, "second text of each pair in --eval_data")
    split: str = opt("test", "split of a saved or hub dataset")
    max_eval_samples: int | None = opt(2000, "texts for the check")
    max_accuracy_drop: float = opt(
        1.0,
        "points of the task's metric int8 may lose against PyTorch: accuracy (single-label), "
        "micro F1 (multi-label), or percent of RMSE (regression)",
    )
    max_logit_diff: float = opt(1e-3, "largest fp32 logit difference from PyTorch")
    force: bool = opt(False, "keep an export that fails a check")
    opset: int = opt(17, "ONNX opset version")

    def validate(self) -> None:
        if self.format != "onnx":
            raise BertftError(f"format {self.format}: only 'onnx' is supported")
        if self.quantize not in (None, "int8"):
            raise BertftError(f"quantize {self.quantize}: only 'int8' is supported")
        if self.max_accuracy_drop < 0:
            raise BertftError(f"max_accuracy_drop must be >= 0, got {self.max_accuracy_drop}")
        _at_least(self, ("max_eval_samples",), 1)
        if not (Path(self.model) / "config.json").is_file():
            raise BertftError(
                f"{self.model}: not a model folder (no config.json); "
                f"point --model at the output folder of `bertft train`"
            )


@dataclass
class ServeSettings:
    """What `bertft serve` does; the fields are its flags. Defaults marked `env` come from the
    environment when set there (containers)."""

    model: str = opt(
        "/opt/ml/model",
        "model folder (or ONNX export with --backend onnx); /opt/ml/model is SageMaker's",
        env="BERTFT_MODEL",
    )
    backend: str = opt("torch", BACKEND_HELP, choices=BACKENDS, env="BERTFT_BACKEND")
    device: str = opt("auto", DEVICE_HELP, env="BERTFT_DEVICE")
    host: str = opt("127.0.0.1", "address to listen on", env="BERTFT_HOST")
    port: int = opt(8080, "0: any free port", env="BERTFT_PORT")
    workers: int = opt(1, "processes, each with the model and a share of the cores")
    max_batch_size: int = opt(32, "texts per forward pass")
    max_wait_ms: float = opt(
        5.0, "under load, how long a batch waits to fill up (a lone request never waits)"
    )
    max_text_chars: int = opt(10_000, "longest text accepted")
    max_batch_texts: int = opt(256, "most texts per request")
    threads: int | None = opt(
        None, "compute threads per forward pass (default: all cores for onnx, torch's default)"
    )
    log_level: str = opt("warning", "uvicorn's log level")
    max_queue: int = opt(
        1024, "texts waiting at most; beyond, requests get 429 with Retry-After (0: no bound)"
    )
    deadline_ms: float = opt(
        0.0, "a request not answered within this gets 429 with Retry-After (0: no deadline)"
    )
    api_key: list[str] | None = field(
        default=None,
        repr=False,  # never printed
        metadata={
            "help": "require Authorization: Bearer KEY (repeat, or comma-separate, for several "
            "keys; default: $BERTFT_API_KEY); health routes and /metrics stay open",
            "env": "BERTFT_API_KEY",
            "metavar": "KEY",
        },
    )

    def __post_init__(self) -> None:
        self.api_key = split_keys(self.api_key)

    def validate(self) -> None:
        if self.backend not in BACKENDS:
            raise BertftError(f"backend {self.backend}: choose from {', '.join(BACKENDS)}")
        _at_least(self, ("workers", "max_batch_size", "max_text_chars", "max_batch_texts"), 1)
        if self.max_wait_ms < 0:
            raise BertftError(f"max_wait_ms must be >= 0, got {self.max_wait_ms}")
        if self.deadline_ms < 0:
            raise BertftError(f"deadline_ms must be >= 0 (0: none), got {self.deadline_ms}")
        if self.max_queue and self.max_queue < self.max_batch_texts:
            # A request of max_batch_texts texts could never be admitted.
            raise BertftError(
                f"max_queue {self.max_queue} is below max_batch_texts {self.max_batch_texts}: "
                "raise it, or 0 for no bound"
            )
        if not 0 <= self.port < 65536:
            raise BertftError(f"port must be 0..65535, got {self.port}")

    @property
    def max_body_bytes(self) -> int:
        # JSON may escape a character as \\uXXXX (6 bytes); allow that plus room for the keys.
        return self.max_batch_texts * (self.max_text_chars * 6 + 8) + 4096

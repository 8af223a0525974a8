"""The user-facing model: texts in, the user's label names out, from PyTorch or ONNX Runtime.

A backend is one function, `logits(batch) -> np.ndarray`, taking the tokenizer's numpy output;
everything else (batching, sorting by length, softmax, labels) is shared.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bertft.data.encoding import Encoded, TextEncoder, load_encoder
from bertft.errors import BertftError
from bertft.hardware import available_cpus, inference_precision, resolve_device
from bertft.settings import BACKENDS
from bertft.tasks import Task, ranked
from bertft.windows import pool

LogitsFn = Callable[[dict[str, np.ndarray]], np.ndarray]
ONNX_FILES = ("model.int8.onnx", "model.onnx")  # preferred first: a quantized export is for serving


def torch_logits(model) -> LogitsFn:
    """A PyTorch model as a backend, on whichever device its weights are."""
    import torch

    model.eval()

    def logits(batch: dict[str, np.ndarray]) -> np.ndarray:
        inputs = {k: torch.from_numpy(v).to(model.device) for k, v in batch.items()}
        with torch.inference_mode():
            return model(**inputs).logits.float().cpu().numpy()

    return logits


def onnx_session(path: str | Path, threads: int | None = None):
    """An ONNX Runtime session with threads set for this machine: all available cores inside one
    call, calls one after another (the server runs one forward pass at a time)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or available_cpus()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_logits(session) -> LogitsFn:
    """An ONNX Runtime session as a backend; feeds only the inputs the graph declares."""
    names = [i.name for i in session.get_inputs()]

    def logits(batch: dict[str, np.ndarray]) -> np.ndarray:
        feed = {}
        for name in names:
            value = batch.get(name)
            if value is None:  # e.g. token_type_ids from a tokenizer that does not make them
                value = np.zeros_like(batch["input_ids"])
            feed[name] = value.astype(np.int64, copy=False)
        return session.run(["logits"], feed)[0].astype(np.float32, copy=False)

    return logits


def check_device(backend: str, device: str) -> str:
    """The device `backend` will run on for the requested one, or a clear refusal."""
    if backend == "onnx":
        if device not in ("auto", "cpu"):
            raise BertftError(
                f"device {device}: the onnx backend runs on CPU (onnxruntime's CPU package); "
                f"use the torch backend on a GPU"
            )
        return "cpu"
    return resolve_device(device)


def resolve_backend(path: str | Path, backend: str, device: str) -> str:
    """'auto' -> onnx when the model folder holds an int8 export and the work runs on CPU
    (about 3x PyTorch fp32 on AVX2 cores, see docs/benchmarks.md), else torch."""
    if backend != "auto":
        return backend
    if resolve_device(device) != "cpu":
        return "torch"
    path = Path(path)
    if path.is_file() and path.suffix == ".onnx":
        return "onnx"
    int8 = [path / ONNX_FILES[0], path / "onnx" / ONNX_FILES[0]]
    return "onnx" if any(f.is_file() for f in int8) else "torch"


def find_onnx_file(path: Path) -> Path:
    """The ONNX file for `path`: the file itself, or in a folder (or its `onnx/` export folder)
    model.int8.onnx, else model.onnx."""
    if path.is_file():
        if path.suffix != ".onnx":
            raise BertftError(f"{path}: expected an .onnx file or a folder from `bertft export`")
        return path
    for folder in (path, path / "onnx"):
        for name in ONNX_FILES:
            if (folder / name).is_file():
                return folder / name
    raise BertftError(
        f"{path}: no ONNX model here (looked for {' or '.join(ONNX_FILES)} in {path} and "
        f"{path / 'onnx'}); make one with `bertft export --model {path} --format onnx`"
    )


def _trained_precision(folder: Path) -> str | None:
    """The precision the model was trained in, from the metrics.json `bertft train` wrote."""
    import json

    try:
        return json.loads((folder / "metrics.json").read_text()).get("precision")
    except (OSError, ValueError, AttributeError):
        return None


class Classifier:
    """A fine-tuned model, ready to label texts (or pairs of texts), for whichever task it was
    trained: single-label, multi-label or regression (its config.json says which).

    >>> clf = Classifier.from_pretrained("runs/trec")                  # PyTorch
    >>> clf = Classifier.from_pretrained("runs/trec", backend="onnx")  # runs/trec/onnx/
    >>> clf.predict(["What is the capital of France?"])
    ['LOC']
    >>> clf.answers(["What is the capital of France?"])
    [{'label': 'LOC', 'score': 0.98}]
    """

    def __init__(
        self,
        logits: LogitsFn,
        encoder: TextEncoder,
        labels: Sequence[str] | None = None,
        batch_size: int = 64,
        backend: str = "torch",
        source: str = "",
        device: str = "cpu",
        threads: int | None = None,
        task: Task | None = None,
        columns: dict[str, str] | None = None,
    ):
        from bertft.tasks import SingleLabel

        self.logits = logits
        self.encoder = encoder  # how texts become windows: the one training used
        self.tokenizer = encoder.tokenizer
        self.task: Task = task if task is not None else SingleLabel(labels)
        self.labels: list[str] = list(self.task.names)
        self.batch_size = batch_size
        # What the window cut: in the last predict_logits call, and in all of them (a file).
        self.last_stats = encoder.new_stats()
        self.total_stats = encoder.new_stats()
        self.backend = backend
        self.source = source  # the folder or file loaded, for messages and /info
        self.device = device  # where the forward passes run
        self.threads = threads  # compute threads of one forward pass, where known
        # The training data's columns (text, text_pair, label): what files are searched for.
        self.columns = columns or {}

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        backend: str = "torch",
        batch_size: int = 64,
        threads: int | None = None,
        precision: str = "auto",
        device: str = "auto",
        pooling: str | None = None,
    ) -> Classifier:
        """Load a model folder from `bertft train` (torch), or an ONNX export: its folder, the
        .onnx file, or the training folder holding `onnx/` (onnx). `threads`: compute threads
        of one forward pass (default: torch's own setting, or all available cores for ONNX).
        `precision` (torch): fp32, bf16 or fp16 (GPU) weights, or auto: the training precision
        where the device runs it natively (AMX / AVX512-BF16 CPUs, GPUs), else fp32.
        `device` (torch): auto (a GPU when one is visible, else MPS), cpu, cuda, cuda:N, mps;
        ONNX runs on CPU. Texts are read as training read them (the encoder saved in
        config.json); `pooling` (mean, max) replaces how a chunked text's windows are combined."""
        from transformers import AutoConfig, AutoTokenizer

        from bertft.tasks import task_from_config

        backend = resolve_backend(path, backend, device)
        if backend not in BACKENDS:
            raise BertftError(f"unknown backend '{backend}'; choose from {', '.join(BACKENDS)}")
        device = check_device(backend, device)
        path = Path(path)
        if backend == "onnx":
            onnx_file = find_onnx_file(path)
            folder = onnx_file.parent
        else:
            folder = path
        if not (folder / "config.json").is_file():
            raise BertftError(
                f"{folder}: not a model folder (no config.json); "
                f"point --model at the output folder of `bertft train` or `bertft export`"
            )
        tokenizer = AutoTokenizer.from_pretrained(folder)
        config = AutoConfig.from_pretrained(folder)
        if backend == "onnx":
            session = onnx_session(onnx_file, threads)
            threads = session.get_session_options().intra_op_num_threads
            logits = onnx_logits(session)
            source = str(onnx_file)
        else:
            import torch
            from transformers import AutoModelForSequenceClassification

            if threads:
                torch.set_num_threads(threads)  # process-wide: torch has one intra-op pool
            threads = torch.get_num_threads()
            model = AutoModelForSequenceClassification.from_pretrained(folder)
            dtype = inference_precision(precision, _trained_precision(folder), device)
            if dtype != "fp32":  # weights cast once, not autocast's cast per call
                model = model.to({"bf16": torch.bfloat16, "fp16": torch.float16}[dtype])
            logits = torch_logits(model.to(device))
            source = str(folder)
        return cls(
            logits,
            load_encoder(tokenizer, config, folder, pooling=pooling),
            batch_size=batch_size,
            backend=backend,
            source=source,
            device=device,
            threads=threads,
            task=task_from_config(config),
            columns=model_columns(config.to_dict()),
        )

    @classmethod
    def from_model(cls, model, tokenizer, batch_size: int = 64) -> Classifier:
        """An in-memory PyTorch model (e.g. just trained) and its tokenizer."""
        from bertft.tasks import task_from_config

        config = model.config
        return cls(
            torch_logits(model),
            load_encoder(tokenizer, config),
            batch_size=batch_size,
            device=str(model.device),
            task=task_from_config(config),
            columns=model_columns(config.to_dict()),
        )

    def __call__(self, inputs: str | dict | Sequence[str | dict], top_k: int | None = 1) -> list:
        """Answers as `pipeline("text-classification")` does for the same model: for a list of
        texts, one `{"label", "score"}` per text (top_k=1), or per text a list of the `top_k`
        best, best first (top_k > 1; None: every label). A single string gives its own answer:
        `[{"label", "score"}]`, or the list of its `top_k` best. Text pairs come as pipeline
        takes them: `{"text": a, "text_pair": b}`, or a list of those."""
        single = isinstance(inputs, (str, dict))
        texts, pairs = _texts_and_pairs([inputs] if single else list(inputs))
        k = len(self.labels) if top_k is None else top_k
        if k < 1:
            raise BertftError(f"top_k must be at least 1, got {top_k}")
        answers = [
            [{"label": label, "score": score} for label, score in best]  # whole, as pipeline()
            for best in self.top_k(texts, k, pairs)
        ]
        if top_k == 1:
            return [best[0] for best in answers]
        return answers[0] if single else answers

    @property
    def pair_column(self) -> str | None:
        """The second text's column in training, for a model of text pairs."""
        return self.encoder.pair_column

    @property
    def max_length(self) -> int:
        """The window: tokens read at once, special tokens included."""
        return self.encoder.spec.max_length

    def _check_pairs(self, texts: list[str], pairs: Sequence[str] | None) -> list[str] | None:
        if pairs is None:
            if self.pair_column:
                raise BertftError(
                    f"this model reads pairs of texts (trained with a second text from "
                    f"'{self.pair_column}'): give the second texts too (--text_pair, "
                    f"a '{self.pair_column}' column, \"text_pair\" in a request, or pairs= "
                    f'and {{"text", "text_pair"}} dicts in Python)'
                )
            return None
        pairs = list(pairs)
        if len(pairs) != len(texts):
            raise BertftError(f"{len(texts)} texts but {len(pairs)} second texts of pairs")
        return pairs

    def encode(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> Encoded:
        """The windows of `texts` (one or more per text; one per pair), as training read them."""
        texts = list(texts)
        return self.encoder.encode(texts, pairs=self._check_pairs(texts, pairs))

    def predict_logits(
        self, texts: Sequence[str], pairs: Sequence[str] | None = None
    ) -> np.ndarray:
        """Raw logits, shape (len(texts), outputs), rows in input order. `pairs`: the second
        text of each pair, for a model trained on pairs. A text longer than the window is read
        as training read it; a chunked text's windows are pooled into one row. `last_stats`
        then says how many texts exceeded the window and what was dropped."""
        encoded = self.encode(texts, pairs)
        self.last_stats = encoded.stats
        self.total_stats.merge(encoded.stats)
        return self.pool(self._window_logits(encoded), encoded)

    def _window_logits(self, encoded: Encoded) -> np.ndarray:
        """Logits of every window of `encoded`, in its order, batched by length."""
        ids = encoded.features["input_ids"]
        out = np.empty((len(encoded), len(self.labels)), dtype=np.float32)
        # Batches of similar lengths pad little; results go back to their input positions.
        order = sorted(range(len(encoded)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), self.batch_size):
            part = order[start : start + self.batch_size]
            out[part] = self.logits(self.encoder.pad(encoded.rows(part)))
        return out

    def rows_logits(self, windows: Sequence[dict[str, list[int]]]) -> np.ndarray:
        """Logits of single windows (`Encoded.window(i)`, as the server batches them), in that
        order: one padded forward pass."""
        batch = {key: [w[key] for w in windows] for key in windows[0]}
        return self.logits(self.encoder.pad(batch))

    def pool(self, window_logits: np.ndarray, encoded: Encoded) -> np.ndarray:
        """One row of logits per text from one per window (the encoder's pooling): before the
        task's scores, so a chunked text gets one answer whatever the task."""
        if len(encoded) == encoded.documents:  # one window each: already per text
            return window_logits
        how = self.encoder.spec.pooling
        return pool(window_logits, encoded.owner, encoded.documents, how).astype(np.float32)

    def predict_proba(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
        """The scores: what the task makes of the logits, shape (len(texts), outputs), rows in
        input order: class probabilities (softmax, single-label), one sigmoid per label
        (multi-label) or values in the labels' units (regression, one column)."""
        return self.task.scores(self.predict_logits(texts, pairs))  # numpy: both backends

    def answers(
        self,
        texts: Sequence[str],
        pairs: Sequence[str] | None = None,
        top_k: int = 1,
        threshold: float | None = None,
        positive_label: str | None = None,
    ) -> list[dict]:
        """One answer per text, as `bertft predict`, `evaluate` and `serve` write it: {"label",
        "score"} plus "top_k" when k > 1 (single-label), {"labels", "scores"} (multi-label) or
        {"value", "score"} (regression). A binary model's `threshold` decides the label: the
        positive one (`positive_label`, default the second) where its probability is at least
        `threshold`, else the other."""
        scores = self.predict_proba(texts, pairs)
        rows = self.task.answers(scores, top_k)
        if threshold is not None:
            if not 0.0 <= threshold <= 1.0:
                raise BertftError(f"threshold must be between 0 and 1, got {threshold}")
            positive = self.positive_index(positive_label)
            for row, probs in zip(rows, scores, strict=True):
                chosen = positive if probs[positive] >= threshold else 1 - positive
                row |= {"label": self.labels[chosen], "score": round(float(probs[chosen]), 6)}
        return rows

    def predict(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> list:
        """The decision for each text: a label name (single-label), a list of label names
        (multi-label, each label's own threshold) or a number (regression)."""
        key = self.task.answer_key
        return [answer[key] for answer in self.answers(texts, pairs)]

    def top_k(
        self, texts: Sequence[str], k: int = 1, pairs: Sequence[str] | None = None
    ) -> list[list[tuple[str, float]]]:
        """The k most likely (label, probability) pairs for each text (or pair), best first."""
        return ranked(self.predict_proba(texts, pairs), self.labels, k)

    def positive_index(self, positive_label: str | None = None) -> int:
        """The id of the positive class of a two-label model: `positive_label`, or by default
        the second label (what `evaluate` reports ROC-AUC and the best threshold for)."""
        if self.task.name != "single_label":
            raise BertftError(
                f"--threshold is for binary single-label models; this is a {self.task.name} "
                f"model" + (" with thresholds of its own per label" if len(self.labels) > 1 else "")
            )
        if len(self.labels) != 2:
            raise BertftError(
                f"a decision threshold needs a binary model; this one has {len(self.labels)} "
                f"labels ({', '.join(self.labels)}): use the most likely label (no threshold)"
            )
        if positive_label is None:
            return 1
        if positive_label not in self.labels:
            raise BertftError(
                f"positive_label {positive_label}: not a label of this model "
                f"(it has {', '.join(self.labels)})"
            )
        return self.labels.index(positive_label)


def _texts_and_pairs(batch: list) -> tuple[list[str], list[str] | None]:
    """Texts, or `{"text", "text_pair"}` dicts as pipeline() takes pairs: (texts, second texts
    or None)."""
    if all(isinstance(item, str) for item in batch):
        return batch, None
    if all(isinstance(item, dict) and isinstance(item.get("text"), str) for item in batch):
        pairs = [item.get("text_pair") for item in batch]
        if all(p is None for p in pairs):
            return [item["text"] for item in batch], None
        if all(isinstance(p, str) for p in pairs):
            return [item["text"] for item in batch], pairs
    raise BertftError(
        'give texts, or {"text": ..., "text_pair": ...} dicts for pairs (every one with both), '
        "as pipeline() takes them"
    )


def saved_columns(folder: Path) -> dict[str, str]:
    """The columns of the data a model folder (or the training folder of an ONNX export) was
    trained on, read from its config.json alone: how evaluate finds them in a file before
    loading the model."""
    import json

    for candidate in (Path(folder), Path(folder) / "onnx"):
        try:
            config = json.loads((candidate / "config.json").read_text())
        except (OSError, ValueError):
            continue
        return model_columns(config)
    return {}


def model_columns(config: dict[str, Any]) -> dict[str, str]:
    """Kind (text, text_pair, label) -> the column name training read (none for a model bertft
    did not train)."""
    from bertft.data.columns import trained_columns

    return trained_columns(config)

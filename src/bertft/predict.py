"""The user-facing model: texts in, the user's label names out, from PyTorch or ONNX Runtime.

A backend is one function, `logits(batch) -> np.ndarray`, taking the tokenizer's numpy output;
everything else (batching, sorting by length, softmax, labels) is shared.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bertft.encoding import Encoded, TextEncoder, load_encoder
from bertft.errors import BertftError
from bertft.hardware import available_cpus, inference_precision, resolve_device
from bertft.settings import BACKENDS
from bertft.windows import CutStats, pool

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
    """A fine-tuned model, ready to label texts.

    >>> clf = Classifier.from_pretrained("runs/trec")                  # PyTorch
    >>> clf = Classifier.from_pretrained("runs/trec", backend="onnx")  # runs/trec/onnx/
    >>> clf.predict(["What is the capital of France?"])
    ['LOC']
    """

    def __init__(
        self,
        logits: LogitsFn,
        encoder: TextEncoder,
        labels: Sequence[str],
        batch_size: int = 64,
        backend: str = "torch",
        source: str = "",
        device: str = "cpu",
        threads: int | None = None,
    ):
        self.logits = logits
        self.encoder = encoder  # how texts become windows: the one training used
        self.tokenizer = encoder.tokenizer
        self.labels: list[str] = list(labels)
        self.batch_size = batch_size
        self.last_stats = CutStats()  # what the window cut in the last predict_logits call
        self.backend = backend
        self.source = source  # the folder or file loaded, for messages and /info
        self.device = device  # where the forward passes run
        self.threads = threads  # compute threads of one forward pass, where known

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
        `device` (torch): auto (a GPU when one is visible), cpu, cuda or cuda:N; ONNX runs on
        CPU. Texts are read as training read them (the encoder saved in config.json);
        `pooling` (mean, max) replaces how a chunked text's windows are combined."""
        from transformers import AutoConfig, AutoTokenizer

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
        encoder = load_encoder(tokenizer, config, folder, pooling=pooling)
        labels = [config.id2label[i] for i in range(config.num_labels)]
        return cls(logits, encoder, labels, batch_size, backend, source, device, threads)

    @classmethod
    def from_model(cls, model, tokenizer, batch_size: int = 64) -> Classifier:
        """An in-memory PyTorch model (e.g. just trained) and its tokenizer."""
        config = model.config
        encoder = load_encoder(tokenizer, config)
        labels = [config.id2label[i] for i in range(config.num_labels)]
        logits = torch_logits(model)
        device = str(model.device)
        return cls(logits, encoder, labels, batch_size, "torch", "", device)

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.labels)}

    @property
    def max_length(self) -> int:
        """The window: tokens read at once, special tokens included."""
        return self.encoder.spec.max_length

    def predict_logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw logits, shape (len(texts), len(self.labels)), rows in input order. A text
        longer than the window is read as training read it; chunks are pooled into one row.
        `last_stats` then says how many texts exceeded the window and what was dropped."""
        encoded = self.encode(texts)
        self.last_stats = encoded.stats
        return self.pool(self.window_logits(encoded), encoded)

    def encode(self, texts: Sequence[str]) -> Encoded:
        """The windows of `texts` (one or more per text)."""
        return self.encoder.encode(list(texts))

    def window_logits(self, encoded: Encoded, idx: Sequence[int] | None = None) -> np.ndarray:
        """Logits of the windows `idx` (default: all), in that order, batched by length."""
        idx = list(range(len(encoded))) if idx is None else list(idx)
        lengths = encoded.features["input_ids"]
        out = np.empty((len(idx), len(self.labels)), dtype=np.float32)
        # Batches of similar lengths pad little; results go back to their input positions.
        order = sorted(range(len(idx)), key=lambda i: len(lengths[idx[i]]))
        for start in range(0, len(order), self.batch_size):
            part = order[start : start + self.batch_size]
            batch = self.encoder.pad(encoded.rows([idx[i] for i in part]))
            out[part] = self.logits(batch)
        return out

    def rows_logits(self, windows: Sequence[dict[str, list[list[int]]]]) -> np.ndarray:
        """Logits of windows given one by one (`Encoded.rows([i])`, as the server batches
        them), in that order: one padded forward pass."""
        batch = {k: [ids for w in windows for ids in w[k]] for k in windows[0]}
        return self.logits(self.encoder.pad(batch))

    def pool(self, window_logits: np.ndarray, encoded: Encoded) -> np.ndarray:
        """One row of logits per text from one per window (the encoder's pooling)."""
        if len(encoded) == encoded.documents:  # one window each: already per text
            return window_logits
        how = self.encoder.spec.pooling
        return pool(window_logits, encoded.owner, encoded.documents, how).astype(np.float32)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape (len(texts), len(self.labels)), rows in input order."""
        from bertft.metrics import softmax

        return softmax(self.predict_logits(texts))  # in numpy: both backends share it

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The most likely label name for each text."""
        return [self.labels[i] for i in self.predict_proba(texts).argmax(axis=-1)]

    def top_k(self, texts: Sequence[str], k: int = 1) -> list[list[tuple[str, float]]]:
        """The k most likely (label, probability) pairs for each text, best first."""
        return self.rank(self.predict_proba(texts), k)

    def rank(self, probs: np.ndarray, k: int = 1) -> list[list[tuple[str, float]]]:
        """`top_k` of probabilities already computed by `predict_proba`."""
        return top_k_of(probs, self.labels, k)

    def positive_index(self, positive_label: str | None = None) -> int:
        """The id of the positive class of a two-label model: `positive_label`, or by default
        the second label (what `evaluate` reports ROC-AUC and the best threshold for)."""
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

    def predict_threshold(
        self, texts: Sequence[str], threshold: float, positive_label: str | None = None
    ) -> list[tuple[str, float]]:
        """(label, probability of that label) per text: the positive label where its
        probability is at least `threshold`, else the other one."""
        return self.decide(self.predict_proba(texts), threshold, positive_label)

    def decide(
        self, probs: np.ndarray, threshold: float, positive_label: str | None = None
    ) -> list[tuple[str, float]]:
        """`predict_threshold` of probabilities already computed by `predict_proba`."""
        if not 0.0 <= threshold <= 1.0:
            raise BertftError(f"threshold must be between 0 and 1, got {threshold}")
        positive = self.positive_index(positive_label)
        negative = 1 - positive
        out = []
        for row in probs:
            chosen = positive if row[positive] >= threshold else negative
            out.append((self.labels[chosen], float(row[chosen])))
        return out


def top_k_of(probs: np.ndarray, labels: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
    """The k best (label, probability) pairs of each row of `probs`, best first."""
    k = min(k, len(labels))
    best = np.argsort(-probs, axis=-1, kind="stable")[:, :k]
    return [
        [(labels[j], float(row[j])) for j in cols] for row, cols in zip(probs, best, strict=True)
    ]

"""The user-facing model: texts in, the user's label names out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from bertft.errors import BertftError


class Classifier:
    """A fine-tuned model folder, ready to label texts.

    >>> clf = Classifier.from_pretrained("runs/trec")
    >>> clf.predict(["What is the capital of France?"])
    ['LOC']
    """

    def __init__(self, model, tokenizer, max_length: int = 512, batch_size: int = 64):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size
        config = model.config
        self.labels: list[str] = [config.id2label[i] for i in range(config.num_labels)]

    @classmethod
    def from_pretrained(cls, path: str | Path, **kwargs) -> Classifier:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = Path(path)
        if not (path / "config.json").is_file():
            raise BertftError(
                f"{path}: not a model folder (no config.json); "
                f"point --model at the output folder of `bertft train`"
            )
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSequenceClassification.from_pretrained(path)
        max_length = min(
            getattr(tokenizer, "model_max_length", 512),
            getattr(model.config, "max_position_embeddings", 512),
        )
        return cls(model, tokenizer, max_length=max_length, **kwargs)

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.labels)}

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape (len(texts), len(self.labels)), rows in input order."""
        texts = list(texts)
        probs = np.empty((len(texts), len(self.labels)), dtype=np.float32)
        # Batches of similar lengths pad little; results go back to their input positions.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = self.tokenizer(
                    [texts[i] for i in idx],
                    truncation=True,
                    padding=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                logits = self.model(**batch).logits.float()
                probs[idx] = torch.softmax(logits, dim=-1).numpy()
        return probs

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The most likely label name for each text."""
        return [self.labels[i] for i in self.predict_proba(texts).argmax(axis=-1)]

    def top_k(self, texts: Sequence[str], k: int = 1) -> list[list[tuple[str, float]]]:
        """The k most likely (label, probability) pairs for each text, best first."""
        return self.rank(self.predict_proba(texts), k)

    def rank(self, probs: np.ndarray, k: int = 1) -> list[list[tuple[str, float]]]:
        """`top_k` of probabilities already computed by `predict_proba`."""
        k = min(k, len(self.labels))
        best = np.argsort(-probs, axis=-1, kind="stable")[:, :k]
        return [
            [(self.labels[j], float(row[j])) for j in cols]
            for row, cols in zip(probs, best, strict=True)
        ]

    def positive_index(self, positive_label: str | None = None) -> int:
        """The id of the positive class of a two-label model: `positive_label`, or by default
        the second label (what `evaluate` reports ROC-AUC and the best threshold for)."""
        if len(self.labels) != 2:
            raise BertftError(
                f"a decision threshold needs a binary model; this one has {len(self.labels)} "
                f"labels ({', '.join(self.labels)}): use the most likely label (no --threshold)"
            )
        if positive_label is None:
            return 1
        if positive_label not in self.labels:
            raise BertftError(
                f"--positive_label {positive_label}: not a label of this model "
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
            raise BertftError(f"--threshold must be between 0 and 1, got {threshold}")
        positive = self.positive_index(positive_label)
        negative = 1 - positive
        out = []
        for row in probs:
            chosen = positive if row[positive] >= threshold else negative
            out.append((self.labels[chosen], float(row[chosen])))
        return out

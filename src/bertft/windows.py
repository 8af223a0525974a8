"""Documents -> windows -> documents: how a text longer than the model's window is read.

Pure functions on token id lists, with no tokenizer and no task in them, so that training,
evaluation, the Classifier (PyTorch and ONNX) and the server share one reading of a text:

- `truncate`: the first tokens that fit (what every BERT recipe does);
- `head_tail`: the first `head_fraction` of the window and the last tokens of the text (Sun et
  al. 2019, "How to Fine-Tune BERT for Text Classification?", found head+tail the best single
  window on long reviews);
- `chunk`: consecutive windows overlapping by `stride` tokens, covering the whole text. Training
  sees each window with its document's label (at most `max_windows` of them per document, spread
  evenly, so that one long text does not outweigh many short ones); evaluation and prediction
  pool the windows' logits into one row per document (`pool`), and the task makes its answer
  from that row as from any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

STRATEGIES = ("truncate", "head_tail", "chunk")
POOLINGS = ("mean", "max")
AUTO_SHARE = 0.05  # `auto` chunks when more than this share of the training texts is cut


@dataclass(frozen=True)
class WindowSpec:
    """How texts become model inputs. `max_length` counts the special tokens ([CLS], [SEP])."""

    max_length: int
    strategy: str = "truncate"
    stride: int = 0  # tokens consecutive chunks share
    head_fraction: float = 0.25  # head_tail: share of the window taken from the start
    pooling: str = "mean"  # chunk: how windows' logits become the document's
    max_windows: int | None = None  # chunk, training only: windows kept per document

    def check(self, specials: int = 2) -> None:
        """Raise ValueError naming the setting that cannot work."""
        if self.strategy not in STRATEGIES:
            raise ValueError(f"--long_texts {self.strategy}: choose from {', '.join(STRATEGIES)}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"--chunk_pooling {self.pooling}: choose from {', '.join(POOLINGS)}")
        body = self.max_length - specials
        if body < 2:
            raise ValueError(f"--train_max_length {self.max_length}: leaves no room for text")
        if not 0 <= self.stride < body:
            raise ValueError(
                f"--stride {self.stride}: must be from 0 to {body - 1} (less than the "
                f"{body} text tokens of a {self.max_length}-token window)"
            )
        if not 0.0 <= self.head_fraction <= 1.0:
            raise ValueError(f"--head_fraction {self.head_fraction}: must be between 0 and 1")
        if self.max_windows is not None and self.max_windows < 1:
            raise ValueError(f"--max_windows_per_text {self.max_windows}: must be at least 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Window = tuple[tuple[int, int], ...]  # (start, end) token spans read together as one input


def plan(length: int, body: int, spec: WindowSpec, cap: int | None = None) -> list[Window]:
    """The windows of a text of `length` tokens (special tokens not counted), each reading at
    most `body` tokens. `cap` keeps that many chunks, evenly spread from the first to the last."""
    if length <= body:
        return [((0, length),)]
    if spec.strategy == "truncate":
        return [((0, body),)]
    if spec.strategy == "head_tail":
        head = round(body * spec.head_fraction)
        return [((0, head), (length - (body - head), length))]
    step = body - spec.stride
    starts = list(range(0, length - spec.stride, step))
    # The last window ends at the text's end; it may share more than `stride` with the one before.
    starts[-1] = min(starts[-1], length - body)
    if cap is not None and len(starts) > cap:
        picked = np.linspace(0, len(starts) - 1, cap).round().astype(int)
        starts = [starts[i] for i in sorted(set(picked.tolist()))]
    return [((s, s + body),) for s in starts]


def take(ids: Sequence[int], window: Window) -> list[int]:
    """The token ids one window reads."""
    return [i for start, end in window for i in ids[start:end]]


def tokens_read(windows: list[Window]) -> int:
    """Token positions read by at least one of the windows."""
    covered = end_so_far = 0
    for start, end in sorted(span for w in windows for span in w):
        if end > end_so_far:
            covered += end - max(start, end_so_far)
            end_so_far = end
    return covered


@dataclass
class CutStats:
    """What the window did to a set of texts: how many were longer than it, and how many of
    their tokens no window read."""

    texts: int = 0
    over: int = 0  # texts longer than one window
    tokens: int = 0  # text tokens (special tokens not counted)
    dropped: int = 0  # text tokens in no window
    windows: int = 0
    max_length: int = 0
    strategy: str = ""

    def add(self, length: int, windows: list[Window], body: int) -> int:
        """Count one text of `length` tokens read through `windows` of `body` tokens; returns
        its tokens that no window reads."""
        dropped = length - tokens_read(windows)
        self.texts += 1
        self.over += length > body
        self.tokens += length
        self.dropped += dropped
        self.windows += len(windows)
        return dropped

    @property
    def dropped_share(self) -> float:
        return self.dropped / self.tokens if self.tokens else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "max_length": self.max_length,
            "texts": self.texts,
            "texts_over_window": self.over,
            "windows": self.windows,
            "tokens": self.tokens,
            "tokens_dropped": self.dropped,
            "tokens_dropped_share": round(self.dropped_share, 4),
        }

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> CutStats:
        """The inverse of `as_dict`."""
        return cls(
            texts=saved.get("texts", 0),
            over=saved.get("texts_over_window", 0),
            tokens=saved.get("tokens", 0),
            dropped=saved.get("tokens_dropped", 0),
            windows=saved.get("windows", 0),
            max_length=saved.get("max_length", 0),
            strategy=saved.get("strategy", ""),
        )

    def merge(self, other: CutStats) -> None:
        for name in ("texts", "over", "tokens", "dropped", "windows"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def describe(self, what: str = "texts") -> str:
        """One line for the terminal."""
        line = (
            f"{self.over:,} of {self.texts:,} {what} ({self.over / max(self.texts, 1):.0%}) "
            f"exceed the {self.max_length}-token window; {self.strategy}"
        )
        if self.strategy == "chunk":
            line += f" reads them in {self.windows:,} windows"
        return line + f", {self.dropped_share:.1%} of all tokens dropped"


def pool(logits: np.ndarray, owner: Sequence[int], documents: int, how: str = "mean"):
    """One row per document from one row per window: `owner[i]` is window i's document."""
    owner = np.asarray(owner, dtype=np.int64)
    out = np.zeros((documents, logits.shape[1]), dtype=np.float64)
    if how == "max":
        out.fill(-np.inf)
        np.maximum.at(out, owner, logits)
    else:
        np.add.at(out, owner, logits)
        counts = np.bincount(owner, minlength=documents)
        out /= np.maximum(counts, 1)[:, None]
    return out


def per_text(logits: np.ndarray, label_ids: np.ndarray, positions: np.ndarray, pooling: str):
    """Rows per window (in a set's order) -> rows per text, in text order: the windows of a
    text (`positions[i]` is window i's text) pooled into one row of logits, and its label."""
    texts = int(positions.max()) + 1 if len(positions) else 0
    pooled = pool(np.asarray(logits, dtype=np.float64), positions, texts, pooling)
    labels = np.empty((texts, *label_ids.shape[1:]), dtype=label_ids.dtype)
    labels[positions] = label_ids  # a text's windows all carry its label
    return pooled, labels

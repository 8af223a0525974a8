"""One encoder, saved with the model: how every part of bertft turns texts into model inputs.

The tokenizer plus the window (`WindowSpec`: length, long-text strategy, stride, pooling) and
room for a pair column. Training writes it into the model's `config.json` (key
`bertft_encoder`), which `bertft export` copies into the ONNX folder, so that training,
evaluation, the Classifier, the ONNX backend, the export's parity check and the server read a
text the same way. Model folders made before it existed fall back to the window of their
`train_config.yaml` (else the model's own limit) with `truncate`, and say so.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from bertft.windows import AUTO_SHARE, CutStats, WindowSpec, plan, take

ENCODER_KEY = "bertft_encoder"


@dataclass
class Encoded:
    """Texts as windows: `features` has one row per window, `owner[i]` is the index of the text
    window i belongs to; `stats` says what the window cut."""

    features: dict[str, list[list[int]]]
    owner: list[int]
    documents: int
    stats: CutStats

    def __len__(self) -> int:
        return len(self.owner)

    def rows(self, idx: Sequence[int]) -> dict[str, list[list[int]]]:
        return {k: [v[i] for i in idx] for k, v in self.features.items()}


class TextEncoder:
    """Texts -> windows of token ids, for one tokenizer and one `WindowSpec`."""

    def __init__(self, tokenizer, spec: WindowSpec, pair_column: str | None = None):
        self.tokenizer = tokenizer
        self.spec = spec
        self.pair_column = pair_column  # text pairs (NLI, duplicates): read with `truncate`
        self.prefix, self.suffix = special_tokens(tokenizer)
        try:
            spec.check(len(self.prefix) + len(self.suffix))
        except ValueError as e:
            from bertft.errors import BertftError

            raise BertftError(str(e)) from None
        self.body = spec.max_length - len(self.prefix) - len(self.suffix)
        self.type_ids = "token_type_ids" in tokenizer.model_input_names

    def cap_note(self) -> str:
        """Said next to the training set's counts when chunks are capped."""
        if self.spec.strategy != "chunk" or self.spec.max_windows is None:
            return ""
        return f" (at most {self.spec.max_windows} windows per text: --max_windows_per_text)"

    def to_dict(self) -> dict[str, Any]:
        """What `config.json` keeps under `bertft_encoder`."""
        return {**self.spec.to_dict(), "pair_column": self.pair_column}

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        """Each text's length in tokens, special tokens not counted."""
        return [len(ids) for ids in self._ids(texts)]

    def encode(
        self, texts: Sequence[str], training: bool = False, pairs: Sequence[str] | None = None
    ) -> Encoded:
        """The windows of `texts`. `training` applies the cap on chunks per text."""
        stats = CutStats(max_length=self.spec.max_length, strategy=self.spec.strategy)
        if pairs is not None:
            return self._encode_pairs(texts, pairs, stats)
        cap = self.spec.max_windows if training else None
        ids_of, owner = [], []
        for doc, ids in enumerate(self._ids(texts)):
            windows = plan(len(ids), self.body, self.spec, cap)
            stats.add(len(ids), windows, self.body)
            for window in windows:
                ids_of.append(self.prefix + take(ids, window) + self.suffix)
                owner.append(doc)
        features = {"input_ids": ids_of, "attention_mask": [[1] * len(x) for x in ids_of]}
        if self.type_ids:
            features["token_type_ids"] = [[0] * len(x) for x in ids_of]
        return Encoded(features, owner, len(texts), stats)

    def pad(self, rows: dict[str, list[list[int]]]) -> dict[str, np.ndarray]:
        """A batch of windows padded to its longest, as numpy arrays."""
        return dict(self.tokenizer.pad(rows, return_tensors="np"))

    def _ids(self, texts: Sequence[str]) -> list[list[int]]:
        # verbose=False: the "longer than the maximum length" warning is what we handle here.
        return self.tokenizer(
            list(texts), add_special_tokens=False, truncation=False, verbose=False
        )["input_ids"]

    def _encode_pairs(self, texts, pairs, stats: CutStats) -> Encoded:
        if self.spec.strategy != "truncate":
            from bertft.errors import BertftError

            raise BertftError(
                f"text pairs are read with --long_texts truncate only (got {self.spec.strategy})"
            )
        full = self.tokenizer(list(texts), list(pairs), truncation=False, verbose=False)
        cut = self.tokenizer(
            list(texts), list(pairs), truncation="longest_first", max_length=self.spec.max_length
        )
        specials = len(self.prefix) + len(self.suffix)
        for whole, kept in zip(full["input_ids"], cut["input_ids"], strict=True):
            length = len(whole) - specials
            stats.texts += 1
            stats.over += len(whole) > self.spec.max_length
            stats.tokens += length
            stats.dropped += len(whole) - len(kept)
            stats.windows += 1
        return Encoded(dict(cut), list(range(len(texts))), len(texts), stats)


def special_tokens(tokenizer) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after a single text ([CLS] ... [SEP] for BERT,
    <s> ... </s> for RoBERTa and MPNet), found by tokenizing a word with and without them."""
    bare = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    for start in range(len(full) - len(bare) + 1):
        if full[start : start + len(bare)] == bare:
            return full[:start], full[start + len(bare) :]
    raise ValueError("cannot tell this tokenizer's special tokens from a text's own")


def choose_strategy(lengths: Sequence[int], body: int, max_length: int) -> tuple[str, str]:
    """`--long_texts auto`: chunk when more than AUTO_SHARE of the training texts are longer
    than the window, else truncate. Returns (strategy, why)."""
    over = sum(n > body for n in lengths)
    share = over / max(len(lengths), 1)
    dropped = sum(max(n - body, 0) for n in lengths) / max(sum(lengths), 1)
    facts = (
        f"{over:,} of {len(lengths):,} training texts ({share:.0%}) exceed the {max_length}-token "
        f"window; truncating would drop {dropped:.1%} of all tokens"
    )
    if share > AUTO_SHARE:
        return "chunk", f"{facts}: chunk reads them whole (--long_texts truncate to cut instead)"
    return "truncate", f"{facts}: truncate (--long_texts chunk to read them whole)"


def training_encoder(
    cfg, tokenizer, texts: Sequence[str], say: Callable[[str], None]
) -> tuple[TextEncoder, str]:
    """The encoder of a training run (`cfg`: a TrainConfig), `--long_texts auto` decided from
    its training `texts`, the window capped at the model's limit; and why that strategy."""
    from transformers import AutoConfig

    from bertft.model import resolve_model_path

    limit = model_limit(tokenizer, AutoConfig.from_pretrained(resolve_model_path(cfg.model_id)))
    window = min(cfg.train_max_length, limit)
    if window < cfg.train_max_length:
        say(f"--train_max_length {cfg.train_max_length}: the model reads {limit} tokens at most")

    def spec(strategy: str) -> WindowSpec:
        return replace(cfg.window_spec(strategy), max_length=window)

    if cfg.long_texts != "auto":
        return TextEncoder(tokenizer, spec(cfg.long_texts)), f"--long_texts {cfg.long_texts}"
    probe = TextEncoder(tokenizer, spec("truncate"))
    strategy, why = choose_strategy(probe.token_lengths(texts), probe.body, window)
    return TextEncoder(tokenizer, spec(strategy)), why


def spec_from_config(config, folder: Path | None, tokenizer) -> tuple[WindowSpec, str | None, str]:
    """(window, pair column, note) for a model: what training saved in its config, else the
    fallback for older folders, with a note saying so (empty when saved)."""
    saved = getattr(config, ENCODER_KEY, None)
    if isinstance(saved, dict):
        names = {f.name for f in fields(WindowSpec)}
        return (
            WindowSpec(**{k: v for k, v in saved.items() if k in names}),
            saved.get("pair_column"),
            "",
        )
    limit = model_limit(tokenizer, config)
    window, source = _trained_window(folder), "its train_config.yaml"
    if window is None:
        window, source = limit, "the model's own limit"
    note = (
        f"{folder or 'this model'} has no saved encoder (made before bertft kept one): reading "
        f"texts with truncate at {window} tokens, from {source}"
    )
    return WindowSpec(max_length=min(window, limit)), None, note


def model_limit(tokenizer, config) -> int:
    """The most tokens the model reads at once: its position embeddings, or its tokenizer's
    stated limit when lower (RoBERTa has 514 positions for 512 tokens)."""
    return min(
        getattr(tokenizer, "model_max_length", 512) or 512,
        getattr(config, "max_position_embeddings", 512) or 512,
    )


def _trained_window(folder: Path | None) -> int | None:
    """`train_max_length` of the training run that made `folder` (or its parent, for an ONNX
    export in MODEL/onnx), if it says."""
    if folder is None:
        return None
    import yaml

    for path in (folder / "train_config.yaml", folder.parent / "train_config.yaml"):
        try:
            value = yaml.safe_load(path.read_text(encoding="utf-8")).get("train_max_length")
        except (OSError, ValueError, AttributeError, yaml.YAMLError):
            continue
        if isinstance(value, int) and value > 0:
            return value
    return None


def load_encoder(tokenizer, config, folder: Path | None = None, **overrides) -> TextEncoder:
    """The encoder a model was trained with (`overrides`, e.g. pooling="max", replace fields);
    says on stderr when the folder is older and the fallback is used."""
    spec, pair_column, note = spec_from_config(config, folder, tokenizer)
    if spec.max_length > model_limit(tokenizer, config):  # hand-edited, or another model's
        spec = WindowSpec(**{**spec.to_dict(), "max_length": model_limit(tokenizer, config)})
    if note:
        print(f"bertft: {note}", file=sys.stderr)
    if overrides:
        spec = WindowSpec(**{**spec.to_dict(), **{k: v for k, v in overrides.items() if v}})
    return TextEncoder(tokenizer, spec, pair_column)

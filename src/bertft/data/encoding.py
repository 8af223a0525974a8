"""One encoder, saved with the model: how every part of bertft turns texts into model inputs.

The tokenizer plus the window (`WindowSpec`: length, long-text strategy, stride, pooling) and
the pair column of a model of text pairs. Training writes it into the model's `config.json`
(key `bertft_encoder`), which `bertft export` copies into the ONNX folder, so that training,
evaluation, the Classifier, the ONNX backend, the export's parity check and the server read a
text the same way. A model bertft did not train (no saved encoder) is read with `truncate` at
the model's own limit, and says so.

The window never exceeds what the model can read (`model.max_sequence_length`): this module is
the one place that caps it.

Text pairs are read with `truncate` only: the pair is one input ([CLS] a [SEP] b [SEP]) cut
longest side first, as every pair recipe does. Chunking or head+tail would need a rule for which
side's windows go with which, and nothing shows one is right, so those are refused for pairs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from bertft.data.examples import Examples
from bertft.errors import BertftError
from bertft.model import max_sequence_length
from bertft.windows import AUTO_SHARE, CutStats, WindowSpec, plan, take

ENCODER_KEY = "bertft_encoder"
AUTO_SAMPLE = 50_000  # texts of a big Arrow-backed set that `auto` measures


@dataclass
class Encoded:
    """Texts as windows: `features` has one row per window, `owner[i]` is the index of the text
    window i belongs to; `stats` says what the window cut, and per text `lengths` its tokens
    (special tokens not counted) and `dropped` those no window reads."""

    features: dict[str, list[list[int]]]
    owner: list[int]
    documents: int
    stats: CutStats
    lengths: list[int]
    dropped: list[int]

    def __len__(self) -> int:
        return len(self.owner)

    def rows(self, idx: Sequence[int]) -> dict[str, list[list[int]]]:
        return {k: [v[i] for i in idx] for k, v in self.features.items()}

    def window(self, i: int) -> dict[str, list[int]]:
        """Window i alone: what the server queues, so a long text's windows share batches."""
        return {k: v[i] for k, v in self.features.items()}


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
            raise BertftError(str(e)) from None
        refuse_pairs(pair_column, spec.strategy)
        self.body = spec.max_length - len(self.prefix) - len(self.suffix)
        self.type_ids = "token_type_ids" in tokenizer.model_input_names
        self.pad_id = tokenizer.pad_token_id or 0
        self.pad_left = getattr(tokenizer, "padding_side", "right") == "left"

    def new_stats(self) -> CutStats:
        """Empty counts for this window, to add texts to."""
        return CutStats(max_length=self.spec.max_length, strategy=self.spec.strategy)

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
        """The windows of `texts` (or of the pairs `texts[i]`, `pairs[i]`). `training` applies
        the cap on chunks per text."""
        stats = self.new_stats()
        if pairs is not None:
            return self._encode_pairs(texts, pairs, stats)
        cap = self.spec.max_windows if training else None
        ids_of, owner, lengths, dropped = [], [], [], []
        for doc, ids in enumerate(self._ids(texts)):
            lengths.append(len(ids))
            if len(ids) <= self.body:  # most texts: one window, the whole text
                stats.add(len(ids), [((0, len(ids)),)], self.body)
                dropped.append(0)
                ids_of.append(self.prefix + ids + self.suffix)
                owner.append(doc)
                continue
            windows = plan(len(ids), self.body, self.spec, cap)
            dropped.append(stats.add(len(ids), windows, self.body))
            for window in windows:
                ids_of.append(self.prefix + take(ids, window) + self.suffix)
                owner.append(doc)
        features = {"input_ids": ids_of, "attention_mask": [[1] * len(x) for x in ids_of]}
        if self.type_ids:
            features["token_type_ids"] = [[0] * len(x) for x in ids_of]
        return Encoded(features, owner, len(texts), stats, lengths, dropped)

    def pad(self, rows: dict[str, list[list[int]]]) -> dict[str, np.ndarray]:
        """A batch of windows padded to its longest, as int64 numpy arrays (the tokenizer's
        own `pad` walks Python objects and warns that calling it is slower)."""
        longest = max(len(ids) for ids in rows["input_ids"])
        out = {}
        for key, seqs in rows.items():
            array = np.full((len(seqs), longest), self.pad_id if key == "input_ids" else 0)
            for i, seq in enumerate(seqs):
                if self.pad_left:
                    array[i, longest - len(seq) :] = seq
                else:
                    array[i, : len(seq)] = seq
            out[key] = array.astype(np.int64, copy=False)
        return out

    def _ids(self, texts: Sequence[str]) -> list[list[int]]:
        # verbose=False: the "longer than the maximum length" warning is what we handle here.
        return self.tokenizer(
            list(texts), add_special_tokens=False, truncation=False, verbose=False
        )["input_ids"]

    def _encode_pairs(self, texts, pairs, stats: CutStats) -> Encoded:
        refuse_pairs("the second text", self.spec.strategy)
        # Uncut first, for the counts; then as training reads them: the longer side cut first.
        full = self.tokenizer(list(texts), list(pairs), truncation=False, verbose=False)
        cut = self.tokenizer(
            list(texts), list(pairs), truncation="longest_first", max_length=self.spec.max_length
        )
        specials = self.tokenizer.num_special_tokens_to_add(pair=True)
        lengths, dropped = [], []
        for whole, kept in zip(full["input_ids"], cut["input_ids"], strict=True):
            lengths.append(len(whole) - specials)
            dropped.append(len(whole) - len(kept))
            stats.texts += 1
            stats.over += len(whole) > self.spec.max_length
            stats.tokens += lengths[-1]
            stats.dropped += dropped[-1]
            stats.windows += 1
        names = ("input_ids", "attention_mask", "token_type_ids")
        features = {k: cut[k] for k in names if k in cut}
        owner = list(range(len(texts)))
        return Encoded(features, owner, len(texts), stats, lengths, dropped)


def refuse_pairs(pair_column: str | None, strategy: str) -> None:
    """Text pairs are read with truncate only (see the module's docstring): one line, before
    any work."""
    if pair_column and strategy != "truncate":
        raise BertftError(
            f"--long_texts {strategy}: text pairs (second text from '{pair_column}') are read "
            f"with truncate only, the longer text cut first; use --long_texts truncate or auto"
        )


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
    cfg, tokenizer, examples, say: Callable[[str], None], pair_column: str | None = None
) -> tuple[TextEncoder, str]:
    """The encoder of a training run (`cfg`: a TrainConfig), `--long_texts auto` decided from
    its training `examples` (pairs: truncate), the window capped at the model's limit; and why
    that strategy."""
    from transformers import AutoConfig

    from bertft.model import resolve_model_path

    config = AutoConfig.from_pretrained(resolve_model_path(cfg.model_id))
    limit = max_sequence_length(config, tokenizer)
    window = min(cfg.train_max_length, limit)
    if window < cfg.train_max_length:  # longer inputs would index past the position table
        say(f"train_max_length {cfg.train_max_length} is more than this model takes; using {limit}")

    def spec(strategy: str) -> WindowSpec:
        return replace(cfg.window_spec(strategy), max_length=window)

    if cfg.long_texts != "auto":
        encoder = TextEncoder(tokenizer, spec(cfg.long_texts), pair_column)
        return encoder, f"--long_texts {cfg.long_texts}"
    if pair_column:
        why = "text pairs are read with truncate, the longer text cut first"
        return TextEncoder(tokenizer, spec("truncate"), pair_column), why
    probe = TextEncoder(tokenizer, spec("truncate"))
    texts = _sample_texts(examples)
    strategy, why = choose_strategy(probe.token_lengths(texts), probe.body, window)
    return TextEncoder(tokenizer, spec(strategy)), why


def _sample_texts(examples, most: int = AUTO_SAMPLE) -> list[str]:
    """The training texts `auto` looks at: all of them, or for a big Arrow-backed set (which
    has no `texts` in memory) an even spread of `most`."""
    if isinstance(examples, Examples):
        return list(examples.texts)
    n = len(examples)
    idx = np.linspace(0, n - 1, min(n, most)).round().astype(int) if n else []
    return ["" if t is None else str(t) for t in examples.dataset.select(idx)["text"]]


def spec_from_config(config, folder: Path | None, tokenizer) -> tuple[WindowSpec, str | None, str]:
    """(window, pair column, note) for a model: what training saved in its config, else the
    reading for a model bertft did not train, with a note saying so (empty when saved)."""
    saved = getattr(config, ENCODER_KEY, None)
    if isinstance(saved, dict):
        names = {f.name for f in fields(WindowSpec)}
        return (
            WindowSpec(**{k: v for k, v in saved.items() if k in names}),
            saved.get("pair_column"),
            "",
        )
    limit = max_sequence_length(config, tokenizer)
    note = (
        f"{folder or 'this model'} has no saved encoder (bertft did not train it): reading "
        f"texts with truncate at {limit} tokens, the model's own limit"
    )
    return WindowSpec(max_length=limit), None, note


def load_encoder(tokenizer, config, folder: Path | None = None, **overrides) -> TextEncoder:
    """The encoder a model was trained with (`overrides`, e.g. pooling="max", replace fields);
    says on stderr when the model has none saved (bertft did not train it)."""
    spec, pair_column, note = spec_from_config(config, folder, tokenizer)
    limit = max_sequence_length(config, tokenizer)
    if spec.max_length > limit:  # hand-edited, or another model's
        spec = replace(spec, max_length=limit)
    if note:
        print(f"bertft: {note}", file=sys.stderr)
    if overrides:
        spec = replace(spec, **{k: v for k, v in overrides.items() if v})
    return TextEncoder(tokenizer, spec, pair_column)

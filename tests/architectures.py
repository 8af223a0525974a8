"""Tiny random encoders of the families users bring, built offline, each with a tokenizer laid
out like its real one: where the special tokens sit (RoBERTa pads with 1, ModernBERT with its
last id), whether token_type_ids exist, and RoBERTa-style position offsets.

A word-level vocabulary of the helpers topics keeps the models learnable in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from helpers import FILLER, TOPICS

WORDS = sorted({w for ws in TOPICS.values() for w in ws} | set(FILLER))
HIDDEN, LAYERS, HEADS, FFN, POSITIONS = 64, 2, 2, 128, 64


@dataclass(frozen=True)
class Layout:
    """How a family's tokenizer numbers and places its special tokens."""

    specials: tuple[str, ...]  # ids 0.. in this order (unless `specials_last`)
    cls: str
    sep: str
    pad: str
    unk: str
    mask: str
    token_type_ids: bool
    specials_last: bool = False  # ModernBERT: special tokens after the words


BERT = Layout(("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"), "[CLS]", "[SEP]", "[PAD]", "[UNK]",
              "[MASK]", True)  # fmt: skip
# A BERT tokenizer (MiniLM's, bert-base-uncased's) makes token_type_ids; DistilBERT takes none.
DISTILBERT = BERT
ALBERT = Layout(("<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"), "[CLS]", "[SEP]", "<pad>", "<unk>",
                "[MASK]", True)  # fmt: skip
DEBERTA = Layout(("[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"), "[CLS]", "[SEP]", "[PAD]",
                 "[UNK]", "[MASK]", True)  # fmt: skip
ROBERTA = Layout(("<s>", "<pad>", "</s>", "<unk>", "<mask>"), "<s>", "</s>", "<pad>", "<unk>",
                 "<mask>", False)  # fmt: skip
MODERNBERT = Layout(("[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"), "[CLS]", "[SEP]", "[PAD]",
                    "[UNK]", "[MASK]", False, specials_last=True)  # fmt: skip


def _config(arch: str, vocab: dict[str, int], layout: Layout):
    import transformers as t

    ids = {name: vocab[getattr(layout, name)] for name in ("pad", "cls", "sep")}
    common = dict(vocab_size=len(vocab), pad_token_id=ids["pad"])
    bert_like = dict(
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=FFN,
        max_position_embeddings=POSITIONS,
        **common,
    )
    if arch == "bert":
        return t.BertConfig(**bert_like)
    if arch == "electra":
        return t.ElectraConfig(embedding_size=32, **bert_like)
    if arch == "albert":
        return t.AlbertConfig(embedding_size=32, **bert_like)
    if arch == "distilbert":
        return t.DistilBertConfig(dim=HIDDEN, n_layers=LAYERS, n_heads=HEADS, hidden_dim=FFN,
                                  max_position_embeddings=POSITIONS, **common)  # fmt: skip
    if arch in ("roberta", "xlm-roberta", "mpnet"):
        # Positions start after the pad id, so the table is 2 longer than the usable length
        # (514 for the real base models).
        cls = {"roberta": t.RobertaConfig, "xlm-roberta": t.XLMRobertaConfig,
               "mpnet": t.MPNetConfig}[arch]  # fmt: skip
        extra = {} if arch == "mpnet" else {"type_vocab_size": 1}
        return cls(**{**bert_like, "max_position_embeddings": POSITIONS + 2}, **extra)
    if arch == "deberta-v2":
        # As DeBERTa-v3: relative positions only, no token type embeddings.
        return t.DebertaV2Config(type_vocab_size=0, relative_attention=True,
                                 position_biased_input=False, pos_att_type=["p2c", "c2p"],
                                 position_buckets=32, max_relative_positions=-1,
                                 **bert_like)  # fmt: skip
    if arch == "modernbert":
        return t.ModernBertConfig(
            hidden_size=HIDDEN,
            num_hidden_layers=LAYERS,
            num_attention_heads=HEADS,
            intermediate_size=FFN,
            max_position_embeddings=POSITIONS,
            global_attn_every_n_layers=2,
            local_attention=16,
            cls_token_id=ids["cls"],
            sep_token_id=ids["sep"],
            bos_token_id=ids["cls"],
            eos_token_id=ids["sep"],
            **common,
        )
    raise ValueError(arch)


LAYOUTS = {
    "bert": BERT,
    "distilbert": DISTILBERT,
    "roberta": ROBERTA,
    "xlm-roberta": ROBERTA,
    "deberta-v2": DEBERTA,
    "electra": BERT,
    "modernbert": MODERNBERT,
    "albert": ALBERT,
    "mpnet": ROBERTA,
}
ARCHITECTURES = list(LAYOUTS)
# Train flags beyond helpers.tiny_train_args: ALBERT's single shared layer stalls at learning rate
# 5e-3 on the topics (0.67 validation accuracy after 6 epochs; 1.0 by epoch 2 at 2e-3).
EXTRA_FLAGS = {"albert": ("--learning_rate", "2e-3")}


def _tokenizer(layout: Layout):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tokens = [*WORDS, *layout.specials] if layout.specials_last else [*layout.specials, *WORDS]
    vocab = {w: i for i, w in enumerate(tokens)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=layout.unk))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    cls, sep = layout.cls, layout.sep
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}",
        pair=f"{cls} $A {sep} $B:1 {sep}:1",
        special_tokens=[(cls, vocab[cls]), (sep, vocab[sep])],
    )
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if layout.token_type_ids else [])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token=layout.unk,
        pad_token=layout.pad,
        cls_token=cls,
        sep_token=sep,
        mask_token=layout.mask,
        model_input_names=names,
    )
    return fast, vocab


def build(arch: str, folder: Path, seed: int = 0) -> Path:
    """A tiny random `arch` encoder and its tokenizer, saved in `folder` like a hub model."""
    import torch
    from transformers import AutoModel

    layout = LAYOUTS[arch]
    tokenizer, vocab = _tokenizer(layout)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    AutoModel.from_config(_config(arch, vocab, layout)).save_pretrained(folder)
    return folder

"""Layer-wise learning-rate decay: the classifier head learns at `--learning_rate`, each encoder
layer below it at `--layerwise_lr_decay` times the one above, the embeddings lowest.

Lower layers hold the more general features pre-training taught; moving them less is the idea
(Howard & Ruder 2018; Sun et al. 2019 measured it on BERT text classification). Layers are found
by their parameter names (`encoder.layer.3.`, `transformer.layer.3.`, `layers.3.`), which covers
BERT, RoBERTa, XLM-R, DeBERTa, ELECTRA, DistilBERT, MPNet and ModernBERT. Parameters shared by
every layer (DeBERTa's and MPNet's relative position tables) learn with the head.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bertft.errors import BertftError

_LAYER = re.compile(r"(?:^|\.)layers?\.(\d+)\.")
_EMBEDDINGS = re.compile(r"(?:^|\.)embeddings\.")


def layer_of(name: str) -> int | None:
    """-1 for the embeddings, i for encoder layer i, None for what sits above the layers."""
    if _EMBEDDINGS.search(name):
        return -1
    found = _LAYER.search(name)
    return int(found.group(1)) if found else None


def layerwise_groups(
    named_parameters: Iterable[tuple[str, object]],
    learning_rate: float,
    decay: float,
    weight_decay: float,
    decayed_names: set[str],
    model_name: str = "the model",
    head_scale: float = 1.0,
) -> list[dict]:
    """Optimizer parameter groups, one per (depth, weight decay or not), each with its own
    learning rate: the top (head, pooler) at `learning_rate`, layer i of L at
    `learning_rate * decay ** (L - i)`, the embeddings at `learning_rate * decay ** (L + 1)`.
    `decayed_names` are the parameters AdamW's weight decay applies to (the Trainer's choice:
    not biases and norms). `head_scale` multiplies the top's rate (the few-shot recipe's new
    head learns faster than the pre-trained layers under it)."""
    trainable = [(n, p) for n, p in named_parameters if p.requires_grad]
    layers = {n: layer_of(n) for n, _ in trainable}
    count = 1 + max((i for i in layers.values() if i is not None), default=-1)
    if count == 0:
        raise BertftError(
            f"--layerwise_lr_decay: found no numbered encoder layers in {model_name}'s "
            "parameter names (ALBERT, for one, shares a single layer); leave it at 1"
        )
    groups: dict[tuple[int, bool], dict] = {}
    for name, parameter in trainable:
        # 0 the embeddings, i + 1 layer i, count + 1 the head and pooler.
        depth = count + 1 if layers[name] is None else layers[name] + 1
        decayed = name in decayed_names
        group = groups.setdefault(
            (depth, decayed),
            {
                "params": [],
                "lr": learning_rate
                * decay ** (count + 1 - depth)
                * (head_scale if depth == count + 1 else 1.0),
                "weight_decay": weight_decay if decayed else 0.0,
            },
        )
        group["params"].append(parameter)
    return [groups[key] for key in sorted(groups)]

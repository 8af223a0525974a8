"""Text Embeddings Inference's /predict format: {"inputs": ..., "truncate", "raw_scores"}.

"inputs": a string (one input: the answer is its ranked label list), or a batch: a list of
[text] / [text, text_pair] lists (the answer is one ranked list per input). Every label is
ranked, as TEI does; "raw_scores": true gives the logits. Where TEI reads a flat list of two
strings as one pair, here a flat list of strings is a batch of texts unless the model reads
pairs (a model of one text has no use for a pair, and the Hugging Face format's batches look
the same); send [[text, text_pair]] to say "a pair" in any case.
"""

from __future__ import annotations

from typing import Any

from bertft.serving.codecs.base import (
    Context,
    Decoded,
    Item,
    Options,
    RequestError,
    check_items,
    item_of,
    items_of,
    kind,
    unknown_fields,
)

FIELDS = {"inputs", "truncate", "raw_scores", "truncation_direction"}


def claims(payload: Any) -> bool:
    return isinstance(payload, dict) and "inputs" in payload and "parameters" not in payload


def decode(payload: dict, ctx: Context) -> Decoded:
    unknown_fields(
        payload, FIELDS, 'inputs, truncate, raw_scores (or "parameters" in the Hugging Face format)'
    )
    options = Options(
        top_k=None,
        function="none" if _flag(payload, "raw_scores", False) else None,
        truncate=_flag(payload, "truncate", True),
    )
    direction = payload.get("truncation_direction", "Right")
    if direction not in ("Right", "right"):
        raise RequestError(422, f'"truncation_direction" {direction!r}: only Right is supported')
    items, single = _inputs(payload["inputs"], ctx)
    layout = (lambda a: a[0]) if single else list
    return Decoded(check_items(items, '"inputs"', ctx), options, layout=layout, ranked=True)


def _inputs(value: Any, ctx: Context) -> tuple[list[Item], bool]:
    if isinstance(value, (str, dict)):
        return [item_of(value, '"inputs"', ctx)], True
    if not isinstance(value, list):
        raise RequestError(422, f'"inputs" must be a string or a list, got {kind(value)}')
    if ctx.takes_pairs and len(value) == 2 and all(isinstance(v, str) for v in value):
        return [item_of(value, '"inputs"', ctx)], True  # TEI's pair
    return items_of(value, '"inputs"', ctx), False


def _flag(payload: dict, name: str, default: bool) -> bool:
    value = payload.get(name, default)
    if not isinstance(value, bool):
        raise RequestError(422, f'"{name}" must be true or false, got {kind(value)}')
    return value

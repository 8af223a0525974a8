"""The Hugging Face inference format: {"inputs": ..., "parameters": {...}}, as the Inference API,
the inference toolkit and `huggingface_hub.InferenceClient.text_classification` speak it.

"inputs": a string, a pair {"text", "text_pair"}, or a list of those. "parameters": top_k
(default: every label), function_to_apply (softmax, sigmoid, none) and truncation. The answer is
one ranked list of {"label", "score"} per input, in a list, even for one string: that is what
the Inference API answers and what InferenceClient reads (it takes the first list).
"""

from __future__ import annotations

from typing import Any

from bertft.serving.codecs.base import (
    FUNCTIONS,
    Context,
    Decoded,
    Options,
    RequestError,
    check_items,
    item_of,
    items_of,
    kind,
    top_k_of,
    unknown_fields,
)

PARAMETERS = {"top_k", "function_to_apply", "truncation"}
# transformers' truncation strategies; all but do_not_truncate cut the input to fit
TRUNCATION = ("longest_first", "only_first", "only_second", "do_not_truncate")


def claims(payload: Any) -> bool:
    return isinstance(payload, dict) and "inputs" in payload and "parameters" in payload


def decode(payload: dict, ctx: Context) -> Decoded:
    unknown_fields(payload, {"inputs", "parameters"}, "inputs, parameters")
    options = parameters(payload["parameters"], ctx)
    value = payload["inputs"]
    if isinstance(value, list):
        items = items_of(value, '"inputs"', ctx)
    else:
        items = [item_of(value, '"inputs"', ctx, lists_are_pairs=False)]
    return Decoded(check_items(items, '"inputs"', ctx), options, layout=list, ranked=True)


def parameters(value: Any, ctx: Context) -> Options:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise RequestError(422, f'"parameters" must be an object, got {kind(value)}')
    unknown = sorted(set(value) - PARAMETERS)
    if unknown:
        raise RequestError(
            422,
            f"unknown parameter(s) {', '.join(unknown)}; expected {', '.join(sorted(PARAMETERS))}",
        )
    top_k = value.get("top_k")
    if top_k is not None:
        top_k = min(top_k_of(top_k, '"parameters.top_k"'), len(ctx.labels))
    function = value.get("function_to_apply")
    if function is not None and function not in FUNCTIONS:
        raise RequestError(
            422,
            f'"parameters.function_to_apply" must be one of {", ".join(FUNCTIONS)}, '
            f"got {function!r}",
        )
    truncation = value.get("truncation", True)
    if isinstance(truncation, str) and truncation in TRUNCATION:
        truncation = truncation != "do_not_truncate"
    if not isinstance(truncation, bool):
        raise RequestError(
            422, f'"parameters.truncation" must be true, false or one of {", ".join(TRUNCATION)}'
        )
    return Options(top_k=top_k, function=function, truncate=truncation)

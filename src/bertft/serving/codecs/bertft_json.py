"""bertft's own JSON: {"text": ...} -> {"label", "score"}; {"texts": [...]} -> {"predictions"}.

A text may come with its pair ({"text": ..., "text_pair": ...}; in "texts", an item may be
{"text", "text_pair"}). A bare JSON string or array (what the SageMaker SDK's JSONSerializer
sends for a string or a list) reads as "text" or "texts".
"""

from __future__ import annotations

from typing import Any

from bertft.serving.codecs.base import (
    Context,
    Decoded,
    Options,
    RequestError,
    check_items,
    items_of,
    kind,
    pair_item,
    top_k_of,
    unknown_fields,
)

FIELDS = {"text", "text_pair", "texts", "top_k"}


def claims(payload: Any) -> bool:
    """Whether a decoded JSON body is in this format (the others have "inputs")."""
    return not (isinstance(payload, dict) and "inputs" in payload)


def decode(payload: Any, ctx: Context) -> Decoded:
    if isinstance(payload, str):
        payload = {"text": payload}
    elif isinstance(payload, list):
        payload = {"texts": payload}
    if not isinstance(payload, dict):
        raise RequestError(
            422, f'expected a JSON object like {{"text": "..."}}, got {kind(payload)}'
        )
    keys = [k for k in ("text", "texts") if k in payload]
    if len(keys) != 1:
        raise RequestError(
            422,
            'give exactly one of "text" (a string), "texts" (a list of strings) or "inputs"',
        )
    unknown_fields(payload, FIELDS, "text/texts, text_pair, top_k")
    top_k = top_k_of(payload["top_k"], '"top_k"') if "top_k" in payload else 1
    options = Options(top_k=min(top_k, len(ctx.labels)))
    if keys[0] == "text":
        item = pair_item(payload["text"], payload.get("text_pair"), '"text"', ctx)
        return Decoded(check_items([item], '"text"', ctx), options, layout=lambda a: a[0])
    if "text_pair" in payload:
        raise RequestError(422, '"text_pair" goes with "text"; in "texts" give pair objects')
    value = payload["texts"]
    if not isinstance(value, list):
        raise RequestError(422, f'"texts" must be a list of strings, got {kind(value)}')
    items = items_of(value, '"texts"', ctx)
    return Decoded(check_items(items, '"texts"', ctx), options, layout=lambda a: {"predictions": a})

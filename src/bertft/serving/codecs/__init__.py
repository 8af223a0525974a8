"""Client formats: a request body -> `Decoded` (by content type, then by the JSON payload's
shape), and the answers -> a body in the type the client accepts.

| content type            | formats                                                     |
| ----------------------- | ----------------------------------------------------------- |
| application/json        | bertft's own, Hugging Face (inputs + parameters), TEI       |
| application/jsonlines   | one input a line                                            |
| text/csv                | one text (or pair) a row                                    |
| text/plain              | one text a line                                             |

Answers: application/json (the request format's own layout), application/jsonlines (one
answer a line) or text/csv (label,score a row), chosen by the Accept header.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from bertft.serving.codecs import bertft_json, hf, lines, tei
from bertft.serving.codecs.base import Context, Decoded, Item, Options, RequestError
from bertft.tasks import best_answer, label_scores, ranked

JSON, JSONLINES, CSV, PLAIN = "application/json", "application/jsonlines", "text/csv", "text/plain"
# Other names clients use for the same types.
ALIASES = {
    "application/x-jsonlines": JSONLINES,
    "application/jsonl": JSONLINES,
    "application/x-ndjson": JSONLINES,
}
REQUEST_TYPES = (JSON, JSONLINES, CSV, PLAIN)
ANSWER_TYPES = (JSON, JSONLINES, CSV)
JSON_FORMATS = (hf, tei, bertft_json)  # first that claims the payload decodes it

__all__ = [
    "ANSWER_TYPES",
    "REQUEST_TYPES",
    "Context",
    "Decoded",
    "Item",
    "Options",
    "RequestError",
    "accepted_type",
    "check_content_type",
    "decode",
    "encode",
    "media_type",
]


def media_type(header: str | None, default: str = JSON) -> str:
    """The bare media type of a Content-Type header, lower-case, aliases resolved."""
    if not header:
        return default
    name = header.split(";", 1)[0].strip().lower()
    return ALIASES.get(name, name)


def check_content_type(content_type: str) -> None:
    """415 for a type no codec reads: before the body is read."""
    if content_type not in REQUEST_TYPES:
        raise RequestError(
            415,
            f"content type {content_type}: send one of {', '.join(REQUEST_TYPES)}",
            "unsupported_media_type",
        )


def decode(body: bytes, content_type: str, ctx: Context) -> Decoded:
    """The request body of `content_type` (a bare media type) as inputs and options."""
    check_content_type(content_type)
    if content_type == JSON:
        payload = _json(body)
        fmt = next(f for f in JSON_FORMATS if f.claims(payload))
        return fmt.decode(payload, ctx)
    if content_type == JSONLINES:
        return lines.decode_jsonlines(body, ctx)
    if content_type == CSV:
        return lines.decode_csv(body, ctx)
    return lines.decode_plain(body, ctx)


def accepted_type(header: str | None, content_type: str) -> str:
    """The answer's type from the Accept header: the first supported type listed (quality
    values are not weighed); the request's own type (JSON for plain text) when it accepts
    anything."""
    own = content_type if content_type in ANSWER_TYPES else JSON
    if not header:
        return own
    for part in header.split(","):
        name = media_type(part, "")
        if name in ANSWER_TYPES:
            return name
        if name in ("*/*", "application/*") or (name == "text/*" and own == CSV):
            return own
    raise RequestError(
        406, f"Accept {header}: answers come as {', '.join(ANSWER_TYPES)}", "not_acceptable"
    )


def encode(
    decoded: Decoded, scores: np.ndarray, labels: list[str], accept: str, task=None
) -> bytes:
    """The answers for `scores` (one row per input) as a body of type `accept`. bertft's own
    answers of a multi-label or regression model come from its task, in `bertft predict`'s
    shapes ({"labels", "scores"}, {"value", "score"})."""
    top_k = decoded.options.top_k
    if accept == CSV:
        if task is not None and task.answer_key != "label":
            return lines.encode_task_csv(task.answers(scores, top_k or 1))
        return lines.encode_csv(scores, labels, top_k)
    if decoded.ranked:  # the Hugging Face and TEI formats: a ranked label list per input
        per_input = [label_scores(best) for best in ranked(scores, labels, top_k)]
    elif task is not None and task.answer_key != "label":
        per_input = task.answers(scores, top_k or 1)
    else:  # scores of the asked function, ranked as the task ranks its own
        per_input = [best_answer(best) for best in ranked(scores, labels, top_k)]
    if accept == JSONLINES:
        return lines.encode_jsonlines(per_input)
    return json.dumps(decoded.layout(per_input)).encode()


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as e:
        raise RequestError(400, f"body is not valid JSON: {e}") from None

"""Line formats, for SageMaker batch transform and plain files: JSON Lines (one input a line, one
answer a line, in order), CSV (one text a row; two columns for a pair when the model reads
pairs; no header) and plain text (one text a line).

A JSON line is a string, {"text"[, "text_pair"]}, {"inputs": ...} or [text, text_pair]. CSV
follows RFC 4180: a text holding a comma, quote or line break is quoted. The SageMaker SDK's
CSVSerializer writes a list of strings one a line unquoted, so a text with a comma reads as two
columns and is refused with its row number (send it as [[text]], which the serializer quotes).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np

from bertft.serving.codecs.base import (
    Context,
    Decoded,
    Options,
    RequestError,
    check_items,
    item_of,
)
from bertft.tasks import label_scores, ranked


def text_of(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RequestError(400, f"body is not UTF-8 text: {e}") from None


def decode_jsonlines(body: bytes, ctx: Context) -> Decoded:
    items = []
    for number, line in _lines(text_of(body), ctx):
        try:
            value = json.loads(line)
        except ValueError as e:
            raise RequestError(400, f"line {number} is not valid JSON: {e}") from None
        if isinstance(value, dict) and "inputs" in value:
            extra = sorted(set(value) - {"inputs"})
            if extra:
                raise RequestError(
                    422, f'line {number}: unknown field(s) {", ".join(extra)} beside "inputs"'
                )
            value = value["inputs"]
        items.append(item_of(value, f"line {number}", ctx))
    return Decoded(check_items(items, "the body", ctx), Options(), layout=_predictions)


def decode_csv(body: bytes, ctx: Context) -> Decoded:
    items = []
    rows = csv.reader(io.StringIO(text_of(body), newline=""))
    try:
        for row in rows:
            if not any(field.strip() for field in row):
                continue
            _count(len(items) + 1, ctx)
            where = f"row {rows.line_num}"
            if len(row) == 1:
                items.append(item_of(row[0], where, ctx))
            elif len(row) == 2 and ctx.takes_pairs:
                items.append(item_of(row, where, ctx))
            else:
                wanted = "two (text, text_pair)" if ctx.takes_pairs else "one (the text)"
                raise RequestError(
                    400,
                    f"{where} has {len(row)} columns; this model reads {wanted} a row: "
                    "quote a text holding commas",
                )
    except csv.Error as e:
        raise RequestError(400, f"row {rows.line_num} is not valid CSV: {e}") from None
    return Decoded(check_items(items, "the body", ctx), Options(), layout=_predictions)


def decode_plain(body: bytes, ctx: Context) -> Decoded:
    items = [item_of(line, f"line {n}", ctx) for n, line in _lines(text_of(body), ctx)]
    return Decoded(check_items(items, "the body", ctx), Options(), layout=_predictions)


def encode_jsonlines(answers: list[Any]) -> bytes:
    return "".join(json.dumps(a) + "\n" for a in answers).encode()


def encode_csv(rows: np.ndarray, labels: list[str], top_k: int | None) -> bytes:
    """label,score per input (label,score,label,score,... for several labels)."""
    return _csv(
        [v for answer in label_scores(best) for v in answer.values()]
        for best in ranked(rows, labels, top_k)
    )


def encode_task_csv(answers: list[dict[str, Any]]) -> bytes:
    """A multi-label model's answers as `a|b,label,score,label,score...` (its labels as
    `bertft predict` writes them to CSV, then every label's probability, best first); a
    regression model's as its value, then its interval's low and high where it has one."""
    return _csv(_task_cells(answer) for answer in answers)


def _task_cells(answer: dict[str, Any]) -> list[Any]:
    if "labels" in answer:
        scores = [v for name, score in answer["scores"].items() for v in (name, score)]
        return ["|".join(answer["labels"]), *scores]
    return [answer["value"], *answer.get("interval", ())]


def _csv(rows) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def _lines(text: str, ctx: Context):
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    _count(len(numbered), ctx)
    return numbered


def _count(n: int, ctx: Context) -> None:
    if n > ctx.max_batch_texts:
        raise RequestError(413, f"more than {ctx.max_batch_texts} inputs in one request")


def _predictions(answers: list[Any]) -> dict[str, Any]:
    return {"predictions": answers}

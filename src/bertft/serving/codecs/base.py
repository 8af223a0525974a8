"""What every client format shares: one input (a text or a pair), the options of a request, the
decoded request, and the checks every input gets before it reaches the model.

A codec turns a request body into a `Decoded` (its inputs, options and how to lay the answers
out) and answers back into a body. The routes only call decode -> batch -> predict -> encode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

FUNCTIONS = ("softmax", "sigmoid", "none")  # function_to_apply, as transformers' pipeline


class RequestError(Exception):
    """A bad request: answered with `status` and `message`, never reaching the model."""

    def __init__(self, status: int, message: str, error_type: str = "validation"):
        super().__init__(message)
        self.status, self.message, self.error_type = status, message, error_type


@dataclass(frozen=True)
class Item:
    """One input: a text, or a pair of texts for a model trained on pairs."""

    text: str
    text_pair: str | None = None


@dataclass(frozen=True)
class Options:
    """How to answer. `top_k` None: every label, best first. `function` None: the model's own
    (softmax over its labels); "none" gives raw logits (TEI's raw_scores). `truncate` False:
    refuse inputs longer than the model reads rather than cut them."""

    top_k: int | None = 1
    function: str | None = None
    truncate: bool = True


@dataclass(frozen=True)
class Context:
    """What a codec needs to know of the model and the server's limits."""

    labels: list[str]
    takes_pairs: bool = False
    max_text_chars: int = 10_000
    max_batch_texts: int = 256


Layout = Callable[[list[Any]], Any]  # per-input answers -> the JSON body of the format


@dataclass
class Decoded:
    """A decoded request: its inputs, options, and how its format lays out the answers
    (`ranked`: the format's answer of one input is the ranked label list rather than
    bertft's answer object)."""

    items: list[Item]
    options: Options = field(default_factory=Options)
    layout: Layout = list
    ranked: bool = False


def kind(value: Any) -> str:
    """How a JSON value is named in messages."""
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
        int: "a number",
        float: "a number",
    }.get(type(value), "a value")


def check_text(text: Any, where: str, ctx: Context) -> str:
    if not isinstance(text, str):
        raise RequestError(422, f"{where} must be a string, got {kind(text)}")
    if not text.strip():
        raise RequestError(422, f"{where} is empty")
    if len(text) > ctx.max_text_chars:
        raise RequestError(
            413, f"{where} has {len(text)} characters; the limit is {ctx.max_text_chars}"
        )
    return text


def item_of(value: Any, where: str, ctx: Context, lists_are_pairs: bool = True) -> Item:
    """One input from a string, {"text", "text_pair"} (the Hugging Face pipeline's pair) or, when
    `lists_are_pairs`, TEI's [text] / [text, text_pair]."""
    if isinstance(value, str):
        return Item(check_text(value, where, ctx))
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"text", "text_pair"})
        if "text" not in value or unknown:
            raise RequestError(
                422,
                f'{where} must be a string or {{"text": ..., "text_pair": ...}}'
                + (f"; unknown field(s) {', '.join(unknown)}" if unknown else ""),
            )
        pair = value.get("text_pair")
        return pair_item(value["text"], pair, where, ctx)
    if lists_are_pairs and isinstance(value, list) and len(value) in (1, 2):
        return pair_item(value[0], value[1] if len(value) == 2 else None, where, ctx)
    raise RequestError(
        422, f"{where} must be a string, a [text, text_pair] list or an object, got {kind(value)}"
    )


def pair_item(text: Any, pair: Any, where: str, ctx: Context) -> Item:
    if pair is None:
        return Item(check_text(text, where, ctx))
    text = check_text(text, f"{where} text", ctx)
    if not ctx.takes_pairs:
        raise RequestError(
            422, f"{where} is a pair of texts, but this model reads one text; send the text alone"
        )
    return Item(text, check_text(pair, f"{where} text_pair", ctx))


def check_count(count: int, name: str, ctx: Context) -> None:
    """At least one input, at most --max_batch_texts: checked before each input is read."""
    if not count:
        raise RequestError(422, f"{name} is empty; send at least one text")
    if count > ctx.max_batch_texts:
        raise RequestError(
            413, f"{count} inputs in one request; the limit is {ctx.max_batch_texts}"
        )


def items_of(values: list, name: str, ctx: Context) -> list[Item]:
    """A JSON list of inputs: counted before any is read, each named by its index in errors."""
    check_count(len(values), name, ctx)
    return [item_of(v, f"{name}[{i}]", ctx) for i, v in enumerate(values)]


def check_items(items: list[Item], name: str, ctx: Context) -> list[Item]:
    """The count limits, and both texts of every input for a model trained on pairs."""
    check_count(len(items), name, ctx)
    if ctx.takes_pairs:
        for i, item in enumerate(items):
            if item.text_pair is None:
                where = name if len(items) == 1 else f"{name}[{i}]"
                raise RequestError(
                    422,
                    f"{where} is one text, but this model reads pairs: "
                    'send {"text": ..., "text_pair": ...}',
                )
    return items


def top_k_of(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RequestError(422, f"{where} must be an integer of at least 1, got {value!r}")
    return value


def unknown_fields(payload: dict, allowed: set[str], expected: str) -> None:
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise RequestError(422, f"unknown field(s) {', '.join(unknown)}; expected {expected}")

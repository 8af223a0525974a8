"""One cell rule for every reader: a cell is the text the file holds.

Training, evaluate, the Arrow path and predict all turn a record's values into texts and labels
here, so that the model is asked about the texts it learnt from: a CSV cell `3.0` or `007` stays
`"3.0"` and `"007"`; a JSON or Parquet number is written as Python writes it (`3`, `3.0`, `2.5`);
a missing value (null, a NaN, an empty CSV cell) is the empty text. A label is a class name: a
whole float label (3.0) is the class "3", as it always was. Lists and mappings are not
texts: str() would hide them as "['a', 'b']".
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

from bertft.errors import BertftError


def is_missing(value: Any) -> bool:
    """None, or a NaN (pandas writes a missing number as NaN)."""
    return value is None or (isinstance(value, float) and value != value)


def is_scalar(value: Any) -> bool:
    """A string, a number, a boolean, or missing: what a cell may hold."""
    return is_missing(value) or isinstance(value, str | numbers.Number)


def cell(value: Any) -> str:
    """A scalar cell as its text; missing is empty."""
    if is_missing(value):
        return ""
    if isinstance(value, str):
        return value
    if hasattr(value, "item"):  # a numpy scalar, as its Python value
        value = value.item()
    return str(value)


def field(record: dict[str, Any], column: str, origin: str, row: str) -> Any:
    """The value of `column` in a record; a record without it (a JSON object that lacks the key)
    is refused, in every format and for every stage alike."""
    try:
        return record[column]
    except KeyError:
        raise BertftError(f"{origin}, {row}: no '{column}' field") from None


def text_cell(record: dict[str, Any], column: str, origin: str, row: str) -> str:
    value = field(record, column, origin, row)
    if isinstance(value, str):
        return value
    if not is_scalar(value):
        raise BertftError(
            f"{origin}, {row}, column '{column}': expected a text, got {type(value).__name__}"
        )
    return cell(value)


def label_cell(record: dict[str, Any], column: str, origin: str, row: str) -> str | tuple[str, ...]:
    """A label: a string as the file holds it, or a tuple of strings where the cell holds a list
    (JSON, Parquet, a datasets Sequence). A mapping, or a list holding more than names, is
    refused: str() would make it a class."""
    value = field(record, column, origin, row)
    if isinstance(value, str):
        return value
    items = value.tolist() if hasattr(value, "tolist") and not is_scalar(value) else value
    if isinstance(items, list | tuple):
        if all(is_scalar(x) for x in items):
            return tuple(_label_text(x) for x in items)
        inner = next(type(x).__name__ for x in items if not is_scalar(x))
        got = f"a list holding a {inner}"
    elif is_scalar(value):
        return _label_text(value)
    else:
        got = type(value).__name__
    raise BertftError(
        f"{origin}, {row}, column '{column}': expected a label (a string, a number, or a list "
        f"of strings for multi-label), got {got}"
    )


def _label_text(value: Any) -> str:
    """A label as a class name: a whole float is the whole number (pandas and Arrow hold a
    column of integer labels with a missing value as floats, 3.0 for 3), as every reader has
    named such labels; other cells as `cell`."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return cell(value)


def label_kind(value: Any) -> str | None:
    """Which kind of single label a cell holds: "string", "number" or "boolean" (None: missing,
    blank or a list). Only JSON can mix them in one column; CSV cells are all strings and typed
    formats (Parquet, datasets) hold one type a column."""
    if isinstance(value, str):
        return "string" if value.strip() else None
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "boolean"
    if isinstance(value, numbers.Number) and not is_missing(value):
        return "number"
    return None


def first_two_kinds(
    values: list, kind_of: Callable[[Any], str | None]
) -> tuple[tuple[str, int], tuple[str, int]] | None:
    """The first value of the first kind and the first of a second kind, (kind, index) each, or
    None when `values` hold one kind (`kind_of` None: a missing value, of no kind)."""
    first: dict[str, int] = {}
    for i, value in enumerate(values):
        kind = kind_of(value)
        if kind is not None:
            first.setdefault(kind, i)
            if len(first) > 1:
                (kind_a, a), (kind_b, b) = first.items()
                return (kind_a, a), (kind_b, b)
    return None
